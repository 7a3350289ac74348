//! A request's activity on its connection, and the two bodies that carry
//! it: the request body the handler reads ([`RequestBody`]) and the response
//! body hyper sends ([`ResponseBody`]).
//!
//! - [`Open`] is the request's place on its connection: counted in
//!   `Conn::open` (what the drain asks: is a request in progress?) and, unless
//!   the request is ignored, an activity on the tracker. Dropping it ends
//!   both, and counts the request as served if its response reached its end,
//!   as cut otherwise.
//! - [`RequestBody`] tells the connection when the handler waits for body
//!   bytes the client has not sent: the client-wait bound (`bound.rs`) then
//!   runs.
//! - [`ResponseBody`] holds the [`Open`] until the response's end has been
//!   handed to hyper. Over HTTP/2 it also tells the connection when a data
//!   frame waits for the client's flow-control window, and holds back the
//!   last 16 KiB of a large final frame, so that the request stays active
//!   until the rest has left the stream, but for what the client's windows
//!   already let out (see [`ResponseBody`]).

use std::cell::Cell;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::bound::{BODY, WINDOW};
use super::Conn;

/// A request in progress on its connection (or an HTTP/2 upgraded stream):
/// see the [module docs](self).
pub(crate) struct Open {
    conn: Arc<Conn>,
    kind: OpenKind,
    /// The upgrade the request asked for, which its response decides (see
    /// `service.rs`). Kept here, in the padding, rather than beside it: the
    /// future hyper spawns per HTTP/2 stream stays within tokio's 512-byte
    /// task (a smaller allocation, from the allocator's per-thread cache).
    pub(super) upgrade: AskedUpgrade,
}

/// The upgrade a request asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum AskedUpgrade {
    None,
    /// An `Upgrade` header (HTTP/1.1).
    Upgrade,
    /// A `CONNECT` (HTTP/1.1) or an extended `CONNECT` (HTTP/2).
    Connect,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum OpenKind {
    /// A request that does not count as activity (ignored, a probe).
    Ignored,
    /// A request that counts; `served`: its response reached its end.
    Counted { served: bool },
    /// An HTTP/2 upgraded stream (a WebSocket over extended `CONNECT`): an
    /// activity, not a request.
    Upgraded,
}

impl Open {
    /// A request that hyper is about to hand to the service; an activity if
    /// `counts`, already begun if `begun` (the connection's, taken over).
    pub(super) fn request(conn: &Arc<Conn>, counts: bool, begun: bool) -> Open {
        Open::begin(
            conn,
            if counts {
                OpenKind::Counted { served: false }
            } else {
                OpenKind::Ignored
            },
            begun,
        )
    }

    /// An HTTP/2 upgraded stream, until its pump task ends.
    pub(super) fn upgraded(conn: &Arc<Conn>) -> Open {
        Open::begin(conn, OpenKind::Upgraded, false)
    }

    fn begin(conn: &Arc<Conn>, kind: OpenKind, begun: bool) -> Open {
        // Relaxed: the drain reads `open` in the connection's task, woken by
        // hyper whenever a stream changes; nothing else is ordered by it.
        conn.open.fetch_add(1, Ordering::Relaxed);
        if kind != OpenKind::Ignored && !begun {
            conn.tracker.begin();
        }
        Open {
            conn: conn.clone(),
            kind,
            upgrade: AskedUpgrade::None,
        }
    }

    /// The response reached its end.
    fn served(&mut self) {
        if let OpenKind::Counted { served } = &mut self.kind {
            *served = true;
        }
    }

    pub(super) fn conn(&self) -> &Arc<Conn> {
        &self.conn
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.conn.open.fetch_sub(1, Ordering::Relaxed);
        match self.kind {
            OpenKind::Ignored => {}
            OpenKind::Counted { served } => {
                // Relaxed: set by the socket wrapper before hyper learns of
                // the failure and drops what it was sending.
                let failed = self.conn.failed.load(Ordering::Relaxed);
                self.conn.tracker.end_request(served && !failed);
            }
            OpenKind::Upgraded => self.conn.tracker.end(),
        }
    }
}

