//! The tower layer that turns requests into activity.
//!
//! A request counts as active from the moment the service is called until its
//! response body has been fully sent or dropped:
//!
//! - `call` takes an [`ActivityGuard`] before calling the inner service;
//! - [`ResponseFuture`] holds it while the handler runs, so a cancelled future
//!   (client gone, `tower::timeout`) or a panicking handler drops it;
//! - on success the guard moves into the [`TrackedBody`], which releases it
//!   when the body reports its end or is dropped, so a streaming body (SSE, a
//!   large download) keeps the server awake while it streams;
//! - an error from the inner service releases it at once.
//!
//! Some requests are served normally but never count:
//!
//! - a path in the ignore list. Paths match exactly (`/healthz` does not
//!   match `/healthz/` nor `/healthz/deep`), the query string is not part of
//!   the path, and paths are compared as sent, without percent-decoding;
//! - a request carrying one of the ignored headers, whatever its value (for
//!   example the header a platform's health checks carry);
//! - Kubernetes and Knative probes, always: `User-Agent: kube-probe/...`,
//!   `K-Kubelet-Probe`, `K-Network-Probe`. The kubelet's HTTP probes send
//!   `kube-probe/1.33`; its gRPC probes call `/grpc.health.v1.Health/Check`
//!   through grpc-go, which appends its own name: `kube-probe/1.33
//!   grpc-go/1.72.0`. The prefix matches both.
//!
//! A request counts as served when its body reports its end (or was empty),
//! and as cut when it ends otherwise (the body dropped early, an error, a
//! cancelled or panicking handler): see [`Tracker::requests_cut`].
//!
//! The per-request cost is two atomic read-modify-writes on the tracker (one
//! `fetch_add`, one compare-and-swap), a relaxed increment of the request
//! count, one reference count increment and a clock read: no lock, no
//! allocation, no timer. Body frames pass through untouched.
//!
//! Used on its own (for example under `axum::serve`), the layer sees
//! requests only: a response counts until hyper has taken its body, and an
//! upgraded connection (a WebSocket) not at all unless its handler holds an
//! [`ActivityGuard`]. [`serve`](crate::serve()) adds what only the connection
//! shows: partial heads, unwritten bytes, upgrades.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::{HeaderName, Request, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::{ActivityGuard, Tracker};

/// A [`Layer`] that counts each request as activity on a [`Tracker`].
///
/// [`serve`](crate::serve()) does the same accounting itself, with the
/// connection's activity besides; use the layer when you serve with
/// something else (for example `axum::serve` with
/// [`Tracker::wait_idle`] as its graceful-shutdown signal).
///
/// # Examples
///
/// ```
/// use axum::{routing::get, Router};
/// use idle_runtime::{ActivityLayer, Tracker};
///
/// let tracker = Tracker::new();
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hello" }))
///     .route("/healthz", get(|| async { "ok" }))
///     .layer(ActivityLayer::new(tracker.clone()).ignore(["/healthz"]));
/// ```
#[derive(Clone, Debug)]
pub struct ActivityLayer {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    tracker: Tracker,
    ignore: Box<[Box<str>]>,
    /// The ignored header names (the probes' are constants).
    headers: Box<[HeaderName]>,
}

// Headers that mark Kubernetes and Knative probes. Constants rather than a
// static: `HeaderName` holds a `Bytes` (an atomic pointer, hence the lints),
// but these are never mutated, and compared with a constant a request's
// header name (standard, most of them) costs a tag test, not a comparison
// of loaded fields.
#[allow(clippy::declare_interior_mutable_const)]
const K_KUBELET_PROBE: HeaderName = HeaderName::from_static("k-kubelet-probe");
#[allow(clippy::declare_interior_mutable_const)]
const K_NETWORK_PROBE: HeaderName = HeaderName::from_static("k-network-probe");

impl Shared {
    fn request_activity<B>(&self, request: &Request<B>) -> Option<ActivityGuard> {
        (!self.is_ignored(request)).then(|| self.tracker.begin_request())
    }

