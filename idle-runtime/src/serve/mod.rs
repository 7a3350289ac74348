//! Serving until idle or signalled, then draining: [`serve`] and [`Serve`].
//!
//! `run` is the README's "Shutdown and exit codes" in order, one file per
//! step:
//!
//! - `accept.rs`: listen, and accept connections until a reason to stop
//!   (idleness, SIGTERM, SIGINT, the maximum lifetime, the user's signal);
//! - `connection/`: what one connection's activity is: before its first
//!   request, each request, partial heads, unwritten bytes, upgrades;
//! - `drain.rs`: stop accepting, drain within `grace`, the hook, the report;
//! - `lines.rs`: the lifecycle lines and systemd's notifications.

mod accept;
mod connection;
mod drain;
mod lines;

use std::convert::Infallible;
use std::error::Error as StdError;
use std::future::{Future, IntoFuture};
use std::io;
use std::pin::Pin;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tokio::time::Instant;
use tower_service::Service;

use self::accept::Stops;
use self::connection::Connections;
use crate::listener::Listener;
use crate::shutdown::{ShutdownReason, ShutdownReport, Signals};
use crate::{ActivityLayer, Config, ListenAddr, Tracker};

/// Serves `service` on `listener` until the server has been idle for the
/// timeout, or SIGTERM or SIGINT arrives; then drains and returns.
///
/// `service` is typically an [`axum::Router`]. Each request counts as
/// activity as the [`ActivityLayer`] counts it, with the connection's own
/// activity besides (see the crate docs): there is nothing to add. Give the
/// returned [`Serve`] its settings with [`with_config`](Serve::with_config),
/// add hooks with its other `with_*` methods, then `.await` it.
///
/// The service gets what `axum::serve` gives it: `Request<axum::body::Body>`,
/// and the peer's address as [`ConnectInfo`](axum::extract::ConnectInfo):
/// `ConnectInfo<SocketAddr>` over TCP (as with
/// `into_make_service_with_connect_info::<SocketAddr>()`), and
/// `ConnectInfo<tokio::net::unix::SocketAddr>` over a Unix socket (the
/// address axum's `serve` gives for a `UnixListener`).
///
/// Responses may have any body whose data is [`Bytes`](bytes::Bytes), as
/// axum's and tower-http's bodies are (`axum::serve` takes axum's body
/// only), a bound checked where the [`Serve`] is awaited. The body's frames
/// reach hyper as they are. A body of other data is mapped first, e.g. with
/// `http_body_util::BodyExt`:
/// `body.map_frame(|frame| frame.map_data(|mut data| data.copy_to_bytes(data.remaining())))`.
///
/// ```
/// use std::net::SocketAddr;
/// use axum::{extract::ConnectInfo, routing::get, Router};
///
/// async fn whoami(ConnectInfo(peer): ConnectInfo<SocketAddr>) -> String {
///     format!("you are {peer}")
/// }
///
/// let app: Router = Router::new().route("/whoami", get(whoami));
/// ```
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
/// or an [`io::Error`] if the signal handlers cannot be installed, the
/// watchdog's thread cannot be started, or the listener's address cannot be
/// read.
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
        status_path: None,
    }
}

/// A shutdown hook, boxed: see [`Serve::with_shutdown_hook`].
pub(crate) type Hook =
    Box<dyn FnOnce(ShutdownReason) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// A server that has not started yet; see [`serve`]. Await it to run it.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use idle_runtime::{Config, Listener, ShutdownReason};
///
/// # async fn example(listener: Listener, app: axum::Router) -> std::io::Result<()> {
/// let config = Config::default().with_timeout(Duration::from_secs(60));
/// let report = idle_runtime::serve(listener, app)
///     .with_config(&config)
///     .with_status_route("/_idle")
///     .with_shutdown_hook(|reason: ShutdownReason| async move {
///         eprintln!("stopping: {reason}");
///     })
///     .await?;
/// # Ok(())
/// # }
/// ```
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
    /// The status route's path, never counted as activity (kept apart from
    /// `config`, which `with_config` replaces whole).
    status_path: Option<String>,
}

