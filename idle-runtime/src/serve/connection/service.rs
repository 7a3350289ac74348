//! The service hyper calls for each request of a connection: the request's
//! activity (from the call until its response is done), its bodies, its
//! peer's address and, for a request that asks for one, its upgrade's
//! activity. Also hyper's executor, through which an HTTP/2 upgrade's
//! activity reaches the task that pumps its stream.

use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{ready, Context, Poll, Waker};

use axum::body::Body as AxumBody;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, Version};
use http_body::Body;
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::body::{AskedUpgrade, Open, RequestBody, ResponseBody};
use super::{Conn, HTTP2};
use crate::listener::Peer;
use crate::ActivityLayer;

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
    S: Service<Request<AxumBody>, Response = Response<B>, Error = Infallible> + Clone,
    B: Body<Data = Bytes>,
{
    type Response = Response<ResponseBody<B>>;
    type Error = Infallible;
    type Future = ConnectionFuture<S>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        // A first request that counts takes over the connection's activity
        // (begun at accept): the count never dips to zero in between, and
        // the idle clock is not read for an end that the request's own end
        // supersedes.
        let ignored = self.layer.is_ignored(&request);
        let taken_over = self.conn.called(&request, ignored);
        let mut open = Open::request(&self.conn, !ignored, taken_over);
        // hyper adds `OnUpgrade` only to requests that ask for an upgrade
        // (`Upgrade` header, `CONNECT`).
        if request.extensions().get::<OnUpgrade>().is_some() {
            open.upgrade = if request.method() == Method::CONNECT {
                AskedUpgrade::Connect
            } else {
                AskedUpgrade::Upgrade
            };
        }
        let mut service = self.service.clone();
        // Over HTTP/2 the service is called when the future is first
        // polled, as `tower::ServiceExt::oneshot` (and so `axum::serve`)
        // does: in the stream's own task rather than the connection's,
        // which takes a batch of streams' requests from the client's frames
        // before their tasks run (allocations made and freed in one task
        // come from the allocator's thread cache). Over HTTP/1.1 the future
        // is polled right away, in this task: a service that is ready (an
        // axum `Router` always is) is called now, without the request
        // moved once more.
        let call = if request.version() == Version::HTTP_2 {
            Call::NotReady {
                service,
                request: Some(request),
            }
        } else if service
            .poll_ready(&mut Context::from_waker(Waker::noop()))
            .is_ready()
        {
            Call::Called {
                future: service.call(prepare(&self.conn, request)),
            }
        } else {
            if !request.body().is_end_stream() {
                // From now on, bytes read on this HTTP/1.1 connection are
                // the request's body until its end (as `prepare`'s
                // `RequestBody` says once the service is ready), not the
                // next request's head. Relaxed: read by the socket wrapper,
                // in this same task.
                self.conn.body_open.store(true, Ordering::Relaxed);
            }
            Call::NotReady {
                service,
                request: Some(request),
            }
        };
        ConnectionFuture {
            call,
            open: Some(open),
        }
    }
}

/// The request as the service gets it: an axum body (as `axum::serve` gives
/// it) that tells the connection when the handler waits for body bytes, and
/// the peer's address as `ConnectInfo`.
// Inlined into both callers: the request is built in place rather than
// copied in and out.
#[inline(always)]
fn prepare(conn: &Arc<Conn>, request: Request<Incoming>) -> Request<AxumBody> {
    let (mut parts, body) = request.into_parts();
    match &conn.peer {
        Peer::Tcp(addr) => {
            parts.extensions.insert(ConnectInfo(*addr));
        }
        #[cfg(unix)]
        Peer::Unix(addr) => {
            parts.extensions.insert(ConnectInfo(addr.clone()));
        }
    }
    // A body known to be empty (a GET) is never waited for.
    let body = if body.is_end_stream() {
        AxumBody::new(body)
    } else {
        AxumBody::new(RequestBody::new(body, conn.clone()))
    };
    Request::from_parts(parts, body)
}

pin_project! {
    /// Where a [`ConnectionFuture`] is in calling the user's service.
    #[project = CallProj]
    enum Call<S>
    where
        S: Service<Request<AxumBody>>,
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
        S: Service<Request<AxumBody>>,
    {
        #[pin]
        call: Call<S>,
        // The request in progress (and the upgrade it asked for), until it
        // moves into the response body; dropped with the future if the
        // handler is cancelled or panics.
        open: Option<Open>,
    }
}

