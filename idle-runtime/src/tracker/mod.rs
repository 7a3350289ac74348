//! The activity tracker: how many activities are running and when the last
//! one ended, in one atomic word.
//!
//! An *activity* is anything that keeps the server awake: a request from the
//! moment the service is called until its response body is finished or
//! dropped (see [`ActivityLayer`](crate::ActivityLayer)); what
//! [`serve`](crate::serve()) sees on a connection (a connection that has not
//! sent its first request yet, a response waiting for a slow client, an
//! upgraded connection such as a WebSocket); or an [`ActivityGuard`] held by
//! user code (a background job).
//!
//! The count and the time the last activity ended live in one atomic word
//! (see `state.rs`), so the watchdog decides "idle" from one consistent
//! reading. Starting an activity is one `fetch_add`; ending one is a short
//! compare-and-swap loop. No lock, no allocation, no timer per request.
//!
//! With the adaptive timeout, the tracker also records idle gaps: the
//! `fetch_add` that starts an activity returns the previous word, so the
//! moment the count leaves zero is known for free, together with when the
//! idle period began. Only then is the clock read (and, for a gap of a
//! second or more, a lock taken) to note the gap as provisional; the first
//! counted end commits it, a silent end back to idle forgets it:
//! see [`adaptive`](crate::adaptive).
//!
//! # Where `Tracker`'s methods live
//!
//! STYLE.md's model keeps the tracker in one file. Here this file holds the
//! counter, the idle clock, the guard and the waits on them (everything the
//! request path runs is here, together); `serving.rs` holds what the server
//! serves with and the timeout in force.
//! Two methods live with the module that reads the tracker, so that the
//! dependency runs one way: [`Tracker::wait_idle`] in `watchdog.rs` and
//! [`Tracker::status`] in `status.rs`.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use crate::adaptive::TimeoutInForce;
use crate::state::{ActivityWord, State};

mod serving;

pub(crate) use serving::Serving;

/// Counts running activities and remembers when the last one ended.
///
/// A `Tracker` is a cheap handle (an [`Arc`]); clones share the same state.
/// [`serve`](crate::serve()) uses the process-wide [`tracker()`] unless it is
/// given another one with [`Serve::with_tracker`](crate::Serve::with_tracker).
///
/// # Examples
///
/// Keep the server awake while a background job runs:
///
/// ```
/// # async fn reindex() {}
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let guard = idle_runtime::tracker().keep_awake();
/// tokio::spawn(async move {
///     reindex().await;
///     drop(guard); // the idle clock starts now
/// });
/// # }
/// ```
#[derive(Clone)]
pub struct Tracker {
    inner: Arc<Inner>,
}

struct Inner {
    /// The count and the last end time.
    word: ActivityWord,
    /// Requests that counted as activity and whose response was sent to its
    /// end, for the exit line. Only ever reported, never decided on, hence
    /// `Relaxed`.
    requests: AtomicU64,
    /// Requests that counted as activity and ended before their response
    /// did: cut by the client (reset, closed), a bound, a panic or a
    /// cancellation. Reported only, hence `Relaxed`.
    cut: AtomicU64,
    /// Activities held outside any connection: keep-awake guards and
    /// upgraded connections (WebSockets). Only reported (what a drain cut
    /// short), hence `Relaxed`.
    held: AtomicU64,
    /// The origin of the millisecond timestamps in `state`.
    origin: Instant,
    /// Woken when the count drops to zero, for the drain: only while
    /// `zero_waiters` is not zero, so that an ending request pays one load
    /// rather than a notification nobody waits for.
    zero: Notify,
    /// Callers of [`Tracker::wait_inactive`] currently waiting.
    zero_waiters: AtomicUsize,
    /// Woken when a silent end drops the count to zero, for the watchdog:
    /// that is the one way the deadline can move earlier than the watchdog
    /// planned. Never touched on the request path.
    silent_zero: Notify,
    /// `true` once a server using this tracker has started its shutdown.
    shutdown: watch::Sender<bool>,
    /// What the server using this tracker serves with, for
    /// [`Status`](crate::Status).
    /// Read by status queries only, never on the request path.
    serving: Mutex<Option<Serving>>,
    /// The idle timeout in force (fixed or adaptive), for the watchdog and
    /// the status; records idle gaps when adaptive.
    timeout: TimeoutInForce,
}

