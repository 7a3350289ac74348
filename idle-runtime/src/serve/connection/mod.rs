//! One connection's activity, as a proxy in front of the server would see
//! it: the server is busy whenever it holds a request it has not finished
//! answering, in any form.
//!
//! A request counts from the moment the service is called until its
//! response's end has been handed to hyper (`body.rs`), and over HTTP/1.1
//! until hyper has written it (`io.rs`). The rest is what a layer cannot
//! see, on the connection:
//!
//! - **Before the first request.** An accepted connection counts from
//!   accept until its first request (then the request counts), so a client
//!   that has connected but not yet spoken is not cut off. If it closes
//!   without a request, or its first request is ignored, the activity ends
//!   silently: it never moves the idle clock.
//! - **Partial heads on a kept-alive connection (HTTP/1.1).** When the
//!   first bytes of a later request have been read but hyper needs more to
//!   call the service, the idle clock restarts: the head counts from then for
//!   `min(timeout, 30 s)`, and silently stops counting after that (a head
//!   whose rest never comes is closed by the bound below). No timer, no
//!   atomic on the read path: a branch on a field of the socket wrapper, and
//!   one `touch` per split head.
//! - **Bytes not yet written.** From a write that finds the socket full until
//!   the next completed flush, the connection holds an activity: a slow
//!   download stays active until its last byte is on the wire. Over HTTP/2,
//!   where flow control keeps bytes inside hyper rather than in the socket,
//!   the response body holds back the end of a large final frame until the
//!   rest has gone out (`body.rs`).
//! - **Upgrades.** An HTTP/1.1 upgrade (`101 Switching Protocols`, or a
//!   `2xx` to `CONNECT`) counts until the upgraded socket is dropped, and an
//!   HTTP/2 extended `CONNECT` (WebSockets over HTTP/2) until its stream's
//!   pump task ends: no code in the handler.
//! - **A client that delivers nothing.** Whenever the server waits on its
//!   client (first request, rest of a head, request body, the socket or an
//!   HTTP/2 window), 30 s in which the client delivers nothing close the
//!   connection (`bound.rs`).
//! - **The drain.** An HTTP/1.1 connection between requests takes a last
//!   look at its socket before it closes, and answers what the client sent
//!   before the close (`io.rs`); an HTTP/2 connection with no open stream is
//!   closed within half a second of the decision to stop, whatever the
//!   client does with GOAWAY and PING (`task.rs`).
//!
//! Where each lives:
//!
//! - `mod.rs`: [`Connections`], which sets up and spawns each accepted
//!   connection, and [`Conn`], the state a connection's parts share.
//! - `io.rs`: the socket wrapper, `TrackedIo`: partial heads, unwritten
//!   bytes, the drain's last look.
//! - `bound.rs`: the bound on a client that delivers nothing.
//! - `body.rs`: a request in progress (`Open`), the request body and the
//!   response body.
//! - `service.rs`: the service hyper calls, `ConnectionService`: each
//!   request and its upgrade; hyper's `Executor`, which hands an HTTP/2
//!   upgrade's activity to its stream's task.
//! - `task.rs`: the connection's task, `ConnectionTask`: its part in the
//!   drain, with `OpenConnections`, which counts the tasks.

mod body;
mod bound;
mod io;
mod service;
mod task;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Version};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::conn::auto;

use self::io::TrackedIo;
use self::service::{ConnectionService, Executor};
use self::task::ConnectionTask;
use self::task::Counted;
pub(crate) use self::task::OpenConnections;
use super::HttpService;
use crate::listener::{Peer, Stream};
use crate::{ActivityLayer, Tracker};

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
    /// Requests (and HTTP/2 upgraded streams) in progress: called, and not
    /// yet done with their response. What the drain asks.
    open: AtomicUsize,
    /// The waits on the client that run on other tasks, for the bound.
    waits: bound::Waits,
    /// The socket failed (an error, or the client-wait bound): responses in
    /// progress on it were not sent to their end, whatever hyper was handed.
    failed: AtomicBool,
    /// HTTP/1.1: the request being answered has a body not read to its end
    /// yet, so bytes read now are not the next request's head. Set and
    /// cleared by `RequestBody`, in the connection's task.
    body_open: AtomicBool,
    /// Set by the drain: the socket wrapper takes a last look at the socket
    /// when hyper next finds it empty between requests, then ends the
    /// stream (`io.rs`).
    last_look: AtomicBool,
    /// What handlers get as `ConnectInfo`.
    peer: Peer,
}

impl Conn {
    /// The state of a connection `accepted`: it counts as activity until its
    /// first request.
    fn accepted(accepted: Accepted, timeout: Duration, peer: Peer) -> Arc<Conn> {
        Arc::new(Conn {
            tracker: accepted.into_tracker(),
            unanswered: AtomicBool::new(true),
            calls: AtomicU32::new(0),
            kind: AtomicU8::new(0),
            head_back: timeout.saturating_sub(bound::BOUND),
            open: AtomicUsize::new(0),
            waits: bound::Waits::default(),
            failed: AtomicBool::new(false),
            body_open: AtomicBool::new(false),
            last_look: AtomicBool::new(false),
            peer,
        })
    }

