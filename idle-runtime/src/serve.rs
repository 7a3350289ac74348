//! Serving until idle or signalled, then draining.
//!
//! [`serve`] runs one accept loop and one drain path for every trigger:
//!
//! 1. Accept connections and serve HTTP/1.1 and HTTP/2 (with upgrades, so
//!    WebSockets work) through the [`ActivityLayer`]. An accepted connection
//!    counts as activity until it sends its first request, so a client that
//!    has connected but not yet spoken is never cut off by an idle shutdown.
//!    A connection that sends no request within 30 s is closed, which bounds
//!    how long a silent client can keep the server awake. That is one timer
//!    per connection; later requests on a keep-alive connection get no
//!    header timer, as with `axum::serve` (a per-request timer costs an
//!    allocation and a timer-wheel insertion on every request).
//! 2. Stop on the first of: [`Tracker::wait_idle`] (unless the mode is
//!    [`IdleMode::DrainOnly`]), SIGTERM, SIGINT, the maximum lifetime, or the
//!    future given to [`Serve::with_shutdown_signal`]. The accept loop is
//!    polled before the watchdog, so a connection already waiting in the
//!    kernel's queue when the deadline passes is accepted and served instead
//!    of being dropped.
//! 3. Close the listener, tell every connection to finish its current request
//!    and close (idle keep-alive connections close at once), and wait for the
//!    connections and for every activity (including keep-awake guards) to end,
//!    at most `grace`. A second signal ends the wait at once.
//! 4. Run the shutdown hook, if any, for at most another `grace`.
//!
//! Under systemd (`NOTIFY_SOCKET` set) it sends `READY=1` once listening and
//! `STOPPING=1` when the drain starts, so `Type=notify` units work.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderName, Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

use crate::layer::ActivityService;
use crate::shutdown::{Drain, HookOutcome, ShutdownReason, ShutdownReport, Signals};
use crate::tracker::Serving;
use crate::{log, ActivityLayer, Config, IdleMode, Tracker};

/// How long a new connection may take to send its first request before it is
/// closed (hyper's default header-read timeout).
const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

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
///     let listener = tokio::net::TcpListener::bind(config.addr).await?;
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
pub fn serve<S>(listener: TcpListener, service: S) -> Serve<S> {
    Serve {
        listener,
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
    listener: TcpListener,
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
    /// As [`TcpListener::local_addr`].
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
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
            .fallback_service(user);
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
    let service = layer.layer(service);

    let mut builder = auto::Builder::new(TokioExecutor::new());
    // No hyper timer for HTTP/1: it would arm a header-read timer on every
    // request. The first request is bounded per connection below.
    builder.http1().header_read_timeout(None);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();

    // The idle clock starts when the server can be reached.
    let started = Instant::now();
    tracker.touch();
    tracker.set_serving(Serving { started, mode }, &config);
    log::listening(&log::Listening {
        addr: listener.local_addr()?,
        timeout: tracker.timeout_in_force(),
        timeout_source: tracker.timeout_source(),
        grace,
        activated,
        mode,
        mode_reason: config.mode_reason(),
    });
    notify_systemd(sd_notify::NotifyState::Ready);

    let idle = async {
        match mode {
            IdleMode::Exit => crate::watchdog::wait_idle_in_force(&tracker).await,
            IdleMode::DrainOnly => std::future::pending().await,
        }
    };
    tokio::pin!(idle);
    let lifetime = async {
        match config
            .max_lifetime
            .and_then(|lifetime| started.checked_add(lifetime))
        {
            Some(end) => tokio::time::sleep_until(end).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(lifetime);
    let reason = loop {
        tokio::select! {
            // Signals first: the platform wants us gone. Then the accept
            // queue, so that a connection waiting when the idle deadline
            // passes is served rather than dropped. The watchdog last.
            biased;
            reason = signals.recv() => break reason,
            () = &mut lifetime => break ShutdownReason::MaxLifetime,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    let unanswered = Arc::new(Unanswered::new(layer.tracker()));
                    let service = ConnectionService {
                        inner: TowerToHyperService::new(service.clone()),
                        layer: layer.clone(),
                        unanswered: unanswered.clone(),
                    };
                    let connection = builder
                        .serve_connection_with_upgrades(
                            TrackedIo::new(TokioIo::new(stream), layer.tracker()),
                            service,
                        )
                        .into_owned();
                    let connection = graceful.watch(connection);
                    tokio::spawn(async move {
                        tokio::pin!(connection);
                        let first = tokio::select! {
                            result = &mut connection => Some(result),
                            () = tokio::time::sleep(FIRST_REQUEST_TIMEOUT) => None,
                        };
                        let result = match first {
                            Some(result) => result,
                            // Silent for too long: close it (dropping the
                            // connection ends its activity, silently).
                            None if unanswered.is_pending() => {
                                tracing::debug!(target: "idle_runtime", "no request within 30s; closing the connection");
                                return;
                            }
                            None => connection.await,
                        };
                        if let Err(error) = result {
                            tracing::debug!(target: "idle_runtime", %error, "connection error");
                        }
                    });
                }
                Err(error) => accept_error(error).await,
            },
            () = &mut shutdown_signal => break ShutdownReason::Requested,
            () = &mut idle => break ShutdownReason::Idle,
        }
    };

    // Stop accepting. Under socket activation the activator still holds the
    // socket, so connections arriving from now on wait for the next start.
    drop(listener);
    tracker.mark_shutdown();
    notify_systemd(sd_notify::NotifyState::Stopping);
    log::shutdown_started(reason, tracker.timeout_in_force(), tracker.active());

    let drain = async {
        graceful.shutdown().await;
        tracker.wait_inactive().await;
    };
    let drain = tokio::select! {
        biased;
        _ = signals.recv() => Drain::Forced { abandoned: tracker.active() },
        () = drain => Drain::Complete,
        () = tokio::time::sleep(grace) => Drain::GraceExpired { abandoned: tracker.active() },
    };
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
        requests: tracker.requests(),
    };
    tracker.save_state();
    log::exiting(&report, tracker.timeout_in_force());
    Ok(report)
}