impl Tracker {
    /// Creates a tracker with no activity whose idle clock starts now.
    pub fn new() -> Self {
        Tracker {
            inner: Arc::new(Inner {
                word: ActivityWord::new(),
                requests: AtomicU64::new(0),
                cut: AtomicU64::new(0),
                held: AtomicU64::new(0),
                origin: Instant::now(),
                zero: Notify::new(),
                zero_waiters: AtomicUsize::new(0),
                silent_zero: Notify::new(),
                shutdown: watch::Sender::new(false),
                serving: Mutex::new(None),
                timeout: TimeoutInForce::default(),
            }),
        }
    }

    /// Starts an activity that lasts until the returned guard is dropped.
    ///
    /// While any guard is alive the server does not go idle, and a graceful
    /// shutdown waits for it (up to `grace`). Move the guard into the task
    /// that does the work, so that it is dropped however the task ends:
    /// returning, panicking or being aborted.
    pub fn keep_awake(&self) -> ActivityGuard {
        self.guard(GuardKind::Held)
    }

    /// Records activity now without holding it: the idle deadline moves to
    /// now + timeout if that is later than the current one.
    pub fn touch(&self) {
        self.touch_back(Duration::ZERO);
    }

    /// Restarts the idle clock as if activity had ended `back` ago: the
    /// deadline moves to now + timeout - `back` if that is later. A partial
    /// request head uses it to count for at most `timeout - back`.
    pub(crate) fn touch_back(&self, back: Duration) {
        let now = self.now_ms_ceil();
        self.inner.word.touch(now.saturating_sub(millis_ceil(back)));
    }

    /// The number of activities running now: requests in flight, accepted
    /// connections that have not sent a request yet, responses waiting for
    /// a slow client, upgraded connections, and live guards.
    pub fn active(&self) -> u64 {
        self.state().active
    }

    /// Resolves once the server using this tracker has started its
    /// shutdown (at once if it already has).
    ///
    /// Long-lived work, such as a WebSocket task or a job holding a guard,
    /// selects on this to finish cleanly (send a close frame, flush) instead
    /// of being cut off when `grace` runs out. So does a gRPC
    /// server-streaming handler, to end its stream with the status
    /// `UNAVAILABLE`, which clients retry, instead of a cut connection (see
    /// the crate documentation's gRPC section).
    pub async fn shutdown_started(&self) {
        let mut receiver = self.inner.shutdown.subscribe();
        // The sender lives in `Inner`, which `self` keeps alive: no error.
        let _ = receiver.wait_for(|started| *started).await;
    }

    /// Whether the server using this tracker has started its shutdown.
    pub fn is_shutting_down(&self) -> bool {
        *self.inner.shutdown.borrow()
    }

    pub(crate) fn mark_shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// The number of requests served: requests that counted as activity and
    /// whose response was sent to its end, since the tracker was created.
    /// Requests to ignored paths, requests still running and requests cut
    /// short ([`requests_cut`](Tracker::requests_cut)) are not counted.
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// The number of requests that counted as activity and ended before
    /// their response did: the client reset the stream or closed the
    /// connection, a bound on a stalled client closed it, the handler
    /// panicked or was cancelled.
    pub fn requests_cut(&self) -> u64 {
        self.inner.cut.load(Ordering::Relaxed)
    }

    /// Ends a request's activity (started with `begin`), counting it as
    /// served if its response was sent to its end, as cut otherwise.
    pub(crate) fn end_request(&self, served: bool) {
        let count = if served {
            &self.inner.requests
        } else {
            &self.inner.cut
        };
        count.fetch_add(1, Ordering::Relaxed);
        self.end();
    }

