//! One connection's activity, as a proxy in front of the server would see
//! it: the server is busy whenever it holds a request it has not finished
//! answering, in any form.
//!
//! The [`ActivityLayer`](crate::ActivityLayer) counts a request from the
//! moment the service is called until its body has been handed to hyper.
//! This module covers what the layer cannot see, on the connection:
//!
//! - **Before the first request.** An accepted connection counts from
//!   accept until its first request (then the request counts), so a client
//!   that has connected but not yet spoken is not cut off. If it closes
//!   without a request, or its first request is ignored, the activity ends
//!   silently: it never moves the idle clock. A connection that sends no
//!   request within 30 s is closed.
//! - **Partial heads on a kept-alive connection (HTTP/1.1).** When the
//!   first bytes of a later request have been read but hyper needs more to
//!   call the service, the idle clock restarts: the head counts from then for
//!   `min(timeout, 30 s)`, and silently stops counting after that (a client
//!   trickling a head cannot hold the server). No timer, no atomic on the
//!   read path: a branch on a field of the socket wrapper, and one
//!   `touch` per split head.
//! - **Bytes not yet written.** From a write that finds the socket full until
//!   the next completed flush, the connection holds an activity: a slow
//!   download of a buffered body stays active until its last byte is on the
//!   wire. A client that accepts no bytes for 30 s is closed, and its
//!   activity ends (logged). For HTTP/2, flow control keeps bytes inside
//!   hyper rather than in the socket; [`TrackedBody`](crate::TrackedBody)
//!   hands large frames to hyper in slices so that the request stays active
//!   while they wait for the client's window.
//! - **Upgrades.** An HTTP/1.1 upgrade (`101 Switching Protocols`, or a
//!   `2xx` to `CONNECT`) counts until the upgraded socket is dropped, and an
//!   HTTP/2 extended `CONNECT` (WebSockets over HTTP/2) until its stream's
//!   pump task ends: no code in the handler.
//!
//! The connection's own socket wrapper is [`TrackedIo`]; the per-connection
//! service (the layered tower service, seen by hyper) is
//! [`ConnectionService`]; hyper's executor is [`Executor`].

use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll, Waker};
use std::time::Duration;

use http::{Method, Request, Response, StatusCode, Version};
use http_body::Body;
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::server::conn::auto::{HttpServerConnExec, UpgradeableConnection};
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::futures::OwnedNotified;
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};
use tower_service::Service;

use crate::{ActivityGuard, ActivityLayer, TrackedBody, Tracker};

/// How long a new connection may take to send its first request, and how
/// long a client may accept no response bytes, before it is closed.
pub(crate) const CONNECTION_BOUND: Duration = Duration::from_secs(30);

/// What a connection turned out to be (bits of [`Conn::kind`]).
const HTTP2: u8 = 1;
const UPGRADED: u8 = 2;

/// The state one connection shares between its socket wrapper, its service
/// and its task. One allocation per connection.
pub(crate) struct Conn {
    tracker: Tracker,
    /// `true` until the first request (or the connection's end) settles the
    /// activity taken at accept.
    unanswered: AtomicBool,
    /// Requests handed to the service so far (wrapping). Written by the
    /// connection's task only (hyper calls the service there); read by the
    /// socket wrapper, in the same task, to tell a partial head from a
    /// request body.
    calls: AtomicU32,
    /// [`HTTP2`] and [`UPGRADED`].
    kind: AtomicU8,
    /// How far back a partial head's `touch` is dated, so that it counts for
    /// `min(timeout, 30 s)`: `timeout - 30 s`, or zero.
    head_back: Duration,
}

impl Conn {
    /// The state of a connection accepted now: it counts as activity until
    /// its first request.
    pub(crate) fn accepted(tracker: &Tracker, timeout: Duration) -> Arc<Conn> {
        tracker.begin();
        Arc::new(Conn {
            tracker: tracker.clone(),
            unanswered: AtomicBool::new(true),
            calls: AtomicU32::new(0),
            kind: AtomicU8::new(0),
            head_back: timeout.saturating_sub(CONNECTION_BOUND),
        })
    }

    /// Whether the connection has not sent a request yet. One relaxed load.
    pub(crate) fn is_unanswered(&self) -> bool {
        // Relaxed: the flag only guards against settling twice (the swap in
        // `settle` decides); the tracker's word orders what the watchdog
        // reads.
        self.unanswered.load(Ordering::Relaxed)
    }

