//! The service hyper calls for each request of a connection: the request's
//! activity (from the call until its response is done), its bodies, its
//! peer's address and, for a request that asks for one, its upgrade's
//! activity. Also hyper's executor, through which an HTTP/2 upgrade's
//! activity reaches the task that pumps its stream.

use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll, Waker};

use axum::body::Body as AxumBody;
use axum::extract::ConnectInfo;
use http::{Method, Request, Response, StatusCode, Version};
use http_body::Body;
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::body::{Open, RequestBody, ResponseBody};
use super::Conn;
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
    B: Body,
    B::Data: 'static,
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
        let open = Open::request(&self.conn, !ignored, taken_over);
        let http2 = request.version() == Version::HTTP_2;
        // hyper adds `OnUpgrade` only to requests that ask for an upgrade
        // (`Upgrade` header, `CONNECT`).
        let upgrade = request
            .extensions()
            .get::<OnUpgrade>()
            .is_some()
            .then(|| Upgrade {
                conn: self.conn.clone(),
                connect: request.method() == Method::CONNECT,
                http2,
            });
        let request = self.prepare(request);
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
            open: Some(open),
            http2,
            upgrade,
        }
    }
}

impl<S> ConnectionService<S> {
    /// The request as the service gets it: an axum body (as `axum::serve`
    /// gives it) that tells the connection when the handler waits for body
    /// bytes, and the peer's address as `ConnectInfo`.
    fn prepare(&self, request: Request<Incoming>) -> Request<AxumBody> {
        let (mut parts, body) = request.into_parts();
        match &self.conn.peer {
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
            AxumBody::new(RequestBody::new(body, self.conn.clone()))
        };
        Request::from_parts(parts, body)
    }
}

pin_project! {
    /// Where a [`ConnectionFuture`] is in calling the user's service.
    #[project = CallProj]
    enum Call<S>
    where
        S: Service<Request<AxumBody>>,
    {
        NotReady { service: S, request: Option<Request<AxumBody>> },
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
        // The request in progress, until it moves into the response body;
        // dropped with the future if the handler is cancelled or panics.
        open: Option<Open>,
        http2: bool,
        upgrade: Option<Upgrade>,
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
                    if let Some(upgrade) = this.upgrade.take() {
                        upgrade.answered(&response);
                    }
                    let open = this.open.take().expect("polled after completion");
                    let http2 = *this.http2;
                    return Poll::Ready(Ok(
                        response.map(|body| ResponseBody::new(body, open, http2))
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
            UPGRADE.set(Some(Open::upgraded(&self.conn)));
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
    static UPGRADE: Cell<Option<Open>> = const { Cell::new(None) };
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
            guard: UPGRADE.take(),
        });
    }
}

pin_project! {
    /// A future hyper spawned (an HTTP/2 stream, or an upgraded stream's
    /// pump with its guard).
    struct Spawned<F> {
        #[pin]
        inner: F,
        guard: Option<Open>,
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
        drop(UPGRADE.take());
        if output.is_ready() {
            *this.guard = None;
        }
        output
    }
}