    /// Activities running outside any connection: keep-awake guards and
    /// upgraded connections (WebSockets).
    pub(crate) fn held(&self) -> u64 {
        self.inner.held.load(Ordering::Relaxed)
    }

    /// When the server became idle, or `None` while an activity runs.
    ///
    /// For a tracker that never saw activity this is the moment it was
    /// created (or last [touched](Tracker::touch)).
    pub fn idle_since(&self) -> Option<Instant> {
        let state = self.state();
        (state.active == 0).then(|| self.instant_at(state.last_end_ms))
    }

    /// Resolves once no activity is running (immediately if none is). Used
    /// by the drain, which waits for keep-awake guards as well as for
    /// connections.
    pub async fn wait_inactive(&self) {
        /// Counts a waiter in `zero_waiters` while it lives.
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        // SeqCst here and in `finished`: either this waiter sees the count
        // at zero, or the end that zeroed it sees this waiter and notifies.
        self.inner.zero_waiters.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.inner.zero_waiters);
        loop {
            // Created before looking, so that a drop to zero between the
            // look and the await still wakes us.
            let notified = self.inner.zero.notified();
            if self.inner.word.load_seqcst().active == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Starts a request's activity; when the guard drops, the request counts
    /// as served if [`ActivityGuard::served`] was called, as cut otherwise.
    pub(crate) fn begin_request(&self) -> ActivityGuard {
        self.guard(GuardKind::Request)
    }

    /// Starts an activity of `kind`, ended (and reported) by the guard's
    /// `Drop` according to the same kind.
    fn guard(&self, kind: GuardKind) -> ActivityGuard {
        match kind {
            GuardKind::Held => self.begin_held(),
            GuardKind::Request | GuardKind::Served => self.begin(),
        }
        ActivityGuard {
            tracker: self.clone(),
            kind,
        }
    }

    /// Starts an activity held outside any connection (see `held`); pair
    /// with `end_held`.
    pub(crate) fn begin_held(&self) {
        self.inner.held.fetch_add(1, Ordering::Relaxed);
        self.begin();
    }

    /// Ends an activity started by `begin_held`.
    pub(crate) fn end_held(&self) {
        self.inner.held.fetch_sub(1, Ordering::Relaxed);
        self.end();
    }

    /// One consistent reading of the count and the last end time.
    pub(crate) fn state(&self) -> State {
        self.inner.word.load()
    }

    /// Starts an activity without a guard; pair with `end` or
    /// `end_silently`. Whether it counts may not be known yet (an accepted
    /// connection, before its first request), so an idle gap it ends is
    /// only provisional: the first counted end commits it (under `serve`, a
    /// first request that counts takes over its connection's activity, so
    /// that request's end, or another request's if it ends first).
    pub(crate) fn begin(&self) {
        let previous = self.inner.word.begin();
        // The count left zero: an idle period that began at the previous end
        // time ends now, if this activity counts. With a fixed timeout this
        // costs the branch.
        if previous.active == 0 && self.inner.timeout.learns() {
            self.idle_period_ended(previous.last_end_ms);
        }
    }

    /// Notes the idle gap that has just ended as provisional; off the common
    /// path.
    #[cold]
    fn idle_period_ended(&self, since_ms: u64) {
        self.inner.timeout.gap_ended(since_ms, self.now_ms_floor());
    }

    /// An activity that counts has ended: a provisional gap is learned. A
    /// relaxed load and a branch when none waits.
    fn commit_gap(&self) {
        if self.inner.timeout.has_provisional() {
            self.inner.timeout.settle_provisional(true);
        }
    }

    /// Ends an activity: the count drops and the idle clock restarts from
    /// now (if later than the last end).
    pub(crate) fn end(&self) {
        self.commit_gap();
        self.finished(self.inner.word.end(Some(self.now_ms_ceil())));
    }

    /// Ends an activity without moving the idle clock, for activity that
    /// turned out not to count: an accepted connection whose first request is
    /// ignored, or that closed without sending one (a TCP health check). A
    /// provisional gap is forgotten if the server is idle again: the idle
    /// period goes on, and the next activity reports it whole.
    pub(crate) fn end_silently(&self) {
        let remaining = self.inner.word.end(None);
        if remaining == 0 {
            if self.inner.timeout.has_provisional() {
                self.inner
                    .timeout
                    .discard_provisional(|| self.inner.word.load_seqcst().active);
            }
            self.inner.silent_zero.notify_one();
        }
        self.finished(remaining);
    }

    /// Resolves after a silent end has dropped the count to zero (possibly
    /// one that happened before this call: the permit is kept).
    pub(crate) async fn silent_zero(&self) {
        self.inner.silent_zero.notified().await;
    }

    fn finished(&self, remaining: u64) {
        if remaining == 0 && self.inner.zero_waiters.load(Ordering::SeqCst) != 0 {
            self.inner.zero.notify_waiters();
        }
    }

    /// Milliseconds since the origin, rounded up, for end times: a deadline
    /// computed from it is never earlier than the true end + timeout.
    fn now_ms_ceil(&self) -> u64 {
        millis_ceil(Instant::now().saturating_duration_since(self.inner.origin))
    }

    /// Milliseconds since the origin, rounded down, for the watchdog's "now":
    /// idleness is never decided early.
    pub(crate) fn now_ms_floor(&self) -> u64 {
        let elapsed = Instant::now().saturating_duration_since(self.inner.origin);
        elapsed
            .as_secs()
            .saturating_mul(1000)
            .saturating_add(u64::from(elapsed.subsec_millis()))
    }

    /// The instant `millis` after the origin (saturating far in the future).
    pub(crate) fn instant_at(&self, millis: u64) -> Instant {
        let origin = self.inner.origin;
        origin
            .checked_add(Duration::from_millis(millis))
            .unwrap_or_else(|| origin + Duration::from_secs(86_400 * 365 * 30))
    }
}

/// A duration in whole milliseconds, rounded up, saturating.
pub(crate) fn millis_ceil(duration: Duration) -> u64 {
    // In u64 (`as_millis` is u128, a dearer division on every request's
    // end); the sub-second part is below 1,000 ms, rounded up.
    duration
        .as_secs()
        .saturating_mul(1000)
        .saturating_add(u64::from(duration.subsec_nanos().div_ceil(1_000_000)))
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker::new()
    }
}