pin_project! {
    /// The request body handed to the handler: hyper's, plus the
    /// connection's "the server waits for its client" signal while a read of
    /// it is pending.
    pub(crate) struct RequestBody<B> {
        #[pin]
        inner: B,
        conn: Arc<Conn>,
        // The last poll was pending: a body wait is counted on the connection.
        waiting: bool,
    }

    impl<B> PinnedDrop for RequestBody<B> {
        fn drop(this: Pin<&mut Self>) {
            if this.waiting {
                this.conn.waits.end(BODY);
            }
            this.conn.body_open.store(false, Ordering::Relaxed);
        }
    }
}

impl<B> RequestBody<B> {
    pub(super) fn new(inner: B, conn: Arc<Conn>) -> Self {
        // Relaxed: read by the socket wrapper, in the connection's task
        // (HTTP/1.1, where this is created and read); a hint for HTTP/2.
        conn.body_open.store(true, Ordering::Relaxed);
        RequestBody {
            inner,
            conn,
            waiting: false,
        }
    }
}

impl<B: Body> Body for RequestBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = this.inner.as_mut().poll_frame(cx);
        // One branch when bytes are at hand; the connection is told only
        // when a wait begins or ends.
        if frame.is_pending() != *this.waiting {
            *this.waiting = frame.is_pending();
            if *this.waiting {
                this.conn.waits.begin(BODY);
            } else {
                this.conn.waits.end(BODY);
            }
        }
        if matches!(frame, Poll::Ready(None)) || this.inner.is_end_stream() {
            this.conn.body_open.store(false, Ordering::Relaxed);
        }
        frame
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

/// The part of a large final HTTP/2 data frame held back until hyper asks
/// again. h2 lets hyper ask once the stream's buffered data is below the
/// capacity the client's windows have granted it (and below the send
/// buffer's limit): what is left of the frame can then go out as soon as
/// the connection writes it, and the socket wrapper holds an activity while
/// the socket does not take it (`io.rs`). With a client's default 64 KiB
/// windows, a request stays active to its last 80 KiB.
const TAIL: usize = 16 * 1024;

pin_project! {
    /// The response body handed to hyper: the user's body, holding the
    /// request's [`Open`] until its end has been handed on.
    ///
    /// The response counts as served if hyper learns of its end: the body
    /// reported it (`is_end_stream`, which hyper asks after every frame, or
    /// the end of its frames). Over HTTP/1.1 the socket shows what hyper has
    /// not written yet (`io.rs`), and frames pass through with a branch.
    /// Over HTTP/2 hyper buffers each data frame in the stream until the
    /// client's window lets it out, and asks the body for the next frame as
    /// soon as the stream's buffered data is below the capacity the
    /// client's windows have granted it. So:
    ///
    /// - between handing a data frame and being asked again, the stream
    ///   waits for its client (a `WINDOW` wait on the connection), which the
    ///   client-wait bound watches: two atomic operations per data frame,
    ///   against hyper's and h2's thousands;
    /// - a final frame larger than 16 KiB is handed in two parts, all but
    ///   its last 16 KiB, then the rest, which hyper takes only once the
    ///   first part has (but for what the windows let out) gone out: the
    ///   request stays active while a slow client reads a large buffered
    ///   body, at the cost of one more frame per response rather than a
    ///   slice per 16 KiB.
    ///
    /// Frames pass through as they are: the body's data is [`Bytes`].
    pub(crate) struct ResponseBody<B> {
        #[pin]
        inner: B,
        open: Option<Open>,
        // hyper learned of the end of the response.
        ended: Cell<bool>,
        http2: bool,
        // HTTP/2: a data frame was handed and hyper has not asked again.
        handed: bool,
        // HTTP/2: the held-back end of a large final frame.
        tail: Option<Bytes>,
    }

    impl<B> PinnedDrop for ResponseBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(open) = this.open {
                if *this.handed {
                    open.conn().waits.end(WINDOW);
                }
                if this.ended.get() {
                    open.served();
                }
            }
        }
    }
}

