//! Serving until a reason to stop: the accept loop.
//!
//! The reasons to stop are SIGTERM, SIGINT, the maximum lifetime, the
//! future given to [`Serve::with_shutdown_signal`](crate::Serve::with_shutdown_signal),
//! and the watchdog (unless the mode is [`IdleMode::DrainOnly`]). They are
//! polled before `accept` whenever one of them has woken (not at every
//! accept: the accept loop costs what `axum::serve`'s costs), so nothing
//! that happens to accepting can delay them; when the watchdog fires, a
//! connection already waiting in the kernel's queue is still taken and
//! served, and postpones the exit, instead of being dropped. Under a
//! multi-thread runtime the watchdog and the lifetime run on a thread of
//! their own ([`Timers`]): the server's runtime has no timer armed between
//! requests.

use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::task::JoinHandle;
use tokio::time::{Instant, Sleep};

use super::connection::Connections;
use super::lines;
use super::HttpService;
use crate::listener::{Listener, Peer, Stream};
use crate::shutdown::{ShutdownReason, Signals};
use crate::tracker::Serving;
use crate::watchdog::{is_idle_now, wait_idle_in_force, Timers};
use crate::{Config, IdleMode, Tracker};

/// The server is listening: the idle clock starts, the mode and the
/// timeout take effect, and the startup line and systemd's `READY=1` go out.
pub(super) fn listening(
    listener: &Listener,
    tracker: &Tracker,
    config: &Config,
    started: Instant,
    activated: bool,
) -> io::Result<()> {
    let mode = config.mode;
    // The idle clock starts when the server can be reached.
    tracker.touch();
    tracker.set_serving(Serving { started, mode }, config);
    lines::listening(&lines::Listening {
        addr: &listener.local_addr()?,
        timeout: tracker.timeout_in_force(),
        timeout_source: tracker.timeout_source(),
        grace: config.grace,
        activated,
        mode,
        mode_reason: config.mode_reason(),
    });
    lines::notify_systemd(sd_notify::NotifyState::Ready);
    Ok(())
}