impl<S> Serve<S> {
    /// Takes the settings from `config`: `timeout` (or the adaptive
    /// timeout), `grace`, `ignore`, `ignore_headers`, `mode` and
    /// `max_lifetime` (`addr` is for binding, see [`bind`](crate::bind)).
    /// Default: [`Config::default`].
    ///
    /// This is the one way to set them. A [`Config`] is the value that
    /// [`Config::apply_env`] overrides from the environment, that
    /// [`bind`](crate::bind) takes its address from and that
    /// `#[idle_server]` builds from its keys, so it is passed whole, as
    /// tower-http's layers take their settings from their own builders. The
    /// other `with_*` methods of `Serve` add what is not a setting (a
    /// tracker, a shutdown signal as in axum's `with_graceful_shutdown`, a
    /// hook, a status route).
    pub fn with_config(mut self, config: &Config) -> Self {
        self.config.clone_from(config);
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
        self.status_path = Some(path.to_owned());
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
    S: Service<Request<axum::body::Body>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    type Output = io::Result<ShutdownReport>;
    type IntoFuture = ServeFuture;

    fn into_future(self) -> Self::IntoFuture {
        ServeFuture(Box::pin(run(self)))
    }
}

/// What [`serve`] can serve: the bounds of `Serve`'s `IntoFuture`, named
/// once for the functions inside (a public impl cannot use a private
/// trait, so `IntoFuture` spells them out).
pub(crate) trait HttpService:
    Service<
        Request<axum::body::Body>,
        Response = Response<Self::ResBody>,
        Error = Infallible,
        Future = Self::Fut,
    > + Clone
    + Send
    + 'static
{
    /// The response body.
    type ResBody: Body<Data = Bytes, Error: Into<Box<dyn StdError + Send + Sync>>> + Send + 'static;
    /// The response future.
    type Fut: Future<Output = Result<Response<Self::ResBody>, Infallible>> + Send + 'static;
}

impl<S, B> HttpService for S
where
    S: Service<Request<axum::body::Body>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    type ResBody = B;
    type Fut = S::Future;
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

/// The README's "Shutdown and exit codes", step by step.
async fn run<S: HttpService>(serve: Serve<S>) -> io::Result<ShutdownReport> {
    let Serve {
        listener,
        service,
        tracker,
        config,
        shutdown_signal,
        hook,
        signals,
        activated,
        status_path,
    } = serve;
    let mut signals = match signals {
        Some(signals) => signals,
        None => Signals::new()?,
    };
    let mut stops = Stops::new(&tracker, &config, shutdown_signal).await?;
    let layer = ActivityLayer::new(tracker.clone())
        .ignore(config.ignore.iter().cloned().chain(status_path))
        .ignore_headers(config.ignore_headers.iter().cloned());
    let mut connections = Connections::new(service, layer);

    // Serve until a reason to stop.
    let started = Instant::now();
    accept::listening(&listener, &tracker, &config, started, activated)?;
    stops.arm(started);
    let reason = accept::until_stopped(&listener, &mut connections, &mut signals, &mut stops).await;

    // 1. Stop accepting connections.
    drain::stop_accepting(listener, &tracker, reason);
    // 2, 3. Let what runs finish, for at most `grace`.
    let grace = config.grace;
    let drain = drain::drain(connections.open(), &tracker, grace, &mut signals).await;
    let requests = (tracker.requests(), tracker.requests_cut());
    // 4. The hook, for at most another `grace`.
    let hook = drain::run_hook(hook, drain, reason, grace, &mut signals).await;
    // 5. One line, and the report.
    Ok(drain::report(
        &tracker, reason, drain, hook, started, requests,
    ))
}

#[cfg(test)]
mod tests {
    use std::future::IntoFuture;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use crate::{serve, Config, ShutdownReason, Tracker};

