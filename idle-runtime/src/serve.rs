//! Serving until idle or signalled, then draining.
//!
//! [`serve`] runs one accept loop and one drain path for every trigger:
//!
//! 1. Accept connections and serve HTTP/1.1 and HTTP/2 (with upgrades:
//!    WebSockets over HTTP/1.1 and over HTTP/2) through the
//!    [`ActivityLayer`]. What a connection's activity is (before its first
//!    request, partial heads, unwritten bytes, upgrades) lives in
//!    `connection.rs`.
//! 2. Stop on the first of: SIGTERM, SIGINT, the maximum lifetime, the
//!    future given to [`Serve::with_shutdown_signal`], or
//!    [`Tracker::wait_idle`] (unless the mode is [`IdleMode::DrainOnly`]).
//!    These are polled before `accept`, so nothing that happens to accepting
//!    can delay them; when the watchdog fires, a connection already waiting
//!    in the kernel's queue is still taken and served, and postpones the
//!    exit, instead of being dropped.
//! 3. Close the listener, tell every connection to finish its current request
//!    and close (idle keep-alive connections close at once), and wait for the
//!    connections and for every activity (including keep-awake guards and
//!    upgraded connections) to end, at most `grace`. A second signal ends the
//!    wait at once.
//! 4. Run the shutdown hook, if any, for at most another `grace`.
//!
//! Under systemd (`NOTIFY_SOCKET` set) it sends `READY=1` once listening and
//! `STOPPING=1` when the drain starts, so `Type=notify` units work.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::future::{Future, IntoFuture};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use http::{HeaderName, Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tower_service::Service;

use crate::connection::{
    Conn, ConnectionService, ConnectionTask, Executor, OpenConnections, TrackedIo,
};
use crate::listener::{Listener, Stream};
use crate::shutdown::{Drain, HookOutcome, ShutdownReason, ShutdownReport, Signals};
use crate::tracker::Serving;
use crate::watchdog::{wait_idle_in_force, TimerThread};
use crate::{log, ActivityLayer, Config, IdleMode, ListenAddr, Tracker};

/// Serves `service` on `listener` until the server has been idle for the
/// timeout, or SIGTERM or SIGINT arrives; then drains and returns.
///
/// `service` is typically an [`axum::Router`]; it is wrapped in an
/// [`ActivityLayer`] for you. Configure the returned [`Serve`] with its
/// `with_*` methods, then `.await` it.
///
/// # Examples
///
/// ```no_run
/// use axum::{routing::get, Router};
/// use idle_runtime::Config;
///
/// #[tokio::main]
/// async fn main() -> std::io::Result<()> {
///     let config = Config::default().apply_env().expect("valid environment");
///     let listener = idle_runtime::bind(&config, None).await?;
///     let app = Router::new().route("/", get(|| async { "hello" }));
///     let report = idle_runtime::serve(listener, app).with_config(&config).await?;
///     eprintln!("stopped: {}, {} requests", report.reason, report.requests);
///     Ok(())
/// }
/// ```
///
/// # Return Value
///
/// Awaiting the [`Serve`] gives a [`ShutdownReport`] once the drain is over,
/// or an [`io::Error`] if the signal handlers cannot be installed.
pub fn serve<S>(listener: impl Into<Listener>, service: S) -> Serve<S> {
    Serve {
        listener: listener.into(),
        service,
        tracker: crate::tracker().clone(),
        config: Config::default(),
        shutdown_signal: None,
        hook: None,
        signals: None,
        activated: false,
    }
}

/// A shutdown hook, boxed: see [`Serve::with_shutdown_hook`].
pub(crate) type Hook =
    Box<dyn FnOnce(ShutdownReason) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// A server that has not started yet; see [`serve`]. Await it to run it.
#[must_use = "a Serve does nothing until it is awaited"]
pub struct Serve<S> {
    listener: Listener,
    service: S,
    tracker: Tracker,
    /// Timeout, grace, ignore lists, mode and maximum lifetime (`addr` is
    /// unused here: the listener is already bound).
    config: Config,
    shutdown_signal: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    hook: Option<Hook>,
    /// Handlers registered by the `#[idle_server]` main before setup, so
    /// that a signal during setup is not lost.
    signals: Option<Signals>,
    /// Whether the listener came from socket activation, for the log line.
    activated: bool,
}

impl<S> Serve<S> {
    /// Takes `timeout`, `grace`, `ignore`, `ignore_headers` and `mode` from
    /// `config` (`addr` is for binding, see [`bind`](crate::bind)).
    pub fn with_config(mut self, config: &Config) -> Self {
        self.config.clone_from(config);
        self
    }