impl std::fmt::Debug for Tracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state();
        f.debug_struct("Tracker")
            .field("active", &state.active)
            .field("idle_since", &self.idle_since())
            .field("requests", &self.requests())
            .finish()
    }
}

/// The process-wide tracker, used by `#[idle_server]` and by
/// [`serve`](crate::serve()) unless told otherwise.
///
/// Any code in the process can take a guard from it without passing a handle
/// around, for example `idle_runtime::tracker().keep_awake()`.
pub fn tracker() -> &'static Tracker {
    static GLOBAL: OnceLock<Tracker> = OnceLock::new();
    GLOBAL.get_or_init(Tracker::new)
}

/// A running activity: the server stays awake while it lives.
///
/// Created by [`Tracker::keep_awake`] (and, for each request, by the
/// [`ActivityLayer`](crate::ActivityLayer)). Dropping it ends the activity and
/// starts the idle clock if it was the last one.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let guard = idle_runtime::keep_awake();
/// let job = tokio::spawn(async move {
///     let _guard = guard; // dropped when the job ends, however it ends
///     // ... work that an idle shutdown must not cut short ...
/// });
/// job.await.unwrap();
/// assert_eq!(idle_runtime::status().active, 0);
/// # }
/// ```
#[must_use = "the activity ends as soon as the guard is dropped"]
pub struct ActivityGuard {
    tracker: Tracker,
    kind: GuardKind,
}

/// What a guard stands for, in the exit report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GuardKind {
    /// A request whose response has not been sent to its end: counted as
    /// cut if it ends so.
    Request,
    /// A request whose response was sent to its end: counted as served.
    Served,
    /// A keep-awake guard: counted as held while it lives.
    Held,
}

