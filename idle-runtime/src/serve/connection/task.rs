//! A connection's task: hyper's connection and its part in the drain.
//!
//! When the drain starts, each connection finishes what it is answering and
//! closes, as hyper's graceful shutdown does, with two differences:
//!
//! - an HTTP/1.1 connection between requests (or one that has sent nothing
//!   yet) is not closed blind: its socket wrapper takes a last look at the
//!   socket (`io.rs`), what the client sent before is answered, and the
//!   connection closes after that. A request head that was arriving when the
//!   drain began gets half a second to complete;
//! - an HTTP/2 connection, told by GOAWAY, is closed as soon as it has no
//!   open stream, at most half a second later, whatever the client does
//!   with the GOAWAY and its PING: hyper would wait for the client to
//!   acknowledge and close.
//!
//! So a connection with nothing in progress costs at most half a second
//! beyond the decision to stop.

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
use tokio::time::{Instant, Sleep};

use super::{Conn, HTTP2};

/// How often a draining connection looks for requests in progress: with
/// none, it closes at most this long after the decision to stop (or the end
/// of its last request).
const CLOSE_CHECK: std::time::Duration = std::time::Duration::from_millis(500);

/// Where a connection is in the drain.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Closing {
    /// Not draining.
    No,
    /// Between requests: the socket wrapper takes a last look.
    LastLook,
    /// hyper's graceful shutdown has begun.
    Graceful,
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
    /// One connection's task: hyper's connection, shut down when the server
    /// drains (see the [module docs](self)).
    ///
    /// A wake-up costs hyper's work plus a flag read and a waker comparison:
    /// the drain's waker is registered the first time the task pends (a
    /// connection answered and closed in one poll never registers).
    ///
    /// hyper's connection is pinned where the task's future built it, and
    /// borrowed: moving it in would copy it (a few hundred bytes) twice per
    /// connection.
    pub(crate) struct ConnectionTask<'c, C> {
        connection: Pin<&'c mut C>,
        conn: Arc<Conn>,
        open: Counted,
        // Made and polled when the task first pends.
        #[pin]
        drain: Option<OwnedNotified>,
        // The waker `drain` was last polled with.
        registered: Option<Waker>,
        closing: Closing,
        // A draining connection's look for requests in progress (boxed: it
        // is made only in a drain, and the task stays small to move).
        close_check: Option<Pin<Box<Sleep>>>,
    }

}

/// A connection counted in [`OpenConnections`] from accept until its task
/// ends (counted before the task first runs, so that a drain that starts in
/// between waits for it).
pub(crate) struct Counted(Arc<OpenConnections>);

impl Counted {
    pub(crate) fn new(open: &Arc<OpenConnections>) -> Self {
        open.count.fetch_add(1, Ordering::AcqRel);
        Counted(open.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        // SeqCst with the drain's store and load: either this sees the drain
        // started, or the drain sees the count at zero. Outside a drain (a
        // `Connection: close` client closes a connection per request) it
        // takes no lock.
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1
            && self.0.draining.load(Ordering::SeqCst)
        {
            self.0.closed.notify_waiters();
        }
    }
}

impl<'c, C: GracefulConnection> ConnectionTask<'c, C> {
    /// The task of a connection accepted and `open`-counted.
    pub(crate) fn new(connection: Pin<&'c mut C>, conn: Arc<Conn>, open: Counted) -> Self {
        ConnectionTask {
            connection,
            conn,
            open,
            drain: None,
            registered: None,
            closing: Closing::No,
            close_check: None,
        }
    }
}

impl<C: GracefulConnection> Future for ConnectionTask<'_, C> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        // A drain that began before this poll (one load: the task registers
        // with the drain only when it pends, below).
        if *this.closing == Closing::No && this.open.0.draining.load(Ordering::SeqCst) {
            drain_begins(
                this.connection.as_mut(),
                this.closing,
                this.conn,
                this.close_check,
            );
        }
        loop {
            if let Poll::Ready(result) = this.connection.as_mut().poll(cx) {
                if let Err(error) = result {
                    tracing::debug!(target: "idle_runtime", %error, "connection error");
                }
                return Poll::Ready(());
            }
            match *this.closing {
                Closing::No => {
                    // Registered before the flag is read: a drain that
                    // begins in between wakes this task.
                    if !this
                        .registered
                        .as_ref()
                        .is_some_and(|waker| waker.will_wake(cx.waker()))
                    {
                        if this.drain.is_none() {
                            this.drain
                                .set(Some(this.open.0.drain.clone().notified_owned()));
                        }
                        if let Some(drain) = this.drain.as_mut().as_pin_mut() {
                            let _ = drain.poll(cx);
                        }
                        *this.registered = Some(cx.waker().clone());
                    }
                    if !this.open.0.draining.load(Ordering::SeqCst) {
                        return Poll::Pending;
                    }
                    drain_begins(
                        this.connection.as_mut(),
                        this.closing,
                        this.conn,
                        this.close_check,
                    );
                    // Polled again: hyper's graceful shutdown, or the socket
                    // wrapper's last look, takes effect.
                    continue;
                }
                // The last look found a request: answer it, then close.
                Closing::LastLook if this.conn.open() > 0 => {
                    graceful(
                        this.connection.as_mut(),
                        this.closing,
                        this.conn,
                        this.close_check,
                    );
                    // hyper's graceful shutdown takes effect when polled.
                    continue;
                }
                Closing::LastLook | Closing::Graceful => {}
            }
            let Some(check) = this.close_check.as_mut() else {
                return Poll::Pending;
            };
            if check.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if this.conn.open() == 0 {
                // Nothing in progress: what hyper still waits for is the
                // client (the rest of a head, an acknowledgement of GOAWAY).
                return Poll::Ready(());
            }
            check.as_mut().reset(Instant::now() + CLOSE_CHECK);
        }
    }
}

/// The drain has begun: hyper's graceful shutdown if a request is in
/// progress (or over HTTP/2), else the socket wrapper's last look.
fn drain_begins<C: GracefulConnection>(
    connection: Pin<&mut C>,
    closing: &mut Closing,
    conn: &Conn,
    close_check: &mut Option<Pin<Box<Sleep>>>,
) {
    if conn.kind() & HTTP2 != 0 || conn.open() > 0 {
        graceful(connection, closing, conn, close_check);
    } else {
        // Between requests: when hyper next polls it, the socket wrapper
        // looks at what the client has sent.
        conn.last_look.store(true, Ordering::Relaxed);
        *closing = Closing::LastLook;
        *close_check = Some(Box::pin(tokio::time::sleep(CLOSE_CHECK)));
    }
}

/// Starts hyper's graceful shutdown (HTTP/1.1: finish the request in
/// progress, then close; HTTP/2: GOAWAY, then the open streams finish), and
/// for HTTP/2 the look for open streams.
fn graceful<C: GracefulConnection>(
    connection: Pin<&mut C>,
    closing: &mut Closing,
    conn: &Conn,
    close_check: &mut Option<Pin<Box<Sleep>>>,
) {
    *closing = Closing::Graceful;
    connection.graceful_shutdown();
    if conn.kind() & HTTP2 != 0 {
        *close_check = Some(Box::pin(tokio::time::sleep(CLOSE_CHECK)));
    } else {
        // HTTP/1.1: hyper closes after the request in progress.
        *close_check = None;
    }
}