    async fn listener() -> TcpListener {
        TcpListener::bind("127.0.0.1:0").await.unwrap()
    }

    /// `GET /` answers "hello".
    fn hello() -> axum::Router {
        axum::Router::new().route("/", axum::routing::get(|| async { "hello" }))
    }

    /// Under a current-thread runtime the watchdog runs on that runtime, so
    /// a paused clock (`start_paused`) is the clock it reads, as the
    /// tracker's is: the exit comes at once in real time, after exactly
    /// the timeout in virtual time.
    #[tokio::test(start_paused = true)]
    async fn a_server_on_a_paused_clock_exits_on_that_clock() {
        let wall = std::time::Instant::now();
        let report = serve(listener().await, axum::Router::new())
            .with_tracker(Tracker::new())
            .with_config(&Config::default().with_timeout(Duration::from_secs(300)))
            .await
            .unwrap();
        assert_eq!(report.reason, ShutdownReason::Idle);
        assert!(
            report.uptime >= Duration::from_secs(300),
            "{:?}",
            report.uptime
        );
        assert!(
            wall.elapsed() < Duration::from_secs(10),
            "{:?}",
            wall.elapsed()
        );
    }

    /// A connection that sends no request within 30 s is closed, silently
    /// (the idle clock does not move); one that has sent a request stays
    /// open, however long it then waits.
    #[tokio::test(start_paused = true)]
    async fn a_connection_is_closed_only_if_no_request_comes_within_30s() {
        let tracker = Tracker::new();
        let listener = listener().await;
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(
            serve(listener, hello())
                .with_tracker(tracker.clone())
                .with_config(&Config::default().with_timeout(Duration::from_secs(600)))
                .into_future(),
        );
        let mut silent = TcpStream::connect(addr).await.unwrap();
        let mut spoken = TcpStream::connect(addr).await.unwrap();
        while tracker.active() < 2 {
            tokio::task::yield_now().await;
        }
        spoken
            .write_all(b"GET / HTTP/1.1\r\nhost: idle\r\n\r\n")
            .await
            .unwrap();
        let mut response = [0; 1024];
        let n = spoken.read(&mut response).await.unwrap();
        assert!(response[..n].starts_with(b"HTTP/1.1 200"));
        let answered = tokio::time::Instant::now();

        // The bound fires after 30 to 35 s of silence.
        tokio::time::sleep(Duration::from_secs(36)).await;
        let closed = tokio::time::timeout(Duration::from_secs(1), silent.read(&mut response)).await;
        assert!(matches!(closed, Ok(Ok(0))), "not closed: {closed:?}");
        assert_eq!(tracker.active(), 0);
        let idle_since = tracker.idle_since().unwrap();
        assert!(
            idle_since <= answered + Duration::from_millis(1),
            "the silent connection moved the idle clock {:?} past the answer",
            idle_since - answered
        );
        let still_open = spoken.try_read(&mut response);
        assert!(
            matches!(&still_open, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "{still_open:?}"
        );
        server.abort();
    }

    /// A server with a body route and a slow route, on a paused clock.
    async fn body_server(tracker: &Tracker) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
        use axum::routing::{get, post};
        let listener = listener().await;
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route(
                "/upload",
                post(|body: bytes::Bytes| async move { body.len().to_string() }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    "slept"
                }),
            );
        let tracker = tracker.clone();
        let server = tokio::spawn(async move {
            let _ = serve(listener, app)
                .with_tracker(tracker)
                .with_config(&Config::default().with_timeout(Duration::from_secs(600)))
                .await;
        });
        (addr, server)
    }