    /// Ends the activity taken at accept: counted if the first request
    /// counts, silently if it is ignored or never came.
    fn settle(&self, counts: bool) {
        if self.unanswered.swap(false, Ordering::Relaxed) {
            if counts {
                self.tracker.end();
            } else {
                self.tracker.end_silently();
            }
        }
    }

    /// hyper is about to call the service with `request`.
    fn called(&self, request: &Request<Incoming>, ignored: bool) {
        if self.is_unanswered() {
            if request.version() == Version::HTTP_2 {
                self.kind.fetch_or(HTTP2, Ordering::Relaxed);
            }
            self.settle(!ignored);
        }
        // Relaxed, and a load and a store rather than a read-modify-write:
        // only this connection's task writes it, and only its socket wrapper,
        // polled by the same task, reads it.
        let calls = self.calls.load(Ordering::Relaxed);
        self.calls.store(calls.wrapping_add(1), Ordering::Relaxed);
    }

    fn kind(&self) -> u8 {
        // Relaxed: set and read by the connection's own task (an HTTP/1.1
        // upgrade is answered in the task that owns the socket).
        self.kind.load(Ordering::Relaxed)
    }

    /// An HTTP/1.1 upgrade took over the socket: it counts until the socket
    /// wrapper is dropped.
    fn upgraded(&self) {
        if self.kind.fetch_or(UPGRADED, Ordering::Relaxed) & UPGRADED == 0 {
            self.tracker.begin_held();
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Closed without a request: never counted.
        self.settle(false);
    }
}

/// Where the socket wrapper is in reading a request head (HTTP/1.1).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Head {
    /// Nothing read since the last response was written.
    Idle,
    /// Bytes read; `calls` was the service's call count then.
    Reading { calls: u32 },
    /// A split head that has restarted the idle clock.
    Counted,
    /// The service was called since the bytes were read; `more`: bytes
    /// were read after that (a body, or the start of the next head, which
    /// must not be forgotten when the response is written).
    Answering { more: bool },
}

/// The connection's socket, tracking partial heads and unwritten bytes.
///
/// Reads and writes that complete cost a branch or two on its own fields;
/// the tracker is touched only when a head is split across reads or a write
/// finds the socket full.
pub(crate) struct TrackedIo<T> {
    inner: T,
    conn: Arc<Conn>,
    head: Head,
    /// A write found the socket full and no flush has completed since: the
    /// connection holds an activity.
    blocked: bool,
    /// Closes the connection if the client accepts no bytes for
    /// [`CONNECTION_BOUND`] while `blocked`. Allocated on the first block;
    /// re-armed when it fires if a write made progress since (cheaper than
    /// resetting the timer on every write).
    stall: Option<Pin<Box<Sleep>>>,
    /// A write made progress since the stall timer was armed.
    progressed: bool,
    /// The stall has been reported (once per connection).
    stalled: bool,
}

impl<T> TrackedIo<T> {
    pub(crate) fn new(inner: T, conn: Arc<Conn>) -> Self {
        TrackedIo {
            inner,
            conn,
            head: Head::Idle,
            blocked: false,
            stall: None,
            progressed: false,
            stalled: false,
        }
    }

    fn read_some(&mut self) {
        match self.head {
            Head::Idle => self.head = self.reading(),
            Head::Answering { more: false } => self.head = Head::Answering { more: true },
            _ => {}
        }
    }

    fn reading(&self) -> Head {
        Head::Reading {
            calls: self.conn.calls.load(Ordering::Relaxed),
        }
    }

    /// hyper wants more bytes. If a head has begun and the service has not
    /// been called since, the head is split across reads: it counts.
    fn read_pending(&mut self) {
        if let Head::Reading { calls } = self.head {
            if calls != self.conn.calls.load(Ordering::Relaxed) {
                self.head = Head::Answering { more: false };
                return;
            }
            self.head = Head::Counted;
            // Not for the first request (the connection's own activity
            // covers it), HTTP/2 (frames, not heads) or upgraded sockets.
            if self.conn.kind() == 0 && !self.conn.is_unanswered() {
                self.conn.tracker.touch_back(self.conn.head_back);
            }
        }
    }