impl ActivityGuard {
    /// The request this guard stands for was answered to its end: it counts
    /// as served, not cut, when the guard drops.
    pub(crate) fn served(&mut self) {
        if self.kind == GuardKind::Request {
            self.kind = GuardKind::Served;
        }
    }
}

impl Drop for ActivityGuard {
    fn drop(&mut self) {
        match self.kind {
            GuardKind::Request => self.tracker.end_request(false),
            GuardKind::Served => self.tracker.end_request(true),
            GuardKind::Held => self.tracker.end_held(),
        }
    }
}

/// Takes a keep-awake guard from the process-wide [`tracker()`] in a
/// handler: move it into a task that outlives the request, such as a job the
/// request started. (An upgraded connection, such as a WebSocket, needs no
/// guard under [`serve`](crate::serve()): it counts until it closes. With
/// `axum::serve` and the bare [`ActivityLayer`](crate::ActivityLayer) it
/// does need one.)
///
/// ```
/// use axum::http::StatusCode;
/// use idle_runtime::ActivityGuard;
///
/// async fn reindex(awake: ActivityGuard) -> StatusCode {
///     tokio::spawn(async move {
///         let _awake = awake; // the server stays up until the job ends
///         // ... the job ...
///     });
///     StatusCode::ACCEPTED
/// }
/// ```
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ActivityGuard {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        _parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(tracker().keep_awake())
    }
}

