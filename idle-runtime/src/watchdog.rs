//! The watchdog: decides that the server has been idle for `timeout`.
//!
//! It never polls on a fixed tick. Each turn it reads the tracker once and
//! sleeps until the earliest moment the server could be idle for `timeout`:
//!
//! - nothing running: `last activity + timeout`. If that moment has passed,
//!   the server is idle and the watchdog returns.
//! - something running: `now + timeout`, because an activity that is still
//!   running cannot end before now, so no deadline can be earlier. This is one
//!   wake-up per `timeout` while busy, however many requests arrive, and the
//!   request path never touches a timer.
//!
//! When it wakes it recomputes the deadline from a fresh reading, so activity
//! that happened during the sleep simply moves the next wake-up.
//!
//! One kind of activity ends without restarting the idle clock: an accepted
//! connection that closes without a request or whose first request is
//! ignored. Such an end can bring the deadline earlier than `now + timeout`,
//! so while busy the watchdog also wakes when a silent end leaves nothing
//! running. The exit
//! therefore happens at `last activity + timeout` itself (plus the timer's
//! millisecond granularity), not up to a poll interval later.
//!
//! With the adaptive timeout, [`serve`](crate::serve()) runs the same loop with
//! the timeout in force read afresh each turn. It changes only when an idle
//! gap ends (once per gap, never per request), and a change also wakes the
//! watchdog, which replans with the new value: a shorter timeout can bring
//! the deadline earlier than the wake-up planned with the old one.
//!
//! [`serve`](crate::serve()) runs its timers (this loop, and the maximum
//! lifetime) on a thread of their own, off the server's runtime (`TimerThread`).
//!
//! [`Tracker::wait_idle`] is defined here, not in `tracker/mod.rs`: the watchdog
//! reads the tracker (its word, its clock, its wake-ups), and the tracker
//! knows nothing of the watchdog.

use std::future::Future;
use std::io;
use std::time::Duration;

use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::sleep_until;

use crate::state::{decide, Decision};
use crate::tracker::millis_ceil;
use crate::Tracker;

impl Tracker {
    /// Resolves once the tracker has been idle for `timeout` without
    /// interruption.
    ///
    /// This is the watchdog: it sleeps until the current deadline
    /// (`last activity + timeout`), then looks again; it never polls on a
    /// fixed tick. While something runs it wakes once per `timeout` (the
    /// request path never touches a timer), and each time it wakes it
    /// recomputes the deadline from a fresh reading, so it resolves at
    /// `last activity + timeout` itself, not up to a poll interval later.
    ///
    /// # Examples
    ///
    /// The shutdown signal of another server, such as `axum::serve`:
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use idle_runtime::{ActivityLayer, Tracker};
    ///
    /// # async fn example(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    /// let tracker = Tracker::new();
    /// let app = axum::Router::new().layer(ActivityLayer::new(tracker.clone()));
    /// axum::serve(listener, app)
    ///     .with_graceful_shutdown(async move { tracker.wait_idle(Duration::from_secs(30)).await })
    ///     .await
    /// # }
    /// ```
    pub async fn wait_idle(&self, timeout: Duration) {
        wait_until_idle(self, Some(timeout)).await;
    }
}

/// [`Tracker::wait_idle`] with the tracker's timeout in force, which may
/// change while it waits (the adaptive timeout).
pub(crate) async fn wait_idle_in_force(tracker: &Tracker) {
    wait_until_idle(tracker, None).await;
}

/// The watchdog's loop: with `fixed`, or else with the timeout in force,
/// whose changes wake it so that it replans.
async fn wait_until_idle(tracker: &Tracker, fixed: Option<Duration>) {
    loop {
        let changed = tracker.timeout_changed();
        tokio::pin!(changed);
        let timeout = match fixed {
            Some(timeout) => timeout,
            None => {
                // Registered before the timeout is read, so that a change
                // between the read and the sleep still wakes us.
                changed.as_mut().enable();
                tracker.timeout_in_force()
            }
        };
        let changed = async {
            match fixed {
                Some(_) => std::future::pending().await,
                None => changed.await,
            }
        };
        tokio::pin!(changed);
        let state = tracker.state();
        match decide(state, tracker.now_ms_floor(), millis_ceil(timeout)) {
            Decision::Idle => return,
            Decision::WakeAt(millis) if state.active > 0 => {
                tokio::select! {
                    () = sleep_until(tracker.instant_at(millis)) => {}
                    () = tracker.silent_zero() => {}
                    () = &mut changed => {}
                }
            }
            Decision::WakeAt(millis) => {
                tokio::select! {
                    () = sleep_until(tracker.instant_at(millis)) => {}
                    () = &mut changed => {}
                }
            }
            // A timeout beyond the clock's range never expires (unless the
            // timeout in force changes).
            Decision::Never => changed.await,
        }
    }
}