    fn is_ignored<B>(&self, request: &Request<B>) -> bool {
        if !self.ignore.is_empty() {
            let path = request.uri().path();
            if self.ignore.iter().any(|ignored| **ignored == *path) {
                return true;
            }
        }
        // One pass over the headers rather than a hashed lookup per name.
        // Names are compared as `HeaderName`s: a standard name (most of a
        // request's) against a custom one differs at the first comparison.
        #[allow(clippy::borrow_interior_mutable_const)]
        request.headers().iter().any(|(name, value)| {
            (*name == http::header::USER_AGENT && value.as_bytes().starts_with(b"kube-probe/"))
                || *name == K_KUBELET_PROBE
                || *name == K_NETWORK_PROBE
                || self.headers.contains(name)
        })
    }
}

impl ActivityLayer {
    /// A layer that records activity on `tracker` for every request.
    pub fn new(tracker: Tracker) -> Self {
        ActivityLayer {
            shared: Arc::new(Shared {
                tracker,
                ignore: Box::default(),
                headers: Box::default(),
            }),
        }
    }

    /// Never count requests to these paths (health checks, probes). They are
    /// still served. Replaces any list given before.
    pub fn ignore<I, P>(self, paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        let ignore = paths
            .into_iter()
            .map(|path| path.into().into_boxed_str())
            .collect();
        ActivityLayer {
            shared: Arc::new(Shared {
                tracker: self.shared.tracker.clone(),
                ignore,
                headers: self.shared.headers.clone(),
            }),
        }
    }

    /// Never count requests that carry any of these headers, whatever the
    /// value. Replaces any list given before. Kubernetes and Knative probes
    /// are ignored in any case.
    pub fn ignore_headers<I>(self, names: I) -> Self
    where
        I: IntoIterator<Item = HeaderName>,
    {
        let headers = names.into_iter().collect();
        ActivityLayer {
            shared: Arc::new(Shared {
                tracker: self.shared.tracker.clone(),
                ignore: self.shared.ignore.clone(),
                headers,
            }),
        }
    }

    /// The tracker this layer records on.
    pub fn tracker(&self) -> &Tracker {
        &self.shared.tracker
    }

    /// Whether `request` is served without counting as activity.
    pub fn is_ignored<B>(&self, request: &Request<B>) -> bool {
        self.shared.is_ignored(request)
    }
}

impl<S> Layer<S> for ActivityLayer {
    type Service = ActivityService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ActivityService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The [`Service`] made by [`ActivityLayer`].
#[derive(Clone, Debug)]
pub struct ActivityService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ActivityService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body,
{
    type Response = Response<TrackedBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let guard = self.shared.request_activity(&request);
        ResponseFuture {
            inner: self.inner.call(request),
            guard,
        }
    }
}

pin_project! {
    /// The response future of [`ActivityService`]: holds the request's
    /// activity while the handler runs.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        guard: Option<ActivityGuard>,
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: Body,
{
    type Output = Result<Response<TrackedBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        // On error the guard is dropped here: the request is over.
        let guard = this.guard.take();
        Poll::Ready(result.map(|response| response.map(|body| TrackedBody::new(body, guard))))
    }
}

pin_project! {
    /// A response body that holds its request's activity until it has been
    /// fully sent or dropped. Every [`Body`] method is forwarded and frames
    /// pass through as they are. The request counts as served if the body
    /// reaches its end, as cut if it is dropped before.
    pub struct TrackedBody<B> {
        #[pin]
        inner: B,
        guard: Option<ActivityGuard>,
    }
}

impl<B: Body> TrackedBody<B> {
    /// Wraps `body` so that `guard` lives until the body ends or is dropped.
    pub fn new(body: B, mut guard: Option<ActivityGuard>) -> Self {
        // An empty body is never polled: its response ends with its head.
        if body.is_end_stream() {
            if let Some(guard) = &mut guard {
                guard.served();
            }
        }
        TrackedBody { inner: body, guard }
    }
}