    /// A write returned `Pending`: hold an activity until the next completed
    /// flush, and give up on a client that takes no bytes for too long.
    fn write_pending(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if !self.blocked {
            self.blocked = true;
            self.conn.tracker.begin();
            self.restart_stall();
        }
        loop {
            let stall = self.stall.as_mut().expect("armed when blocked");
            if stall.as_mut().poll(cx).is_pending() {
                return Ok(());
            }
            if !self.progressed {
                break;
            }
            // Bytes went out during the last 30 s: wait 30 s more.
            self.restart_stall();
        }
        if !self.stalled {
            self.stalled = true;
            // Rare, and it ends activity: always visible.
            crate::log::warning(
                "closing a connection whose client accepted no response bytes for 30s",
            );
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client accepted no response bytes for 30s",
        ))
    }

    fn restart_stall(&mut self) {
        self.progressed = false;
        let deadline = Instant::now() + CONNECTION_BOUND;
        match &mut self.stall {
            Some(stall) => stall.as_mut().reset(deadline),
            None => self.stall = Some(Box::pin(tokio::time::sleep_until(deadline))),
        }
    }

    fn unblocked(&mut self) {
        if self.blocked {
            self.blocked = false;
            self.conn.tracker.end();
        }
    }

    fn wrote(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        // Whatever was read before this write belonged to a request that is
        // being answered, except bytes read after its call: they may be the
        // start of the next head, so they are watched as one (at worst a
        // body's bytes cost one `touch` as the request ends).
        self.head = match self.head {
            Head::Answering { more: true } => self.reading(),
            _ => Head::Idle,
        };
        match result {
            Poll::Pending => match self.write_pending(cx) {
                Ok(()) => Poll::Pending,
                Err(error) => Poll::Ready(Err(error)),
            },
            Poll::Ready(Ok(written)) => {
                if self.blocked && written > 0 {
                    // The client is taking bytes.
                    self.progressed = true;
                }
                Poll::Ready(Ok(written))
            }
            ready => ready,
        }
    }
}