/// Whether the server is idle now, with the timeout in force: what
/// [`wait_idle_in_force`] returns on, read again by whoever acts on it.
pub(crate) fn is_idle_now(tracker: &Tracker) -> bool {
    let timeout_ms = millis_ceil(tracker.timeout_in_force());
    decide(tracker.state(), tracker.now_ms_floor(), timeout_ms) == Decision::Idle
}

/// Where the server's own timers run: the watchdog and the maximum
/// lifetime.
pub(crate) enum Timers {
    /// On a thread of their own ([`TimerThread`]): under a multi-thread
    /// runtime, as `#[idle_server]` builds.
    Thread(TimerThread),
    /// On the server's runtime: a current-thread runtime, whose clock may be
    /// paused (tokio's `test-util`), and the timers must read the clock the
    /// tracker reads; or no timer is needed at all.
    Runtime,
}

impl Timers {
    /// The place for the timers of a server running on the current runtime;
    /// `needed`: whether any timer will run.
    pub(crate) async fn for_current_runtime(needed: bool) -> io::Result<Self> {
        match Handle::current().runtime_flavor() {
            RuntimeFlavor::CurrentThread => Ok(Timers::Runtime),
            _ if !needed => Ok(Timers::Runtime),
            _ => Ok(Timers::Thread(TimerThread::start().await?)),
        }
    }

    /// Runs `future` where the timers run; await the handle from anywhere.
    pub(crate) fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self {
            Timers::Thread(thread) => thread.handle.spawn(future),
            Timers::Runtime => tokio::spawn(future),
        }
    }
}

/// A thread with a current-thread tokio runtime (timers only), for the
/// server's own timers.
///
/// They live off the server's runtime for two reasons. An armed timer in the
/// server's timer wheel is looked at every time a worker parks: in a
/// benchmark of sequential requests (one park per request) it cost 190
/// instructions per request, 1.4 % of a whole request. And nothing the
/// server's runtime does (workers blocked by a handler, a flood of tasks)
/// can delay the watchdog's decision; the accept loop acts on it as soon as
/// it runs, after checking it again ([`is_idle_now`]).
///
/// The thread ends when this value is dropped; tasks still on it are
/// cancelled.
pub(crate) struct TimerThread {
    handle: Handle,
    _stop: oneshot::Sender<()>,
}