/// The reasons to stop other than signals, each `None` when it is off.
pub(super) struct Stops {
    timers: Timers,
    tracker: Tracker,
    mode: IdleMode,
    max_lifetime: Option<Duration>,
    idle: Option<JoinHandle<()>>,
    lifetime: Option<JoinHandle<()>>,
    requested: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl Stops {
    /// Finds a place for the timers (starting the timer thread if they need
    /// one); nothing runs yet.
    pub(super) async fn new(
        tracker: &Tracker,
        config: &Config,
        requested: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    ) -> io::Result<Self> {
        let mode = config.mode;
        let needed = mode == IdleMode::Exit || config.max_lifetime.is_some();
        Ok(Stops {
            timers: Timers::for_current_runtime(needed).await?,
            tracker: tracker.clone(),
            mode,
            max_lifetime: config.max_lifetime,
            idle: None,
            lifetime: None,
            requested: requested.unwrap_or_else(|| Box::pin(std::future::pending())),
        })
    }

    /// Starts the watchdog, and the maximum lifetime from `started`.
    pub(super) fn arm(&mut self, started: Instant) {
        self.watch();
        self.lifetime = self
            .max_lifetime
            .and_then(|lifetime| started.checked_add(lifetime))
            .map(|end| self.timers.spawn(tokio::time::sleep_until(end)));
    }

    /// (Re)starts the watchdog.
    fn watch(&mut self) {
        let tracker = self.tracker.clone();
        self.idle = match self.mode {
            IdleMode::Exit => Some(
                self.timers
                    .spawn(async move { wait_idle_in_force(&tracker).await }),
            ),
            IdleMode::DrainOnly => None,
        };
    }
}

/// Accepts connections and serves them on `connections` until the first
/// reason to stop, which it returns. (`connections` is borrowed mutably only
/// so that this future is `Send` without asking the service to be `Sync`.)
pub(super) async fn until_stopped<S: HttpService>(
    listener: &Listener,
    connections: &mut Connections<S>,
    signals: &mut Signals,
    stops: &mut Stops,
) -> ShutdownReason {
    let mut accept_errors = AcceptErrors::default();
    loop {
        let stop = next_stop(signals, stops);
        match accept_until(stop, listener, connections, &mut accept_errors).await {
            Stop::Reason(reason) => return reason,
            Stop::Idle => {}
        }
        // The watchdog decided on its own thread: activity may have come
        // since (a request on a kept-alive connection, a partial head). Then
        // it watches again.
        if !is_idle_now(&stops.tracker) {
            stops.watch();
            continue;
        }
        // A last look at the accept queue: a client that connected before
        // the deadline is served, and its request postpones the exit, rather
        // than being dropped with the listener.
        match accept_now(listener) {
            Some((stream, peer)) => {
                connections.spawn(stream, peer);
                stops.watch();
            }
            None => return ShutdownReason::Idle,
        }
    }
}

/// What ends a run of accepts.
enum Stop {
    /// A reason to stop.
    Reason(ShutdownReason),
    /// The watchdog fired: the accept loop looks again before it stops.
    Idle,
}

/// The first reason to stop, in this order.
async fn next_stop(signals: &mut Signals, stops: &mut Stops) -> Stop {
    tokio::select! {
        biased;
        reason = signals.recv() => Stop::Reason(reason),
        () = fired(&mut stops.lifetime) => Stop::Reason(ShutdownReason::MaxLifetime),
        () = &mut stops.requested => Stop::Reason(ShutdownReason::Requested),
        () = fired(&mut stops.idle) => Stop::Idle,
    }
}

/// Accepts connections until `stop` resolves.
///
/// `stop` comes before every accept, so that no pattern of accepts (a flood
/// of connections, a storm of failing accepts) can delay it; but it is
/// polled only when one of the reasons to stop has woken it (each registers
/// [`StopWake`]'s waker), not at every accept: a new connection costs the
/// accept loop one atomic load beyond the accept itself.
async fn accept_until<S: HttpService>(
    stop: impl Future<Output = Stop>,
    listener: &Listener,
    connections: &mut Connections<S>,
    errors: &mut AcceptErrors,
) -> Stop {
    let mut stop = pin!(stop);
    let wake = Arc::new(StopWake {
        // Polled once first, which registers its waker.
        woken: AtomicBool::new(true),
        task: AtomicWaker::new(),
    });
    let stop_waker = Waker::from(wake.clone());
    // Moved into the closure, &mut and all, so that this future is `Send`
    // with a service that is not `Sync`.
    std::future::poll_fn(move |cx| {
        // Registered before the flag is read: a reason to stop that wakes
        // in between wakes this task. (A waker that will wake the same task
        // is not cloned again.)
        wake.task.register(cx.waker());
        loop {
            if wake.take() {
                let mut stop_cx = Context::from_waker(&stop_waker);
                if let Poll::Ready(stop) = stop.as_mut().poll(&mut stop_cx) {
                    return Poll::Ready(stop);
                }
            }
            if errors.paused(cx) {
                return Poll::Pending;
            }
            // tokio's cooperative budget makes a long run of accepts pend
            // (and wake this task) now and then.
            match listener.poll_accept(cx) {
                Poll::Ready(Ok((stream, peer))) => connections.spawn(stream, peer),
                Poll::Ready(Err(error)) => errors.failed(error),
                Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await
}

/// The waker that the reasons to stop are polled with: it records that one
/// of them woke, and wakes the accept loop's task.
struct StopWake {
    /// One of the reasons to stop woke since they were last polled.
    woken: AtomicBool,
    /// The accept loop's task.
    task: AtomicWaker,
}

impl StopWake {
    /// Whether a reason to stop woke since the last call.
    fn take(&self) -> bool {
        // Acquire: pairs with the Release in `wake_by_ref`. A relaxed load
        // first: the common case (nothing woke) takes no locked instruction;
        // a wake that it misses also wakes the task, which looks again.
        self.woken.load(Ordering::Relaxed) && self.woken.swap(false, Ordering::Acquire)
    }
}

impl Wake for StopWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Set before the task is read: the accept loop registers its task
        // before it reads the flag, so either it sees the flag or the task
        // it registered is woken.
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// Resolves when the timer's task has finished; never if there is none.
async fn fired(timer: &mut Option<JoinHandle<()>>) {
    match timer {
        // An error (the task panicked, or its thread has gone, which only
        // happens once `serve` drops it) counts as fired too: a server whose
        // watchdog has failed drains and stops rather than run for ever.
        Some(task) => {
            if let Err(error) = task.await {
                crate::log::warning(&format!("a timer of the server failed ({error}); stopping"));
            }
        }
        None => std::future::pending().await,
    }
}

/// Takes a connection already waiting in the accept queue, without waiting.
fn accept_now(listener: &Listener) -> Option<(Stream, Peer)> {
    let mut cx = Context::from_waker(Waker::noop());
    match listener.poll_accept(&mut cx) {
        Poll::Ready(Ok(stream)) => Some(stream),
        Poll::Ready(Err(_)) | Poll::Pending => None,
    }
}

/// Failing accepts. Errors that concern one connection (the client gave up
/// before we took it) are ignored. Others concern the process (out of file
/// descriptors) and would fail again at once: accepting pauses for 50 ms,
/// during which the loop still answers signals and the watchdog, and the
/// error is reported at most once every 10 s (on stderr without a tracing
/// subscriber), with the number of failures since the last report.
#[derive(Default)]
struct AcceptErrors {
    /// Accepting resumes when it fires.
    pause: Option<Pin<Box<Sleep>>>,
    last_report: Option<Instant>,
    unreported: u64,
}

impl AcceptErrors {
    const PAUSE: Duration = Duration::from_millis(50);
    const REPORT_EVERY: Duration = Duration::from_secs(10);

    /// Whether accepting is paused; if so, this task wakes when it
    /// resumes.
    fn paused(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(pause) = &mut self.pause else {
            return false;
        };
        if pause.as_mut().poll(cx).is_pending() {
            return true;
        }
        self.pause = None;
        false
    }

    fn failed(&mut self, error: io::Error) {
        if matches!(
            error.kind(),
            io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionRefused
                | io::ErrorKind::Interrupted
        ) {
            return;
        }
        let now = Instant::now();
        self.pause = Some(Box::pin(tokio::time::sleep_until(now + Self::PAUSE)));
        self.unreported += 1;
        if self
            .last_report
            .is_none_or(|last| now.duration_since(last) >= Self::REPORT_EVERY)
        {
            lines::accept_failed(&error, self.unreported);
            self.last_report = Some(now);
            self.unreported = 0;
        }
    }
}