/// Tells systemd (`Type=notify` units) about a state change; does nothing
/// unless `NOTIFY_SOCKET` is set. A failure is not fatal: it is logged.
fn notify_systemd(state: sd_notify::NotifyState<'_>) {
    if let Err(error) = sd_notify::notify(&[state]) {
        tracing::warn!(target: "idle_runtime", %error, "cannot notify systemd (NOTIFY_SOCKET)");
    }
}

/// Errors from `accept` concern one connection (the client gave up before we
/// took it) or the process (out of file descriptors). Neither should stop the
/// server; the second needs a pause so that the loop does not spin.
async fn accept_error(error: io::Error) {
    match error.kind() {
        io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionRefused
        | io::ErrorKind::Interrupted => {}
        _ => {
            tracing::error!(target: "idle_runtime", %error, "accept failed; retrying in 50ms");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The per-connection service: hyper's view of the tower service, plus the
/// connection's own activity, held from accept until its first request.
///
/// That activity keeps the idle decision from cutting off a client that has
/// connected but whose request has not arrived yet. When the first request
/// arrives it ends, restarting the idle clock if the request counts (the
/// request then carries its own activity); when the request is to an ignored
/// path, or the connection closes without one (a TCP health check, a port
/// scan), it ends without touching the idle clock, so it never counts.
struct ConnectionService<S> {
    inner: TowerToHyperService<ActivityService<S>>,
    layer: ActivityLayer,
    /// Shared with the connection's task, which closes a connection that
    /// stays silent too long.
    unanswered: Arc<Unanswered>,
}

impl<S, B> hyper::service::Service<Request<Incoming>> for ConnectionService<S>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone,
{
    type Response = <TowerToHyperService<ActivityService<S>> as hyper::service::Service<
        Request<Incoming>,
    >>::Response;
    type Error = S::Error;
    type Future = <TowerToHyperService<ActivityService<S>> as hyper::service::Service<
        Request<Incoming>,
    >>::Future;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        if self.unanswered.is_pending() {
            let counts = !self.layer.is_ignored(&request);
            self.unanswered.settle(counts);
        }
        self.inner.call(request)
    }
}

/// The connection's socket, holding an activity while the client is slower
/// than the server: from a write that finds the socket full until the next
/// completed flush.
///
/// hyper takes a buffered body (one large frame) into its write buffer and
/// drops it at once, so the body's own guard ends before the bytes are on
/// the wire; without this, a slow download of a large buffered response
/// would look idle and be cut off by the drain. The fast path (writes that
/// complete) costs one branch; the tracker is touched only when a write
/// blocks.
struct TrackedIo<T> {
    inner: T,
    tracker: Tracker,
    blocked: bool,
}

impl<T> TrackedIo<T> {
    fn new(inner: T, tracker: &Tracker) -> Self {
        TrackedIo {
            inner,
            tracker: tracker.clone(),
            blocked: false,
        }
    }

    fn blocked(&mut self) {
        if !self.blocked {
            self.blocked = true;
            self.tracker.begin();
        }
    }

    fn unblocked(&mut self) {
        if self.blocked {
            self.blocked = false;
            self.tracker.end();
        }
    }
}

impl<T> Drop for TrackedIo<T> {
    fn drop(&mut self) {
        self.unblocked();
    }
}

impl<T: hyper::rt::Read + Unpin> hyper::rt::Read for TrackedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: hyper::rt::Write + Unpin> hyper::rt::Write for TrackedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        if result.is_pending() {
            this.blocked();
        }
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if result.is_pending() {
            this.blocked();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_flush(cx);
        if result.is_ready() {
            // Everything hyper had buffered is written (or failed).
            this.unblocked();
        }
        result
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_shutdown(cx);
        if result.is_ready() {
            this.unblocked();
        }
        result
    }
}

/// An accepted connection's activity until its first request.
struct Unanswered {
    tracker: Tracker,
    pending: AtomicBool,
}

impl Unanswered {
    fn new(tracker: &Tracker) -> Self {
        tracker.begin();
        Unanswered {
            tracker: tracker.clone(),
            pending: AtomicBool::new(true),
        }
    }

    /// One atomic load: the cost on every request after the first.
    fn is_pending(&self) -> bool {
        // Relaxed: the flag only guards against ending twice; the tracker's
        // own word carries the ordering that the watchdog relies on.
        self.pending.load(Ordering::Relaxed)
    }

    fn settle(&self, counts: bool) {
        if self.pending.swap(false, Ordering::Relaxed) {
            if counts {
                self.tracker.end();
            } else {
                self.tracker.end_silently();
            }
        }
    }
}

impl Drop for Unanswered {
    fn drop(&mut self) {
        // Closed without a request: never counted.
        self.settle(false);
    }
}