    /// Start a graceful shutdown this long after serving started, even if
    /// busy, for platforms that want processes recycled. Default: never.
    pub fn with_max_lifetime(mut self, max_lifetime: Duration) -> Self {
        self.config = self.config.with_max_lifetime(max_lifetime);
        self
    }

    /// Run `hook` once after the drain, with the reason of the shutdown, to
    /// flush state (write a cache to a volume, close a pool) before the
    /// process exits.
    ///
    /// The hook gets its own `grace` to finish: a server stops at most
    /// `2 × grace` after the shutdown starts (drain, then hook), so give the
    /// platform a kill timeout above that. A second signal, or a drain cut
    /// short by one, skips or abandons it; a panic in it is reported, not
    /// propagated.
    ///
    /// ```no_run
    /// # async fn run(listener: tokio::net::TcpListener, app: axum::Router) -> std::io::Result<()> {
    /// use idle_runtime::ShutdownReason;
    ///
    /// async fn flush(reason: ShutdownReason) {
    ///     eprintln!("flushing the cache before exit ({reason})");
    /// }
    ///
    /// idle_runtime::serve(listener, app).with_shutdown_hook(flush).await?;
    /// # Ok(()) }
    /// ```
    pub fn with_shutdown_hook<H, F>(mut self, hook: H) -> Self
    where
        H: FnOnce(ShutdownReason) -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        self.hook = Some(Box::new(move |reason| Box::pin(hook(reason))));
        self
    }

    /// Whether to exit when idle; [`IdleMode::DrainOnly`] keeps only the
    /// signal-triggered drain. Default [`IdleMode::Exit`].
    pub fn with_mode(mut self, mode: IdleMode) -> Self {
        self.config = self.config.with_mode(mode);
        self
    }

    /// Requests carrying any of these headers never count as activity.
    pub fn with_ignore_headers<I>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = HeaderName>,
    {
        self.config = self.config.with_ignore_headers(names);
        self
    }

    /// Shut down after this long without activity. Default 30 s.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.config = self.config.with_timeout(timeout);
        self
    }

    /// Wait at most this long for the drain. Default 10 s.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.config = self.config.with_grace(grace);
        self
    }

    /// Request paths that never count as activity.
    pub fn with_ignore<I, P>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.config = self.config.with_ignore(paths);
        self
    }

    /// Record activity on `tracker` instead of the process-wide
    /// [`tracker()`](crate::tracker()).
    pub fn with_tracker(mut self, tracker: Tracker) -> Self {
        self.tracker = tracker;
        self
    }

    /// Also shut down (with the same drain) when `signal` completes.
    pub fn with_shutdown_signal<F>(mut self, signal: F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.shutdown_signal = Some(Box::pin(signal));
        self
    }

    /// The tracker this server records activity on.
    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    ///
    /// As [`Listener::local_addr`].
    pub fn local_addr(&self) -> io::Result<ListenAddr> {
        self.listener.local_addr()
    }

    pub(crate) fn with_boxed_hook(mut self, hook: Hook) -> Self {
        self.hook = Some(hook);
        self
    }

    pub(crate) fn with_signals(mut self, signals: Signals, activated: bool) -> Self {
        self.signals = Some(signals);
        self.activated = activated;
        self
    }
}

impl Serve<axum::Router> {
    /// Serve the tracker's [`Status`](crate::Status) as JSON at `path` (for
    /// example `/_idle`). Requests to it never count as activity, and it
    /// changes nothing. It takes precedence over a route of the router at
    /// the same path. Off by default.
    ///
    /// Call it after [`with_tracker`](Serve::with_tracker) if you use both.
    pub fn with_status_route(mut self, path: &str) -> Self {
        let handler = crate::status::route_handler(self.tracker.clone());
        let user = std::mem::take(&mut self.service);
        self.service = axum::Router::new()
            .route(path, axum::routing::get(handler))
            .fallback_service(user.with_state(()));
        self.config.ignore.push(path.to_owned());
        self
    }
}

impl<S> std::fmt::Debug for Serve<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serve")
            .field("listener", &self.listener)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S, B> IntoFuture for Serve<S>
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    type Output = io::Result<ShutdownReport>;
    type IntoFuture = ServeFuture;

    fn into_future(self) -> Self::IntoFuture {
        ServeFuture(Box::pin(run(self)))
    }
}

/// The future of an awaited [`Serve`].
#[must_use = "futures do nothing unless polled"]
pub struct ServeFuture(Pin<Box<dyn Future<Output = io::Result<ShutdownReport>> + Send>>);

impl Future for ServeFuture {
    type Output = io::Result<ShutdownReport>;

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

impl std::fmt::Debug for ServeFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeFuture").finish_non_exhaustive()
    }
}

