//! A connection's task: hyper's connection, the bound on its first request,
//! and its part in the drain.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper_util::server::conn::auto::{HttpServerConnExec, UpgradeableConnection};
use pin_project_lite::pin_project;
use tokio::sync::futures::OwnedNotified;
use tokio::sync::Notify;
use tokio::time::Sleep;

use super::{Conn, CONNECTION_BOUND};

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
    /// Notified when `count` reaches zero during a drain.
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
            if self.count.load(Ordering::SeqCst) == 0 {
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
            // SeqCst with the drain's store and load: either this sees the
            // drain started, or the drain sees the count at zero. Outside a
            // drain (a `Connection: close` client closes a connection per
            // request) it takes no lock.
            if this.open.count.fetch_sub(1, Ordering::SeqCst) == 1
                && this.open.draining.load(Ordering::SeqCst)
            {
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