impl<S, B> Future for ConnectionFuture<S>
where
    S: Service<Request<AxumBody>, Response = Response<B>, Error = Infallible>,
    B: Body,
{
    type Output = Result<Response<ResponseBody<B>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.call.as_mut().project() {
                CallProj::Called { future } => {
                    let Ok(response) = ready!(future.poll(cx));
                    let open = this.open.take().expect("polled after completion");
                    // The connection's protocol, settled by its first request.
                    let http2 = open.conn().kind() & HTTP2 != 0;
                    if open.upgrade != AskedUpgrade::None {
                        answered(&open, &response, http2);
                    }
                    return Poll::Ready(Ok(
                        response.map(|body| ResponseBody::new(body, open, http2))
                    ));
                }
                CallProj::NotReady { service, request } => {
                    let Ok(()) = ready!(service.poll_ready(cx));
                    let request = request.take().expect("called once");
                    let open = this.open.as_ref().expect("polled after completion");
                    let future = service.call(prepare(open.conn(), request));
                    this.call.set(Call::Called { future });
                }
            }
        }
    }
}

/// The response to a request that asked for an upgrade is known: if it
/// accepts the upgrade, the upgraded connection starts counting now.
fn answered<B>(open: &Open, response: &Response<B>, http2: bool) {
    let connect = open.upgrade == AskedUpgrade::Connect;
    let status = response.status();
    let accepted = if http2 {
        // hyper turns a 2xx without a body into the upgraded stream.
        connect && status.is_success() && !has_nonzero_length(response)
    } else {
        status == StatusCode::SWITCHING_PROTOCOLS || (connect && status.is_success())
    };
    if !accepted {
        return;
    }
    if http2 {
        // hyper spawns the stream's pump on our executor right after this
        // returns, in this same poll and thread: hand it a guard. Its
        // connection stays open (and in the drain's count) while it lives:
        // a connection guard, not a held one.
        UPGRADE.set(Some(Open::upgraded(open.conn())));
        HANDED.set(true);
    } else {
        open.conn().upgraded();
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
    static UPGRADE: Cell<Option<Open>> = const { Cell::new(None) };

    /// Whether [`UPGRADE`] may hold a guard. Every HTTP/2 stream's spawn
    /// and poll reads it: a flag without a destructor costs a load, where
    /// the guard's slot (whose destructor must be registered) costs a few
    /// dozen instructions.
    static HANDED: Cell<bool> = const { Cell::new(false) };
}

/// The guard handed over by [`answered`], if any.
#[inline]
fn take_upgrade() -> Option<Open> {
    if !HANDED.get() {
        return None;
    }
    take_handed()
}

/// [`take_upgrade`]'s rare part, out of line.
#[cold]
#[inline(never)]
fn take_handed() -> Option<Open> {
    HANDED.set(false);
    UPGRADE.take()
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
        // Every HTTP/2 stream comes through here. The common path is one
        // flag and a wrapper of the future's own layout, so that hyper's
        // spawn (which calls this from its connection's code) moves the
        // stream's future into its task without an extra copy.
        if HANDED.get() {
            spawn_handed(future);
        } else {
            tokio::spawn(Spawned { inner: future });
        }
    }
}

/// The spawn that follows an accepted HTTP/2 upgrade: hyper's pump of the
/// upgraded stream, which takes the guard [`answered`] handed over.
#[cold]
#[inline(never)]
fn spawn_handed<F>(future: F)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match take_handed() {
        Some(guard) => {
            tokio::spawn(Guarded {
                inner: future,
                _guard: guard,
            });
        }
        None => {
            tokio::spawn(Spawned { inner: future });
        }
    }
}

pin_project! {
    /// An HTTP/2 stream hyper spawned.
    struct Spawned<F> {
        #[pin]
        inner: F,
    }
}

impl<F: Future> Future for Spawned<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let output = self.project().inner.poll(cx);
        // A guard handed over during this poll and not taken by a spawn is
        // stale: hyper did not spawn the pump (the client reset the stream).
        // Dropping it ends the activity. A thread-local flag read per poll.
        drop(take_upgrade());
        output
    }
}

pin_project! {
    /// The pump of an HTTP/2 upgraded stream, with the upgrade's guard: the
    /// upgraded stream counts as activity, and keeps its connection in the
    /// drain's count, until the pump ends.
    struct Guarded<F> {
        #[pin]
        inner: F,
        _guard: Open,
    }
}

impl<F: Future> Future for Guarded<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}