async fn run<S, B>(serve: Serve<S>) -> io::Result<ShutdownReport>
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let Serve {
        listener,
        service,
        tracker,
        config,
        shutdown_signal,
        hook,
        signals,
        activated,
    } = serve;
    let (grace, mode) = (config.grace, config.mode);
    let mut signals = match signals {
        Some(signals) => signals,
        None => Signals::new()?,
    };
    let mut shutdown_signal =
        shutdown_signal.unwrap_or_else(|| Box::pin(std::future::pending::<()>()));
    let layer = ActivityLayer::new(tracker.clone())
        .ignore(config.ignore.iter().cloned())
        .ignore_headers(config.ignore_headers.iter().cloned());
    let connections = Connections {
        service: finalized(service),
        layer,
        builder: http_builder(),
        open: Arc::default(),
    };

    // The idle clock starts when the server can be reached.
    let started = Instant::now();
    tracker.touch();
    tracker.set_serving(Serving { started, mode }, &config);
    log::listening(&log::Listening {
        addr: &listener.local_addr()?,
        timeout: tracker.timeout_in_force(),
        timeout_source: tracker.timeout_source(),
        grace,
        activated,
        mode,
        mode_reason: config.mode_reason(),
    });
    notify_systemd(sd_notify::NotifyState::Ready);

    // The watchdog and the maximum lifetime run on a thread of their own,
    // off this runtime (see `TimerThread`); each is `None` when it is off.
    let timers = TimerThread::start()?;
    let watchdog = |tracker: Tracker| match mode {
        IdleMode::Exit => Some(timers.spawn(async move { wait_idle_in_force(&tracker).await })),
        IdleMode::DrainOnly => None,
    };
    let mut idle = watchdog(tracker.clone());
    let mut lifetime = config
        .max_lifetime
        .and_then(|lifetime| started.checked_add(lifetime))
        .map(|end| timers.spawn(tokio::time::sleep_until(end)));
    let mut accept_errors = AcceptErrors::default();
    let reason = loop {
        tokio::select! {
            // Every reason to stop comes before accepting, and each costs
            // nothing to poll, so no pattern of accepts (a flood of
            // connections, a storm of failing accepts) can delay them.
            biased;
            reason = signals.recv() => break reason,
            () = fired(&mut lifetime) => break ShutdownReason::MaxLifetime,
            () = &mut shutdown_signal => break ShutdownReason::Requested,
            () = fired(&mut idle) => {
                // A last look at the accept queue: a client that connected
                // before the deadline is served, and its request postpones
                // the exit, rather than being dropped with the listener.
                match accept_now(&listener) {
                    Some(stream) => {
                        connections.spawn(stream);
                        idle = watchdog(tracker.clone());
                    }
                    None => break ShutdownReason::Idle,
                }
            }
            accepted = listener.accept(), if accept_errors.may_accept() => match accepted {
                Ok(stream) => connections.spawn(stream),
                Err(error) => accept_errors.failed(error),
            },
            () = accept_errors.pause(), if !accept_errors.may_accept() => accept_errors.resume(),
        }
    };

    // Stop accepting. Under socket activation the activator still holds the
    // socket, so connections arriving from now on wait for the next start.
    drop(listener);
    tracker.mark_shutdown();
    notify_systemd(sd_notify::NotifyState::Stopping);
    log::shutdown_started(reason, tracker.timeout_in_force(), tracker.active());

    let open = connections.open;
    let drain = async {
        open.drain().await;
        tracker.wait_inactive().await;
    };
    // What the drain cut short: connections still open (each with work in
    // flight: idle ones are closed at once), and activities held outside any
    // connection (keep-awake guards, HTTP/1.1 WebSockets).
    let abandoned = || open.count() as u64 + tracker.held();
    let drain = tokio::select! {
        biased;
        _ = signals.recv() => Drain::Forced { abandoned: abandoned() },
        () = drain => Drain::Complete,
        () = tokio::time::sleep(grace) => Drain::GraceExpired { abandoned: abandoned() },
    };
    // Requests cut short are not "served": take the count before their
    // connections are dropped.
    let requests = tracker.requests();
    log::drain_finished(drain, grace);

    let hook = match (hook, drain) {
        (None, _) => HookOutcome::NotSet,
        (Some(_), Drain::Forced { .. }) => HookOutcome::Skipped,
        (Some(hook), _) => {
            // A task of its own, so that a panic in it is caught.
            let task = tokio::spawn(hook(reason));
            let abort = task.abort_handle();
            let outcome = tokio::select! {
                biased;
                _ = signals.recv() => HookOutcome::Interrupted,
                joined = task => match joined {
                    Ok(()) => HookOutcome::Completed,
                    Err(_) => HookOutcome::Panicked,
                },
                () = tokio::time::sleep(grace) => HookOutcome::TimedOut,
            };
            abort.abort();
            outcome
        }
    };
    log::hook_finished(hook, grace);

    let report = ShutdownReport {
        reason,
        drain,
        hook,
        uptime: started.elapsed(),
        requests,
    };
    tracker.save_state();
    log::exiting(&report, tracker.timeout_in_force());
    Ok(report)
}