impl<B: Body> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        match &frame {
            // hyper asks no more of a body that reports its end with its
            // last frame, or after trailers: that is the end.
            Some(Ok(frame)) => {
                if frame.is_trailers() || this.inner.is_end_stream() {
                    if let Some(guard) = this.guard {
                        guard.served();
                    }
                }
            }
            // The end of the stream or an error ends the request even if the
            // server keeps the body around a little longer.
            Some(Err(_)) => *this.guard = None,
            None => {
                if let Some(mut guard) = this.guard.take() {
                    guard.served();
                }
            }
        }
        Poll::Ready(frame)
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> std::fmt::Debug for TrackedBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackedBody")
            .field("tracking", &self.guard.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::time::Duration;

    use bytes::Bytes;
    use http_body_util::{BodyExt, Full, StreamBody};
    use tower::{service_fn, ServiceExt};

    use super::*;

    fn request(path: &str) -> Request<()> {
        Request::get(path).body(()).unwrap()
    }

    #[tokio::test]
    async fn a_request_is_active_from_call_until_its_body_is_done() {
        let tracker = Tracker::new();
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let released = std::sync::Mutex::new(Some(released));
        let mut service = ActivityLayer::new(tracker.clone()).layer(service_fn(|_req| {
            let released = released.lock().unwrap().take().unwrap();
            async move {
                released.await.unwrap();
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hello"))))
            }
        }));

        // Ready: not yet active.
        let service = service.ready().await.unwrap();
        assert_eq!(tracker.active(), 0);
        // Called: active while the handler runs.
        let future = service.call(request("/"));
        assert_eq!(tracker.active(), 1);
        release.send(()).unwrap();
        // Response returned: still active, the body has not been sent.
        let response = future.await.unwrap();
        assert_eq!(tracker.active(), 1);
        // Body fully read: no longer active, one request counted.
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"hello");
        assert_eq!((tracker.active(), tracker.requests()), (0, 1));
    }

    #[tokio::test]
    async fn dropping_the_body_unread_ends_the_request() {
        let tracker = Tracker::new();
        let service = ActivityLayer::new(tracker.clone()).layer(service_fn(|_req| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"x"))))
        }));
        let response = service.oneshot(request("/")).await.unwrap();
        assert_eq!(tracker.active(), 1);
        drop(response);
        assert_eq!(tracker.active(), 0);
        assert_eq!((tracker.requests(), tracker.requests_cut()), (0, 1));
    }

    #[tokio::test]
    async fn an_empty_body_is_served_with_its_head() {
        let tracker = Tracker::new();
        let service = ActivityLayer::new(tracker.clone()).layer(service_fn(|_req| async {
            Ok::<_, Infallible>(Response::new(http_body_util::Empty::<Bytes>::new()))
        }));
        // hyper never polls a body that reports its end: dropping it is the
        // end of the response.
        drop(service.oneshot(request("/")).await.unwrap());
        assert_eq!((tracker.requests(), tracker.requests_cut()), (1, 0));
    }

    #[tokio::test]
    async fn a_streaming_body_is_active_until_its_last_frame() {
        let tracker = Tracker::new();
        let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(1);
        let receiver = std::sync::Mutex::new(Some(receiver));
        let service = ActivityLayer::new(tracker.clone()).layer(service_fn(|_req| {
            let receiver = receiver.lock().unwrap().take().unwrap();
            let stream = futures_stream(receiver);
            async move { Ok::<_, Infallible>(Response::new(StreamBody::new(stream))) }
        }));
        let mut body = service
            .oneshot(request("/events"))
            .await
            .unwrap()
            .into_body();
        for _ in 0..3 {
            sender
                .send(Ok(Frame::data(Bytes::from_static(b"tick"))))
                .await
                .unwrap();
            let frame = body.frame().await.unwrap().unwrap();
            assert_eq!(frame.into_data().unwrap(), "tick");
            assert_eq!(tracker.active(), 1, "streaming keeps the request active");
        }
        drop(sender);
        assert!(body.frame().await.is_none());
        assert_eq!(
            tracker.active(),
            0,
            "the end of the stream ends the request"
        );
        drop(body);
        assert_eq!(tracker.active(), 0);
    }

    #[tokio::test]
    async fn a_cancelled_handler_ends_the_request() {
        let tracker = Tracker::new();
        let service = ActivityLayer::new(tracker.clone()).layer(service_fn(|_req| async {
            std::future::pending::<Result<Response<Full<Bytes>>, Infallible>>().await
        }));
        let result =
            tokio::time::timeout(Duration::from_millis(10), service.oneshot(request("/"))).await;
        assert!(result.is_err());
        assert_eq!(tracker.active(), 0);
    }

    #[tokio::test]
    async fn a_service_error_ends_the_request() {
        let tracker = Tracker::new();
        let service = ActivityLayer::new(tracker.clone()).layer(service_fn(|_req| async {
            Err::<Response<Full<Bytes>>, _>("broken")
        }));
        let future = service.oneshot(request("/"));
        assert_eq!(future.await.unwrap_err(), "broken");
        assert_eq!(tracker.active(), 0);
    }

    #[tokio::test]
    async fn a_panicking_handler_ends_the_request() {
        let tracker = Tracker::new();
        let service = ActivityLayer::new(tracker.clone()).layer(service_fn(|_req| async {
            if true {
                panic!("handler panicked");
            }
            Ok::<Response<Full<Bytes>>, Infallible>(Response::default())
        }));
        let task = tokio::spawn(service.oneshot(request("/")));
        assert!(task.await.unwrap_err().is_panic());
        assert_eq!(tracker.active(), 0);
    }

    #[tokio::test]
    async fn ignored_paths_match_exactly_and_are_served() {
        let tracker = Tracker::new();
        let layer = ActivityLayer::new(tracker.clone()).ignore(["/healthz"]);
        let service = layer.layer(service_fn(|req: Request<()>| async move {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(
                req.uri().path().to_owned(),
            ))))
        }));
        let cases = [
            ("/healthz", false),
            ("/healthz?verbose=1", false),
            ("/healthz/", true),
            ("/healthz/deep", true),
            ("/health", true),
            ("/%68ealthz", true),
        ];
        for (path, counts) in cases {
            let response = service.clone().oneshot(request(path)).await.unwrap();
            assert_eq!(tracker.active(), u64::from(counts), "{path}");
            drop(response);
        }
        // The four that counted were dropped unread: cut, not served.
        assert_eq!((tracker.requests(), tracker.requests_cut()), (0, 4));
    }

    #[tokio::test]
    async fn probes_and_ignored_headers_do_not_count() {
        let tracker = Tracker::new();
        let layer = ActivityLayer::new(tracker.clone())
            .ignore(["/healthz"])
            .ignore_headers([HeaderName::from_static("fly-healthcheck")]);
        let service = layer.layer(service_fn(|_req: Request<()>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
        }));
        let with = |name: &'static str, value: &'static str| {
            Request::get("/").header(name, value).body(()).unwrap()
        };
        let grpc_health_check = |agent: &'static str| {
            Request::post("/grpc.health.v1.Health/Check")
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .header("user-agent", agent)
                .body(())
                .unwrap()
        };
        let cases = [
            (with("user-agent", "kube-probe/1.29"), false),
            (with("K-Kubelet-Probe", "queue"), false),
            (with("k-network-probe", "activator"), false),
            (with("Fly-Healthcheck", "1"), false),
            (with("user-agent", "curl/8.5 kube-probe/1.29"), true),
            // Kubernetes' gRPC probe: a health check through grpc-go.
            (grpc_health_check("kube-probe/1.33 grpc-go/1.72.0"), false),
            // The same check from any other gRPC client is activity.
            (grpc_health_check("grpc-go/1.72.0"), true),
            (with("user-agent", "Mozilla/5.0"), true),
            (with("x-other", "1"), true),
        ];
        for (request, counts) in cases {
            let name = format!("{:?}", request.headers());
            let response = service.clone().oneshot(request).await.unwrap();
            assert_eq!(tracker.active(), u64::from(counts), "{name}");
            drop(response);
        }
        // The ignore list survives adding headers, and the reverse.
        let layer = ActivityLayer::new(tracker.clone())
            .ignore_headers([HeaderName::from_static("x-check")])
            .ignore(["/healthz"]);
        assert!(layer.is_ignored(&request("/healthz")));
        assert!(layer.is_ignored(&with("x-check", "")));
        // Names of a probe's length that are not probes, among others; an
        // ignored header named like a standard one.
        let busy = Request::get("/")
            .header("accept-encoding", "gzip")
            .header("x-forwarded-for", "10.0.0.1")
            .header("user-agent", "Mozilla/5.0")
            .header("x-check", "1")
            .body(())
            .unwrap();
        assert!(layer.is_ignored(&busy));
        let layer = ActivityLayer::new(tracker.clone()).ignore_headers([http::header::USER_AGENT]);
        assert!(layer.is_ignored(&with("user-agent", "Mozilla/5.0")));
        assert!(!layer.is_ignored(&with("x-forwarded-for", "10.0.0.1")));
    }

    /// A body stream fed by a channel, without pulling in tokio-stream.
    fn futures_stream<T>(
        mut receiver: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures_util::Stream<Item = T> {
        futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
    }
}