impl std::fmt::Debug for ActivityGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivityGuard").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adaptive::TimeoutSource;
    use crate::{Config, IdleMode};

    #[tokio::test(start_paused = true)]
    async fn counts_guards_and_remembers_the_last_end() {
        let tracker = Tracker::new();
        let created = Instant::now();
        assert_eq!(tracker.active(), 0);
        assert_eq!(tracker.idle_since(), Some(created));

        let first = tracker.keep_awake();
        let second = tracker.keep_awake();
        assert_eq!(tracker.active(), 2);
        assert_eq!(tracker.idle_since(), None);

        tokio::time::advance(Duration::from_millis(250)).await;
        drop(first);
        assert_eq!(tracker.active(), 1);
        assert_eq!(tracker.idle_since(), None, "one guard is still alive");

        tokio::time::advance(Duration::from_millis(250)).await;
        drop(second);
        assert_eq!(tracker.active(), 0);
        assert_eq!(
            tracker.idle_since(),
            Some(created + Duration::from_millis(500))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn end_times_never_go_backwards_and_round_up() {
        let tracker = Tracker::new();
        let origin = Instant::now();
        let early = tracker.keep_awake();
        let late = tracker.keep_awake();
        tokio::time::advance(Duration::from_micros(10_300)).await;
        drop(late);
        // An activity that ends "earlier" in count order but later in time
        // must not move the end time back, and 10.3 ms rounds up to 11 ms.
        drop(early);
        assert_eq!(
            tracker.idle_since(),
            Some(origin + Duration::from_millis(11))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn touch_moves_the_idle_start_forward_only() {
        let tracker = Tracker::new();
        let origin = Instant::now();
        tokio::time::advance(Duration::from_secs(3)).await;
        tracker.touch();
        assert_eq!(tracker.idle_since(), Some(origin + Duration::from_secs(3)));
        let guard = tracker.keep_awake();
        tracker.touch();
        assert_eq!(tracker.active(), 1, "touch does not end activities");
        drop(guard);
    }

    #[tokio::test(start_paused = true)]
    async fn silent_ends_leave_the_idle_clock_alone() {
        let tracker = Tracker::new();
        let origin = Instant::now();
        tracker.begin();
        tokio::time::advance(Duration::from_secs(5)).await;
        tracker.end_silently();
        assert_eq!(tracker.idle_since(), Some(origin));
    }

    #[tokio::test(start_paused = true)]
    async fn requests_are_counted_and_are_activities() {
        let tracker = Tracker::new();
        let mut request = tracker.begin_request();
        assert_eq!((tracker.active(), tracker.requests()), (1, 0));
        assert_eq!(tracker.held(), 0, "a request is not a held activity");
        request.served();
        drop(request);
        assert_eq!((tracker.active(), tracker.requests()), (0, 1));
        // A request whose response did not reach its end is cut, not served.
        drop(tracker.begin_request());
        assert_eq!(
            (tracker.active(), tracker.requests(), tracker.requests_cut()),
            (0, 1, 1)
        );
        let guard = tracker.keep_awake();
        assert_eq!((tracker.active(), tracker.held()), (1, 1));
        drop(guard);
        assert_eq!(
            (tracker.active(), tracker.held(), tracker.requests()),
            (0, 0, 1)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn wait_inactive_resolves_when_the_last_guard_drops() {
        let tracker = Tracker::new();
        tracker.wait_inactive().await; // nothing running: at once

        let guard = tracker.keep_awake();
        let waiter = tokio::spawn({
            let tracker = tracker.clone();
            async move { tracker.wait_inactive().await }
        });
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(!waiter.is_finished(), "a guard is alive");
        drop(guard);
        tokio::time::timeout(Duration::from_millis(1), waiter)
            .await
            .expect("woken when the count reaches zero")
            .unwrap();
    }

    fn auto(tracker: &Tracker, config: &Config) {
        tracker.set_serving(
            Serving {
                started: Instant::now(),
                mode: IdleMode::Exit,
            },
            config,
        );
        tracker.wait_state_read();
    }

    /// `auto` with a 30 s cold start and a state file that does not exist
    /// (and is never written here): it learns.
    fn learning() -> Config {
        Config::default()
            .with_auto_timeout(Duration::from_secs(30))
            .with_state(std::env::temp_dir().join("idle-tracker-test-no-dir/idle.state"))
    }

    #[tokio::test(start_paused = true)]
    async fn idle_gaps_are_recorded_when_the_count_leaves_zero() {
        let tracker = Tracker::new();
        auto(&tracker, &learning());
        assert_eq!(tracker.timeout_source(), TimeoutSource::BreakEven);
        assert_eq!(tracker.timeout_in_force(), Duration::from_secs(30));

        // Sub-second gaps and overlapping activities record nothing.
        tokio::time::advance(Duration::from_millis(900)).await;
        let first = tracker.keep_awake();
        tokio::time::advance(Duration::from_secs(5)).await;
        let second = tracker.keep_awake();
        drop((first, second));
        assert_eq!(tracker.timeout_source(), TimeoutSource::BreakEven);

        tokio::time::advance(Duration::from_secs(4)).await;
        drop(tracker.keep_awake());
        assert_eq!(tracker.timeout_source(), TimeoutSource::Learned { gaps: 1 });
        let timeout = tracker.timeout_in_force();
        // Every gap seen is covered: at least break-even's 30 s.
        assert_eq!(timeout, Duration::from_secs(30), "{timeout:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn activity_that_does_not_count_changes_nothing() {
        // A health check connects and closes after 5 s of idleness (or sends
        // an ignored request, a probe, a status poll): no gap, no change.
        let tracker = Tracker::new();
        auto(&tracker, &learning());
        let origin = Instant::now();
        tokio::time::advance(Duration::from_secs(5)).await;
        tracker.begin();
        assert_eq!(tracker.timeout_source(), TimeoutSource::BreakEven);
        tracker.end_silently();
        assert_eq!(tracker.timeout_source(), TimeoutSource::BreakEven);
        assert_eq!(tracker.timeout_in_force(), Duration::from_secs(30));
        assert_eq!(tracker.idle_since(), Some(origin));
        // A real request 5 s later ends one gap of 10 s, not two.
        tokio::time::advance(Duration::from_secs(5)).await;
        tracker.begin(); // its connection, accepted
        assert_eq!(tracker.timeout_source(), TimeoutSource::BreakEven);
        let request = tracker.begin_request(); // its first request counts
        tracker.end(); // the connection's activity hands over to the request
        assert_eq!(tracker.timeout_source(), TimeoutSource::Learned { gaps: 1 });
        drop(request);
        assert_eq!(tracker.timeout_source(), TimeoutSource::Learned { gaps: 1 });
        let learned = tracker.inner_timeout().learning().unwrap();
        let bins: Vec<(usize, f64, f64)> = learned.histogram().bins().collect();
        assert_eq!(bins.len(), 1, "{bins:?}");
        assert_eq!((bins[0].1, bins[0].2), (1.0, 10.0), "one gap of 10 s");
        // The next gap is a new one.
        tokio::time::advance(Duration::from_secs(3)).await;
        drop(tracker.begin_request());
        assert_eq!(tracker.timeout_source(), TimeoutSource::Learned { gaps: 2 });
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_end_while_another_activity_runs_keeps_the_gap() {
        // Two connections leave the idle period; the first closes without a
        // request, the second's request counts: the gap is learned.
        let tracker = Tracker::new();
        auto(&tracker, &learning());
        tokio::time::advance(Duration::from_secs(5)).await;
        tracker.begin();
        tracker.begin();
        tracker.end_silently();
        tracker.end();
        assert_eq!(tracker.timeout_source(), TimeoutSource::Learned { gaps: 1 });
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_state_file_nothing_is_learned() {
        let tracker = Tracker::new();
        auto(
            &tracker,
            &Config::default().with_auto_timeout(Duration::from_secs(30)),
        );
        for _ in 0..20 {
            tokio::time::advance(Duration::from_secs(3)).await;
            drop(tracker.begin_request());
        }
        assert_eq!(tracker.timeout_source(), TimeoutSource::NoState);
        assert_eq!(tracker.timeout_in_force(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_fixed_timeout_records_nothing() {
        let tracker = Tracker::new();
        auto(
            &tracker,
            &Config::default().with_timeout(Duration::from_secs(7)),
        );
        tokio::time::advance(Duration::from_secs(5)).await;
        drop(tracker.keep_awake());
        assert_eq!(tracker.timeout_source(), TimeoutSource::Fixed);
        assert_eq!(tracker.status().timeout, Some(Duration::from_secs(7)));
        assert_eq!(tracker.status().timeout_source, Some(TimeoutSource::Fixed));
    }

    #[tokio::test(start_paused = true)]
    async fn the_state_file_carries_history_to_the_next_start() {
        let dir = std::env::temp_dir().join(format!("idle-tracker-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state");
        let config = Config::default()
            .with_auto_timeout(Duration::from_secs(30))
            .with_state(&path);

        let first = Tracker::new();
        auto(&first, &config); // no file yet: a warning, break-even
        for _ in 0..3 {
            tokio::time::advance(Duration::from_secs(4)).await;
            drop(first.keep_awake());
        }
        let learned = first.timeout_in_force();
        first.save_state();

        let second = Tracker::new();
        auto(&second, &config);
        // The gap since the first went idle is milliseconds of wall time:
        // too short to record. The three gaps are back.
        assert_eq!(second.timeout_source(), TimeoutSource::Learned { gaps: 3 });
        assert_eq!(second.timeout_in_force(), learned);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn gaps_seen_while_the_state_file_is_read_are_learned_after_it() {
        let tracker = Tracker::new();
        let config = learning();
        tracker.set_serving(
            Serving {
                started: Instant::now(),
                mode: IdleMode::Exit,
            },
            &config,
        );
        // Whether or not the file has been read by now, the gap counts.
        tokio::time::advance(Duration::from_secs(4)).await;
        drop(tracker.begin_request());
        tracker.wait_state_read();
        assert_eq!(tracker.timeout_source(), TimeoutSource::Learned { gaps: 1 });
    }

    #[test]
    fn guards_end_activity_when_a_task_panics() {
        let tracker = Tracker::new();
        let guard = tracker.keep_awake();
        let result = std::thread::spawn(move || {
            let _guard = guard;
            panic!("handler failed");
        })
        .join();
        assert!(result.is_err());
        assert_eq!(tracker.active(), 0);
    }
}