impl<T> Drop for TrackedIo<T> {
    fn drop(&mut self) {
        self.unblocked();
        if self.conn.kind() & UPGRADED != 0 {
            // The upgraded connection (a WebSocket) is closed.
            self.conn.tracker.end_held();
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TrackedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let filled = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        match result {
            Poll::Ready(Ok(())) if buf.filled().len() > filled => this.read_some(),
            Poll::Pending => this.read_pending(),
            _ => {}
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TrackedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.wrote(cx, result)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.wrote(cx, result)
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

/// The per-connection service that hyper calls: the user's service with
/// the [`ActivityLayer`]'s accounting and the connection's bookkeeping (first
/// request, calls, upgrades).
///
/// It is a `hyper::service::Service` of its own rather than
/// `TowerToHyperService<ActivityService<S>>`: one future per request instead
/// of four nested ones, the request moved once, and the "is it ignored?"
/// question answered once.
pub(crate) struct ConnectionService<S> {
    service: S,
    layer: ActivityLayer,
    conn: Arc<Conn>,
}

impl<S> ConnectionService<S> {
    pub(crate) fn new(service: S, layer: ActivityLayer, conn: Arc<Conn>) -> Self {
        ConnectionService {
            service,
            layer,
            conn,
        }
    }
}

impl<S, B> hyper::service::Service<Request<Incoming>> for ConnectionService<S>
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible> + Clone,
{
    type Response = Response<TrackedBody<B>>;
    type Error = Infallible;
    type Future = ConnectionFuture<S>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let ignored = self.layer.is_ignored(&request);
        self.conn.called(&request, ignored);
        let guard = (!ignored).then(|| self.layer.tracker().begin_request());
        let slices = request.version() == Version::HTTP_2;
        // hyper adds `OnUpgrade` only to requests that ask for an upgrade
        // (`Upgrade` header, `CONNECT`).
        let upgrade = request
            .extensions()
            .get::<OnUpgrade>()
            .is_some()
            .then(|| Upgrade {
                conn: self.conn.clone(),
                connect: request.method() == Method::CONNECT,
                http2: slices,
            });
        // What `tower::ServiceExt::oneshot` does, without a future in
        // between when the service is ready at once (an axum `Router`
        // always is): a service that is not waits inside the future.
        let mut service = self.service.clone();
        let state = match service.poll_ready(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(())) => Call::Called {
                future: service.call(request),
            },
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => Call::NotReady {
                service,
                request: Some(request),
            },
        };
        ConnectionFuture {
            call: state,
            guard,
            slices,
            upgrade,
        }
    }
}

pin_project! {
    /// Where a [`ConnectionFuture`] is in calling the user's service.
    #[project = CallProj]
    enum Call<S>
    where
        S: Service<Request<Incoming>>,
    {
        NotReady { service: S, request: Option<Request<Incoming>> },
        Called { #[pin] future: S::Future },
    }
}

pin_project! {
    /// The response future of [`ConnectionService`]: the user's response,
    /// with a body that ends the request's activity when it is done.
    pub(crate) struct ConnectionFuture<S>
    where
        S: Service<Request<Incoming>>,
    {
        #[pin]
        call: Call<S>,
        guard: Option<ActivityGuard>,
        slices: bool,
        upgrade: Option<Upgrade>,
    }
}

impl<S, B> Future for ConnectionFuture<S>
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>,
{
    type Output = Result<Response<TrackedBody<B>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.call.as_mut().project() {
                CallProj::Called { future } => {
                    let Ok(response) = ready!(future.poll(cx));
                    if let Some(upgrade) = this.upgrade.take() {
                        upgrade.answered(&response);
                    }
                    let (guard, slices) = (this.guard.take(), *this.slices);
                    return Poll::Ready(Ok(
                        response.map(|body| TrackedBody::with_slices(body, guard, slices))
                    ));
                }
                CallProj::NotReady { service, request } => {
                    let Ok(()) = ready!(service.poll_ready(cx));
                    let request = request.take().expect("called once");
                    let future = service.call(request);
                    this.call.set(Call::Called { future });
                }
            }
        }
    }
}

/// A request that asked for an upgrade, waiting for its response.
struct Upgrade {
    conn: Arc<Conn>,
    connect: bool,
    http2: bool,
}

impl Upgrade {
    /// The response is known: if it accepts the upgrade, the upgraded
    /// connection starts counting now.
    fn answered<B>(self, response: &Response<B>) {
        let status = response.status();
        let accepted = if self.http2 {
            // hyper turns a 2xx without a body into the upgraded stream.
            self.connect && status.is_success() && !has_nonzero_length(response)
        } else {
            status == StatusCode::SWITCHING_PROTOCOLS || (self.connect && status.is_success())
        };
        if !accepted {
            return;
        }
        if self.http2 {
            // hyper spawns the stream's pump on our executor right after
            // this returns, in this same poll and thread: hand it a guard.
            // Its connection stays open (and in the drain's count) while it
            // lives: a connection guard, not a held one.
            UPGRADE_GUARD.set(Some(self.conn.tracker.begin_connection_guard()));
        } else {
            self.conn.upgraded();
        }
    }
}

/// Whether hyper refuses a `2xx` to an HTTP/2 `CONNECT` for its length:
/// `Content-Length` values (lists included) that all parse and agree on a
/// number other than zero. Anything else hyper lets through as an upgrade.
fn has_nonzero_length<B>(response: &Response<B>) -> bool {
    let mut length = None;
    for value in response.headers().get_all(http::header::CONTENT_LENGTH) {
        let Ok(text) = value.to_str() else {
            return false;
        };
        for part in text.split(',') {
            let Ok(n) = part.trim().parse::<u64>() else {
                return false;
            };
            if length.is_some_and(|seen| seen != n) {
                return false;
            }
            length = Some(n);
        }
    }
    length.is_some_and(|n| n != 0)
}

thread_local! {
    /// The guard of an HTTP/2 extended `CONNECT` just accepted on this
    /// thread, for the upgraded stream's pump task that hyper spawns next.
    ///
    /// hyper offers no other hook between the response and the upgraded
    /// stream, and the pump's type cannot be named. The hand-off happens
    /// within one poll of the stream's task (the response is returned, then
    /// the pump is spawned), so the next spawn on this thread is that pump.
    /// If hyper gives up in between (the client reset the stream), the
    /// guard is dropped when that poll returns: see [`Spawned`].
    static UPGRADE_GUARD: Cell<Option<ActivityGuard>> = const { Cell::new(None) };
}

/// hyper's executor: `tokio::spawn`, except that the pump of an HTTP/2
/// upgraded stream carries the upgrade's activity until it ends.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Executor;

impl<F> hyper::rt::Executor<F> for Executor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        tokio::spawn(Spawned {
            inner: future,
            guard: UPGRADE_GUARD.take(),
        });
    }
}

pin_project! {
    /// A future hyper spawned (an HTTP/2 stream, or an upgraded stream's
    /// pump with its guard).
    struct Spawned<F> {
        #[pin]
        inner: F,
        guard: Option<ActivityGuard>,
    }
}

impl<F: Future> Future for Spawned<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = this.inner.poll(cx);
        // A guard handed over during this poll and not taken by a spawn is
        // stale: hyper did not spawn the pump. Dropping it ends the activity.
        // (Only HTTP/2 stream tasks get here: a thread-local read per poll.)
        drop(UPGRADE_GUARD.take());
        if output.is_ready() {
            *this.guard = None;
        }
        output
    }
}