/// hyper's HTTP/1.1 and HTTP/2 server, with upgrades (WebSockets over both,
/// HTTP/2 extended `CONNECT` included, as `axum::serve` has them).
///
/// HTTP/2 streams buffer at most 64 KiB of a response beyond what the
/// client's window lets out (hyper's default is 400 KiB): what is still
/// buffered when a response's activity ends, and could be cut by a drain.
fn http_builder() -> auto::Builder<Executor> {
    let mut builder = auto::Builder::new(Executor);
    // No hyper timer for HTTP/1: it would arm a header-read timer on every
    // request. The first request is bounded per connection (see
    // `Connections::spawn`), later heads by the idle clock.
    builder.http1().header_read_timeout(None);
    builder
        .http2()
        .timer(TokioTimer::new())
        .enable_connect_protocol()
        .max_send_buf_size(64 * 1024);
    builder
}

/// Everything needed to serve one more accepted connection.
struct Connections<S> {
    service: S,
    layer: ActivityLayer,
    builder: auto::Builder<Executor>,
    /// The connection tasks, and the signal that drains them.
    open: Arc<OpenConnections>,
}

impl<S, B> Connections<S>
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    /// Serves `stream` on a task of its own until it closes.
    fn spawn(&self, stream: Stream) {
        let tracker = self.layer.tracker();
        // The timeout in force now bounds this connection's split heads.
        let conn = Conn::accepted(tracker, tracker.timeout_in_force());
        let service =
            ConnectionService::new(self.service.clone(), self.layer.clone(), conn.clone());
        let io = TokioIo::new(TrackedIo::new(stream, conn.clone()));
        let connection = self
            .builder
            .serve_connection_with_upgrades(io, service)
            .into_owned();
        tokio::spawn(ConnectionTask::new(connection, conn, &self.open));
    }
}

/// An [`axum::Router`] with its handlers turned into routes once, as
/// `axum::serve` does, rather than on every request; any other service as
/// it is.
fn finalized<S: 'static>(mut service: S) -> S {
    if let Some(router) = (&mut service as &mut dyn std::any::Any).downcast_mut::<axum::Router>() {
        *router = std::mem::take(router).with_state(());
    }
    service
}

/// Resolves when the timer's task has finished; never if there is none.
async fn fired(timer: &mut Option<JoinHandle<()>>) {
    match timer {
        // An error means the timer thread has gone, which only happens once
        // `serve` drops it: not reached while the loop runs.
        Some(task) => drop(task.await),
        None => std::future::pending().await,
    }
}

/// Takes a connection already waiting in the accept queue, without waiting.
fn accept_now(listener: &Listener) -> Option<Stream> {
    let mut cx = Context::from_waker(Waker::noop());
    match listener.poll_accept(&mut cx) {
        Poll::Ready(Ok(stream)) => Some(stream),
        Poll::Ready(Err(_)) | Poll::Pending => None,
    }
}

/// Tells systemd (`Type=notify` units) about a state change; does nothing
/// unless `NOTIFY_SOCKET` is set. A failure is not fatal: it is logged.
fn notify_systemd(state: sd_notify::NotifyState<'_>) {
    if let Err(error) = sd_notify::notify(&[state]) {
        tracing::warn!(target: "idle_runtime", %error, "cannot notify systemd (NOTIFY_SOCKET)");
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
    paused_until: Option<Instant>,
    last_report: Option<Instant>,
    unreported: u64,
}

impl AcceptErrors {
    const PAUSE: Duration = Duration::from_millis(50);
    const REPORT_EVERY: Duration = Duration::from_secs(10);

    fn may_accept(&self) -> bool {
        self.paused_until.is_none()
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
        self.paused_until = Some(now + Self::PAUSE);
        self.unreported += 1;
        if self
            .last_report
            .is_none_or(|last| now.duration_since(last) >= Self::REPORT_EVERY)
        {
            log::accept_failed(&error, self.unreported);
            self.last_report = Some(now);
            self.unreported = 0;
        }
    }

    async fn pause(&self) {
        if let Some(until) = self.paused_until {
            tokio::time::sleep_until(until).await;
        }
    }

    fn resume(&mut self) {
        self.paused_until = None;
    }
}