impl<B> ResponseBody<B> {
    pub(super) fn new(inner: B, open: Open, http2: bool) -> Self {
        ResponseBody {
            inner,
            open: Some(open),
            ended: Cell::new(false),
            http2,
            handed: false,
            tail: None,
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    #[inline(always)]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.http2 {
            return self.poll_frame_http2(cx);
        }
        // HTTP/1.1: the frame passes through, after a look at its kind;
        // inlined into hyper's `Dispatcher::poll_write`, so that the frame
        // is not moved once more. What hyper then spends per chunk depends
        // also on whether LLVM inlines its `Conn::write_body` there: on
        // whether rustc puts the two in one codegen unit of the crate that
        // instantiates them (idle-runtime under `#[idle_server]`), about 60
        // instructions per chunk (README, "Build settings").
        let this = self.project();
        let frame = this.inner.poll_frame(cx);
        match &frame {
            Poll::Ready(Some(Ok(frame))) => {
                if frame.is_trailers() {
                    // Trailers end the response.
                    this.ended.set(true);
                }
            }
            Poll::Ready(None) => this.ended.set(true),
            // The request is over, cut.
            Poll::Ready(Some(Err(_))) => *this.open = None,
            Poll::Pending => {}
        }
        frame
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        let end = self.tail.is_none() && self.inner.is_end_stream();
        if end {
            self.ended.set(true);
        }
        end
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        let mut hint = self.inner.size_hint();
        if let Some(tail) = &self.tail {
            let tail = tail.len() as u64;
            if let Some(upper) = hint.upper() {
                hint.set_upper(upper.saturating_add(tail));
            }
            hint.set_lower(hint.lower().saturating_add(tail));
        }
        hint
    }
}

impl<B> ResponseBody<B>
where
    B: Body<Data = Bytes>,
{
    /// HTTP/2: the window wait and the held-back tail (see
    /// [`ResponseBody`]). Frames pass through as the HTTP/1.1 path's do,
    /// but for a large final one. Out of line, so that the HTTP/1.1 path
    /// stays small where hyper inlines it.
    #[inline(never)]
    fn poll_frame_http2(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        if *this.handed {
            // Asked again: the last frame is on its way.
            *this.handed = false;
            if let Some(open) = this.open {
                open.conn().waits.end(WINDOW);
            }
        }
        if this.tail.is_some() {
            this.ended.set(true);
            return Tracking {
                open: this.open,
                handed: this.handed,
                tail: this.tail,
            }
            .hand_tail();
        }
        let poll = this.inner.as_mut().poll_frame(cx);
        match &poll {
            Poll::Ready(Some(Ok(frame))) => match frame.data_ref() {
                Some(data) => {
                    if !this.inner.is_end_stream() {
                        handed(this.handed, this.open);
                    } else if data.len() > TAIL {
                        return Tracking {
                            open: this.open,
                            handed: this.handed,
                            tail: this.tail,
                        }
                        .hold_tail(poll);
                    }
                    // Else a small final frame: hyper sends it with the end
                    // of the stream (and asks `is_end_stream`).
                }
                // Trailers end the stream (a gRPC call's status).
                None => this.ended.set(true),
            },
            Poll::Ready(None) => this.ended.set(true),
            // The request is over, cut.
            Poll::Ready(Some(Err(_))) => *this.open = None,
            Poll::Pending => {}
        }
        poll
    }
}

/// What the HTTP/2 path changes besides its frame, borrowed field by field
/// (not as the whole projection, which would have to be built in memory).
struct Tracking<'a> {
    open: &'a Option<Open>,
    handed: &'a mut bool,
    tail: &'a mut Option<Bytes>,
}

impl Tracking<'_> {
    /// The held-back end of a large final frame. hyper sends it with the
    /// end of the stream once the rest has gone out, and asks no more: the
    /// wait for the window lasts until it drops the body.
    #[cold]
    fn hand_tail<E>(self) -> Poll<Option<Result<Frame<Bytes>, E>>> {
        handed(self.handed, self.open);
        Poll::Ready(self.tail.take().map(|tail| Ok(Frame::data(tail))))
    }

    /// A final data frame larger than [`TAIL`]: all but its last 16 KiB
    /// now, the rest when hyper asks again.
    #[cold]
    fn hold_tail<E>(
        self,
        frame: Poll<Option<Result<Frame<Bytes>, E>>>,
    ) -> Poll<Option<Result<Frame<Bytes>, E>>> {
        let mut data = match frame {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => data,
                Err(frame) => return Poll::Ready(Some(Ok(frame))),
            },
            other => return other,
        };
        *self.tail = Some(data.split_off(data.len() - TAIL));
        handed(self.handed, self.open);
        Poll::Ready(Some(Ok(Frame::data(data))))
    }
}

/// An HTTP/2 data frame is handed to hyper: the stream waits for its
/// client's window until hyper asks again (or drops the body).
#[inline]
fn handed(handed: &mut bool, open: &Option<Open>) {
    *handed = true;
    if let Some(open) = open {
        open.conn().waits.begin(WINDOW);
    }
}