/// The connections a server has open, and the signal that drains them.
///
/// This does what hyper-util's `GracefulShutdown` does, more cheaply on the
/// hot path: its watcher is a `watch` channel polled on every wake-up of
/// every connection (a lock each time), where a [`ConnectionTask`] registers
/// its waker once and then reads one flag per wake-up.
#[derive(Default)]
pub(crate) struct OpenConnections {
    /// Set once, when the drain starts, before `drain` is notified.
    draining: AtomicBool,
    /// Wakes every connection task when the drain starts.
    drain: Arc<Notify>,
    /// Connection tasks still running.
    count: AtomicUsize,
    /// Notified whenever `count` reaches zero.
    closed: Notify,
}

impl OpenConnections {
    /// Connection tasks still running.
    pub(crate) fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Tells every connection to finish what it is answering and close
    /// (idle keep-alive connections close at once), and waits until all
    /// have closed.
    pub(crate) async fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.drain.notify_waiters();
        loop {
            let closed = self.closed.notified();
            let mut closed = pin!(closed);
            closed.as_mut().enable();
            if self.count() == 0 {
                return;
            }
            closed.await;
        }
    }
}

/// hyper's connection, as its task drives it.
pub(crate) trait GracefulConnection: Future<Output = Result<(), BoxError>> {
    /// Finish what is being answered, then close.
    fn graceful_shutdown(self: Pin<&mut Self>);
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<I, S, E, B> GracefulConnection for UpgradeableConnection<'_, I, S, E>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>>,
    S::Future: 'static,
    S::Error: Into<BoxError>,
    B: Body + 'static,
    B::Error: Into<BoxError>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    E: HttpServerConnExec<S::Future, B>,
{
    fn graceful_shutdown(self: Pin<&mut Self>) {
        UpgradeableConnection::graceful_shutdown(self);
    }
}

pin_project! {
    /// One connection's task: hyper's connection, closed if no request comes
    /// within [`CONNECTION_BOUND`], and shut down gracefully when the
    /// server drains.
    ///
    /// Once the first request has come, a wake-up costs hyper's work plus a
    /// flag read and a waker comparison: the first-request timer is dropped,
    /// and the drain's waker was registered on the first poll.
    pub(crate) struct ConnectionTask<C> {
        #[pin]
        connection: C,
        #[pin]
        first_request: Option<Sleep>,
        conn: Arc<Conn>,
        open: Arc<OpenConnections>,
        #[pin]
        drain: OwnedNotified,
        // The waker `drain` was last polled with.
        registered: Option<Waker>,
        // Graceful shutdown has begun.
        closing: bool,
    }

    impl<C> PinnedDrop for ConnectionTask<C> {
        fn drop(this: Pin<&mut Self>) {
            if this.open.count.fetch_sub(1, Ordering::AcqRel) == 1 {
                this.open.closed.notify_waiters();
            }
        }
    }
}

impl<C: GracefulConnection> ConnectionTask<C> {
    /// The task of a connection just accepted, counted in `open` while it
    /// lives.
    pub(crate) fn new(connection: C, conn: Arc<Conn>, open: &Arc<OpenConnections>) -> Self {
        open.count.fetch_add(1, Ordering::AcqRel);
        ConnectionTask {
            connection,
            first_request: Some(tokio::time::sleep(CONNECTION_BOUND)),
            conn,
            open: open.clone(),
            drain: open.drain.clone().notified_owned(),
            registered: None,
            closing: false,
        }
    }
}

impl<C: GracefulConnection> Future for ConnectionTask<C> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        if !*this.closing {
            // Registered before the flag is read: a drain that starts in
            // between wakes this task.
            if !this
                .registered
                .as_ref()
                .is_some_and(|waker| waker.will_wake(cx.waker()))
            {
                let _ = this.drain.as_mut().poll(cx);
                *this.registered = Some(cx.waker().clone());
            }
            if this.open.draining.load(Ordering::SeqCst) {
                *this.closing = true;
                this.connection.as_mut().graceful_shutdown();
            }
        }
        if let Poll::Ready(result) = this.connection.poll(cx) {
            if let Err(error) = result {
                tracing::debug!(target: "idle_runtime", %error, "connection error");
            }
            return Poll::Ready(());
        }
        if let Some(first_request) = this.first_request.as_mut().as_pin_mut() {
            if !this.conn.is_unanswered() {
                this.first_request.set(None);
            } else if first_request.poll(cx).is_ready() {
                // Silent for too long: close it (dropping the connection
                // ends its activity, silently).
                tracing::debug!(target: "idle_runtime", "no request within 30s; closing the connection");
                return Poll::Ready(());
            }
        }
        Poll::Pending
    }
}