    /// A request body that never comes: 30 to 35 s later the client gets a
    /// 408, the connection is closed, and the request counts as cut.
    #[tokio::test(start_paused = true)]
    async fn a_request_body_that_never_comes_is_cut_with_a_408() {
        let tracker = Tracker::new();
        let (addr, server) = body_server(&tracker).await;
        let mut client = TcpStream::connect(addr).await.unwrap();
        client
            .write_all(
                b"POST /upload HTTP/1.1\r\nhost: idle\r\ncontent-length: 100\r\n\r\n0123456789",
            )
            .await
            .unwrap();
        let asked = tokio::time::Instant::now();
        let mut response = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(60), client.read_to_end(&mut response)).await;
        let waited = asked.elapsed();
        assert!(read.is_ok(), "still open after 60 s");
        let text = String::from_utf8_lossy(&response);
        assert!(text.starts_with("HTTP/1.1 408"), "{text:?}");
        assert!(
            (Duration::from_secs(30)..=Duration::from_secs(36)).contains(&waited),
            "{waited:?}"
        );
        assert_eq!(tracker.active(), 0);
        assert_eq!((tracker.requests(), tracker.requests_cut()), (0, 1));
        server.abort();
    }

    /// A body that arrives is read, however long the client took to start
    /// sending it; a handler that is slow on its own is never cut, though
    /// its client sends nothing for 60 s.
    #[tokio::test(start_paused = true)]
    async fn a_slow_handler_with_a_silent_client_is_not_a_stall() {
        let tracker = Tracker::new();
        let (addr, server) = body_server(&tracker).await;
        let mut client = TcpStream::connect(addr).await.unwrap();
        client
            .write_all(b"POST /upload HTTP/1.1\r\nhost: idle\r\ncontent-length: 4\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(20)).await;
        client.write_all(b"abcd").await.unwrap();
        let mut response = [0; 1024];
        let n = client.read(&mut response).await.unwrap();
        let text = String::from_utf8_lossy(&response[..n]).into_owned();
        assert!(
            text.starts_with("HTTP/1.1 200") && text.ends_with("\r\n\r\n4"),
            "{text:?}"
        );

        client
            .write_all(b"GET /slow HTTP/1.1\r\nhost: idle\r\n\r\n")
            .await
            .unwrap();
        let n = tokio::time::timeout(Duration::from_secs(90), client.read(&mut response))
            .await
            .expect("answered")
            .unwrap();
        let text = String::from_utf8_lossy(&response[..n]).into_owned();
        assert!(
            text.starts_with("HTTP/1.1 200") && text.ends_with("slept"),
            "{text:?}"
        );
        assert_eq!((tracker.requests(), tracker.requests_cut()), (2, 0));
        server.abort();
    }

    /// Handlers get the peer's address as `ConnectInfo`, over TCP and over
    /// a Unix socket, as under `axum::serve`.
    #[tokio::test]
    async fn handlers_get_the_peer_as_connect_info() {
        use axum::extract::ConnectInfo;
        use axum::routing::get;

        let listener = listener().await;
        let addr = listener.local_addr().unwrap();
        let app =
            axum::Router::new().route(
                "/peer",
                get(
                    |ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>| async move {
                        peer.to_string()
                    },
                ),
            );
        let server = tokio::spawn(
            serve(listener, app)
                .with_tracker(Tracker::new())
                .into_future(),
        );
        let client = TcpStream::connect(addr).await.unwrap();
        let local = client.local_addr().unwrap();
        assert_eq!(get_peer(client).await, local.to_string());
        server.abort();

        #[cfg(unix)]
        {
            let dir = std::env::temp_dir().join(format!("idle-peer-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("s.sock");
            let _ = std::fs::remove_file(&path);
            let listener = tokio::net::UnixListener::bind(&path).unwrap();
            let app = axum::Router::new().route(
                "/peer",
                get(
                    |ConnectInfo(peer): ConnectInfo<tokio::net::unix::SocketAddr>| async move {
                        format!("unnamed: {}", peer.is_unnamed())
                    },
                ),
            );
            let server = tokio::spawn(
                serve(listener, app)
                    .with_tracker(Tracker::new())
                    .into_future(),
            );
            let client = tokio::net::UnixStream::connect(&path).await.unwrap();
            assert_eq!(get_peer(client).await, "unnamed: true");
            server.abort();
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    /// `GET /peer` on its own connection: the body of the 200 response.
    async fn get_peer<S: AsyncReadExt + AsyncWriteExt + Unpin>(mut client: S) -> String {
        client
            .write_all(b"GET /peer HTTP/1.1\r\nhost: idle\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        client.read_to_string(&mut response).await.unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or_default();
        assert!(head.starts_with("HTTP/1.1 200"), "{response:?}");
        body.to_owned()
    }

    /// `GET /` on a connection of its own, with `Connection: close`: whether
    /// the answer was a 200; `None` if there was no answer (refused, reset,
    /// or closed by a drain before the request came in, as the README's
    /// section on proxies says).
    async fn get_once(addr: std::net::SocketAddr) -> Option<bool> {
        let mut client = TcpStream::connect(addr).await.ok()?;
        client
            .write_all(b"GET / HTTP/1.1\r\nhost: idle\r\nconnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut response = Vec::new();
        client.read_to_end(&mut response).await.ok()?;
        if response.is_empty() {
            return None;
        }
        Some(response.starts_with(b"HTTP/1.1 200"))
    }

    /// The shutdown signal stops the server while clients keep connecting
    /// (the accept loop polls the reasons to stop only when one of them has
    /// woken it, here from another thread), and every answer is a 200.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_shutdown_signal_stops_a_server_that_keeps_accepting() {
        let listener = listener().await;
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(
            serve(listener, hello())
                .with_tracker(Tracker::new())
                .with_shutdown_signal(async move {
                    let _ = stopped.await;
                })
                .into_future(),
        );
        let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let clients = tokio::spawn({
            let answered = answered.clone();
            async move {
                loop {
                    match get_once(addr).await {
                        Some(true) => answered.fetch_add(1, Ordering::Relaxed),
                        Some(false) => panic!("an answer other than 200"),
                        // The server has stopped accepting.
                        None => return,
                    };
                }
            }
        });
        // The signal comes while the clients keep connecting.
        tokio::time::timeout(Duration::from_secs(10), async {
            while answered.load(Ordering::Relaxed) < 20 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("20 connections answered within 10 s");
        stop.send(()).unwrap();
        let report = tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("stopped within 10 s of the signal")
            .unwrap()
            .unwrap();
        assert_eq!(report.reason, ShutdownReason::Requested);
        tokio::time::timeout(Duration::from_secs(10), clients)
            .await
            .expect("the clients see the server stop")
            .unwrap();
        assert_eq!(report.cut, 0);
    }

    /// A shutdown signal that comes while the accept loop waits (after a
    /// request, with no connection pending) wakes it.
    #[tokio::test(start_paused = true)]
    async fn the_shutdown_signal_wakes_a_waiting_accept_loop() {
        let listener = listener().await;
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(
            serve(listener, hello())
                .with_tracker(Tracker::new())
                .with_config(&Config::default().with_timeout(Duration::from_secs(600)))
                .with_shutdown_signal(tokio::time::sleep(Duration::from_secs(60)))
                .into_future(),
        );
        assert_eq!(get_once(addr).await, Some(true));
        let report = tokio::time::timeout(Duration::from_secs(120), server)
            .await
            .expect("stopped by the signal")
            .unwrap()
            .unwrap();
        assert_eq!(report.reason, ShutdownReason::Requested);
        assert_eq!(report.requests, 1);
        assert!(
            (Duration::from_secs(60)..Duration::from_secs(61)).contains(&report.uptime),
            "{:?}",
            report.uptime
        );
    }
}