impl TimerThread {
    /// Starts the thread. Its runtime is built on the thread itself, so that
    /// nothing of it is dropped here (in an async context) if starting fails.
    async fn start() -> io::Result<Self> {
        let (ready, started) = oneshot::channel::<io::Result<Handle>>();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("idle-timers".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build();
                match runtime {
                    Ok(runtime) => {
                        let _ = ready.send(Ok(runtime.handle().clone()));
                        runtime.block_on(async {
                            let _ = stopped.await;
                        });
                    }
                    Err(error) => drop(ready.send(Err(error))),
                }
            })?;
        let handle = started
            .await
            .map_err(|_| io::Error::other("the timer thread ended before it started"))??;
        Ok(TimerThread {
            handle,
            _stop: stop,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll};

    use tokio::time::Instant;

    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(30);

    /// Runs the paused clock forward until `future` completes and returns
    /// how long that took in virtual time.
    async fn time_to_complete(future: impl Future<Output = ()>) -> Duration {
        let start = Instant::now();
        future.await;
        start.elapsed()
    }

    fn is_ready(future: std::pin::Pin<&mut impl Future<Output = ()>>) -> bool {
        let waker = std::task::Waker::noop();
        matches!(
            future.poll(&mut Context::from_waker(waker)),
            Poll::Ready(())
        )
    }

    #[tokio::test(start_paused = true)]
    async fn an_untouched_tracker_is_idle_timeout_after_creation() {
        let tracker = Tracker::new();
        let waited = time_to_complete(tracker.wait_idle(TIMEOUT)).await;
        assert_eq!(waited, TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_is_last_activity_plus_timeout_exactly() {
        let tracker = Tracker::new();
        let start = Instant::now();
        let idle = tokio::spawn({
            let tracker = tracker.clone();
            async move {
                tracker.wait_idle(TIMEOUT).await;
                Instant::now()
            }
        });
        // Activity at odd moments, never more than TIMEOUT apart.
        for gap_ms in [29_999, 7, 12_345, 29_000] {
            tokio::time::sleep(Duration::from_millis(gap_ms)).await;
            drop(tracker.keep_awake());
        }
        let last = start + Duration::from_millis(29_999 + 7 + 12_345 + 29_000);
        let exited = idle.await.unwrap();
        assert_eq!(exited, last + TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn never_idle_while_an_activity_runs() {
        let tracker = Tracker::new();
        let guard = tracker.keep_awake();
        let mut idle = pin!(tracker.wait_idle(TIMEOUT));
        for _ in 0..10 {
            tokio::time::sleep(TIMEOUT * 3).await;
            assert!(!is_ready(idle.as_mut()), "idle with a guard held");
        }
        let released = Instant::now();
        drop(guard);
        idle.await;
        assert_eq!(Instant::now(), released + TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn an_activity_ending_just_before_the_deadline_postpones_it() {
        let tracker = Tracker::new();
        let start = Instant::now();
        let guard = tracker.keep_awake();
        let idle = tokio::spawn({
            let tracker = tracker.clone();
            async move {
                tracker.wait_idle(TIMEOUT).await;
                Instant::now()
            }
        });
        tokio::time::sleep(TIMEOUT - Duration::from_millis(1)).await;
        drop(guard);
        assert_eq!(
            idle.await.unwrap(),
            start + TIMEOUT * 2 - Duration::from_millis(1)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn busy_trackers_wake_the_watchdog_once_per_timeout() {
        // While busy, the watchdog sleeps a whole timeout at a time; it does
        // not spin. Counted through the number of polls of the future.
        let tracker = Tracker::new();
        let _guard = tracker.keep_awake();
        let mut polls = 0;
        let mut idle = pin!(tracker.wait_idle(TIMEOUT));
        let counted = std::future::poll_fn(|cx| {
            polls += 1;
            match idle.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(()),
                Poll::Pending => Poll::Pending,
            }
        });
        let _ = tokio::time::timeout(TIMEOUT * 10, counted).await;
        assert!(polls <= 12, "woken {polls} times in 10 timeouts");
    }

    #[tokio::test(start_paused = true)]
    async fn activity_that_ends_silently_never_moves_the_deadline() {
        // An accepted connection that closes without a request: it holds
        // the server while open, but once closed the deadline is the one
        // before it, even if that is already past.
        let tracker = Tracker::new();
        let start = Instant::now();
        let idle = tokio::spawn({
            let tracker = tracker.clone();
            async move {
                tracker.wait_idle(TIMEOUT).await;
                Instant::now()
            }
        });
        tokio::time::sleep(TIMEOUT - Duration::from_secs(1)).await;
        tracker.begin();
        tokio::time::sleep(Duration::from_secs(5)).await;
        tracker.end_silently();
        let closed = Instant::now();
        assert_eq!(idle.await.unwrap(), closed, "idle as soon as it closed");
        assert!(closed > start + TIMEOUT);

        let tracker = Tracker::new();
        let start = Instant::now();
        tracker.begin();
        tokio::time::sleep(Duration::from_secs(2)).await;
        tracker.end_silently();
        let waited = time_to_complete(tracker.wait_idle(TIMEOUT)).await;
        assert_eq!(Instant::now(), start + TIMEOUT, "waited {waited:?}");
    }

    /// A tracker serving with `config`, its watchdog spawned on the timeout
    /// in force; the task returns when it decided idle.
    fn serving(config: &crate::Config) -> (Tracker, tokio::task::JoinHandle<Instant>) {
        let tracker = Tracker::new();
        tracker.set_serving(
            crate::tracker::Serving {
                started: Instant::now(),
                mode: crate::IdleMode::Exit,
            },
            config,
        );
        tracker.wait_state_read();
        let idle = tokio::spawn({
            let tracker = tracker.clone();
            async move {
                wait_idle_in_force(&tracker).await;
                Instant::now()
            }
        });
        (tracker, idle)
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_that_shrinks_while_idle_brings_the_deadline_forward() {
        let (tracker, idle) = serving(&crate::Config::default().with_timeout(TIMEOUT));
        let start = Instant::now();
        tokio::time::sleep(Duration::from_secs(5)).await;
        // The watchdog sleeps until 30 s; the new timeout makes it 10 s.
        tracker.inner_timeout().set_fixed(Duration::from_secs(10));
        assert_eq!(idle.await.unwrap(), start + Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_that_shrinks_below_the_idle_time_exits_at_once() {
        let (tracker, idle) = serving(&crate::Config::default().with_timeout(TIMEOUT));
        let start = Instant::now();
        tokio::time::sleep(Duration::from_secs(20)).await;
        tracker.inner_timeout().set_fixed(Duration::from_secs(10));
        assert_eq!(idle.await.unwrap(), start + Duration::from_secs(20));
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_that_grows_postpones_the_deadline() {
        let (tracker, idle) = serving(&crate::Config::default().with_timeout(TIMEOUT));
        let start = Instant::now();
        let guard = tracker.keep_awake();
        tokio::time::sleep(Duration::from_secs(5)).await;
        tracker.inner_timeout().set_fixed(Duration::from_secs(60));
        drop(guard);
        assert_eq!(
            idle.await.unwrap(),
            start + Duration::from_secs(5) + Duration::from_secs(60)
        );
    }

    /// `auto` with 30 s a cold start and a state file whose history holds
    /// twenty gaps of 3 s and one 15-minute silence: staying up through 3 s
    /// gaps is cheaper than a cold start, waiting out the silence is not.
    fn with_history(test: &str) -> crate::Config {
        let dir = std::env::temp_dir().join(format!("idle-watchdog-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("idle.state");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        // Bin b holds gaps in [3600^(b/192), 3600^((b+1)/192)) s.
        let text = format!(
            "idle-state 1\ncold_start_cost_ms 30000\nwent_idle_unix_ms {now}\ntimeout_ms 30000\n\
             gaps 21\ntotals 660 660\nbin 25 20 60\nbin 159 1 900\n"
        );
        std::fs::write(&path, text).unwrap();
        crate::Config::default()
            .with_auto_timeout(TIMEOUT)
            .with_state(path)
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_learned_from_the_state_file_takes_over() {
        let (tracker, idle) = serving(&with_history("takes-over"));
        let start = Instant::now();
        let learned = tracker.timeout_in_force();
        assert!(
            learned > Duration::from_secs(3) && learned < Duration::from_millis(3200),
            "{learned:?}"
        );
        assert_eq!(
            tracker.status().timeout_source,
            Some(crate::TimeoutSource::Learned { gaps: 21 })
        );
        assert_eq!(idle.await.unwrap(), start + learned);
    }

    #[tokio::test(start_paused = true)]
    async fn every_idle_gap_retunes_the_watchdog() {
        // Gaps of 2.5 s between short requests, then silence: the server
        // exits the learned timeout after the last request, not after
        // break-even's 30 s.
        let (tracker, idle) = serving(&with_history("retunes"));
        let mut last = Instant::now();
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(2500)).await;
            drop(tracker.begin_request());
            last = Instant::now();
            assert!(!idle.is_finished());
        }
        assert_eq!(
            tracker.status().timeout_source,
            Some(crate::TimeoutSource::Learned { gaps: 41 })
        );
        let timeout = tracker.timeout_in_force();
        assert!(timeout < Duration::from_millis(3200), "{timeout:?}");
        assert_eq!(idle.await.unwrap(), last + timeout);
    }

    #[tokio::test(start_paused = true)]
    async fn a_huge_timeout_never_expires_and_does_not_panic() {
        let tracker = Tracker::new();
        let result =
            tokio::time::timeout(Duration::from_secs(3600), tracker.wait_idle(Duration::MAX)).await;
        assert!(result.is_err());
    }
}