    /// Requests in progress (see `open`).
    fn open(&self) -> usize {
        // Relaxed: read by the connection's own task, which hyper wakes when
        // a stream ends; a stale reading only delays the drain's next step
        // to the next wake-up.
        self.open.load(Ordering::Relaxed)
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

    /// hyper is about to call the service with `request`. Returns whether
    /// the request takes over the activity held since accept (a first
    /// request that counts) rather than beginning its own.
    fn called<B>(&self, request: &Request<B>, ignored: bool) -> bool {
        let mut takes_over = false;
        if self.is_unanswered() {
            if request.version() == Version::HTTP_2 {
                self.kind.fetch_or(HTTP2, Ordering::Relaxed);
            }
            if ignored {
                self.settle(false);
            } else {
                // Relaxed: as in `settle`, the swap only decides who ends
                // the activity.
                takes_over = self.unanswered.swap(false, Ordering::Relaxed);
            }
        }
        // Relaxed, and a load and a store rather than a read-modify-write:
        // only this connection's task writes it, and only its socket wrapper,
        // polled by the same task, reads it.
        let calls = self.calls.load(Ordering::Relaxed);
        self.calls.store(calls.wrapping_add(1), Ordering::Relaxed);
        takes_over
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

/// A connection's activity from accept until its [`Conn`] takes it over,
/// on the connection's task; ended silently if the task never runs.
struct Accepted(Option<Tracker>);

impl Accepted {
    fn new(tracker: &Tracker) -> Self {
        tracker.begin();
        Accepted(Some(tracker.clone()))
    }

    fn into_tracker(mut self) -> Tracker {
        match self.0.take() {
            Some(tracker) => tracker,
            None => unreachable!("an Accepted is taken over once"),
        }
    }
}

impl Drop for Accepted {
    fn drop(&mut self) {
        if let Some(tracker) = &self.0 {
            tracker.end_silently();
        }
    }
}

/// hyper's HTTP/1.1 and HTTP/2 server, with upgrades (WebSockets over both,
/// HTTP/2 extended `CONNECT` included, as `axum::serve` has them).
///
/// HTTP/2 streams keep hyper's send buffer (400 KiB), as `axum::serve`
/// does: what a response's activity leaves unsent at its end is bounded by
/// the client's windows, not by that buffer (`body.rs`). A smaller buffer
/// cost a streamed body a round trip between the stream's task and the
/// connection's every 64 KiB (3 % more instructions for 1 MiB streamed).
fn http_builder() -> auto::Builder<Executor> {
    let mut builder = auto::Builder::new(Executor);
    // No hyper timer for HTTP/1: it would arm a header-read timer on every
    // request. The first request and split heads are bounded by the
    // client-wait bound (`bound.rs`), which arms a timer only when a read
    // pends.
    builder.http1().header_read_timeout(None);
    builder
        .http2()
        .timer(TokioTimer::new())
        .enable_connect_protocol();
    builder
}

/// Everything needed to serve one more accepted connection.
pub(crate) struct Connections<S> {
    service: S,
    layer: ActivityLayer,
    /// Shared by the connection tasks, which build their connection from it
    /// once running (rather than moving a built one into the task).
    builder: Arc<auto::Builder<Executor>>,
    /// The connection tasks, and the signal that drains them.
    open: Arc<OpenConnections>,
}

impl<S: HttpService> Connections<S> {
    /// Serves `service`, with `layer`'s accounting, on the connections
    /// given to [`spawn`](Connections::spawn).
    pub(crate) fn new(service: S, layer: ActivityLayer) -> Self {
        Connections {
            service: finalized(service),
            layer,
            builder: Arc::new(http_builder()),
            open: Arc::default(),
        }
    }

    /// The connection tasks still running, and the drain.
    pub(crate) fn open(&self) -> &Arc<OpenConnections> {
        &self.open
    }

    /// Serves `stream` on a task of its own until it closes.
    pub(crate) fn spawn(&self, stream: Stream, peer: Peer) {
        // The connection counts from now; its state is made on its task,
        // on the thread that frees it (an allocation freed on another
        // thread costs the allocator a few hundred instructions more).
        let accepted = Accepted::new(self.layer.tracker());
        let service = self.service.clone();
        let layer = self.layer.clone();
        let builder = self.builder.clone();
        let counted = Counted::new(&self.open);
        tokio::spawn(async move {
            // The timeout in force now bounds this connection's split heads.
            let timeout = layer.tracker().timeout_in_force();
            let conn = Conn::accepted(accepted, timeout, peer);
            let service = ConnectionService::new(service, layer, conn.clone());
            let io = TokioIo::new(TrackedIo::new(stream, conn.clone()));
            let connection = std::pin::pin!(builder.serve_connection_with_upgrades(io, service));
            ConnectionTask::new(connection, conn, counted).await;
        });
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
