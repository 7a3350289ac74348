//! The connection's socket, as hyper reads and writes it: partial request
//! heads (HTTP/1.1), bytes not yet written, the bound on a client that
//! delivers nothing (`bound.rs`), and the last look at the socket when the
//! server drains. See the [parent module](super) for what counts and why.

use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::bound::{Bound, Local, Stalled};
use super::{Conn, UPGRADED};
use crate::listener::Stream;

/// Where the socket wrapper is in reading a request head (HTTP/1.1).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Head {
    /// Nothing read since the last response was written.
    Idle,
    /// Bytes read; `calls` was the service's call count then.
    Reading { calls: u32 },
    /// A split head that has restarted the idle clock (`calls` as in
    /// `Reading`).
    Counted { calls: u32 },
    /// The service was called since the bytes were read; `more`: bytes
    /// were read after that (a body, or the start of the next head, which
    /// must not be forgotten when the response is written).
    Answering { more: bool },
}

/// What an HTTP/1.1 client gets when its request body never comes and no
/// byte of the response has been written yet.
const REQUEST_TIMEOUT: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

/// The connection's socket, tracking partial heads, unwritten bytes and the
/// client-wait bound.
///
/// Reads and writes that complete cost a branch or two on its own fields;
/// the tracker is touched only when a head is split across reads or a write
/// finds the socket full, and the bound is looked at only when a read or
/// write pends.
pub(crate) struct TrackedIo {
    inner: Stream,
    conn: Arc<Conn>,
    head: Head,
    /// A write found the socket full and no flush has completed since: the
    /// connection holds an activity.
    blocked: bool,
    /// Reads and writes that moved bytes: the client delivered something.
    moved: u64,
    /// The client-wait bound's timer.
    bound: Bound,
    /// The read side was closed by the drain's last look (Unix sockets).
    shut_read: bool,
}

impl TrackedIo {
    pub(crate) fn new(inner: Stream, conn: Arc<Conn>) -> Self {
        TrackedIo {
            inner,
            conn,
            head: Head::Idle,
            blocked: false,
            moved: 0,
            bound: Bound::default(),
            shut_read: false,
        }
    }

    #[inline]
    fn read_some(&mut self) {
        self.moved = self.moved.wrapping_add(1);
        match self.head {
            Head::Idle => self.head = self.reading(),
            // Bytes of the request's own body are not the next head.
            Head::Answering { more: false } if !self.conn.body_open.load(Ordering::Relaxed) => {
                self.head = Head::Answering { more: true }
            }
            _ => {}
        }
    }

    fn reading(&self) -> Head {
        Head::Reading {
            calls: self.conn.calls.load(Ordering::Relaxed),
        }
    }

    /// hyper wants more bytes and the socket has none.
    fn read_pending(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.head {
            Head::Reading { calls } | Head::Counted { calls }
                if calls != self.conn.calls.load(Ordering::Relaxed) =>
            {
                self.head = Head::Answering { more: false };
            }
            Head::Reading { calls } => {
                // A head has begun and the service has not been called
                // since: it is split across reads, and counts. Not for the
                // first request (the connection's own activity covers it),
                // HTTP/2 (frames, not heads) or upgraded sockets.
                self.head = Head::Counted { calls };
                if self.conn.kind() == 0 && !self.conn.is_unanswered() {
                    self.conn.tracker.touch_back(self.conn.head_back);
                }
            }
            _ => {}
        }
        if let Some(stalled) = self.check_bound(cx) {
            return Poll::Ready(Err(self.stalled(cx, stalled)));
        }
        // Relaxed: set by the connection's task, which polls this socket
        // right after setting it.
        if self.conn.last_look.load(Ordering::Relaxed) {
            return self.last_look(buf);
        }
        Poll::Pending
    }

    /// A write returned `Pending`: hold an activity until the next completed
    /// flush, and look at the bound.
    fn write_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if !self.blocked {
            self.blocked = true;
            self.conn.tracker.begin();
        }
        match self.check_bound(cx) {
            Some(stalled) => Poll::Ready(Err(self.stalled(cx, stalled))),
            None => Poll::Pending,
        }
    }

    #[inline]
    fn check_bound(&mut self, cx: &mut Context<'_>) -> Option<Stalled> {
        let waits = &self.conn.waits;
        let local = Local {
            first_request: self.conn.is_unanswered(),
            // HTTP/1.1 only: HTTP/2 frames are not heads.
            head: self.conn.kind() == 0 && matches!(self.head, Head::Counted { .. }),
            socket: self.blocked,
        };
        self.bound.check(cx, waits, local, self.moved)
    }

    /// The bound fired: report it, answer 408 where an HTTP/1.1 response can
    /// still be written, and fail the socket, which closes the connection
    /// and ends its activity.
    fn stalled(&mut self, cx: &mut Context<'_>, stalled: Stalled) -> io::Error {
        stalled.report();
        self.failed();
        if stalled == Stalled::Body
            && self.conn.kind() == 0
            && matches!(self.head, Head::Answering { .. })
        {
            // Nothing of the response has been written: best effort, the
            // socket has room.
            let _ = Pin::new(&mut self.inner).poll_write(cx, REQUEST_TIMEOUT);
        }
        io::Error::new(
            io::ErrorKind::TimedOut,
            "the client delivered nothing for 30s while the server waited on it",
        )
    }

    /// The drain's last look, on a connection between requests (HTTP/1.1,
    /// or one that has sent nothing yet): what the client sent before the
    /// close is answered, what it sends after fails at its end.
    ///
    /// A Unix socket's read side is closed first, so that the client's
    /// later writes fail (EPIPE) while what is queued can still be read: a
    /// proxy then knows its request was never sent. Then the socket is read
    /// with a system call, whatever the runtime last learned of it: bytes go
    /// to hyper, which answers them (the connection's task then closes it
    /// after that response); none is the end of the stream, and hyper closes
    /// the connection. Over TCP bytes can still arrive between that read and
    /// the close: the window is those two system calls (see the README on
    /// proxies and RFC 9112 §9.3.1).
    fn last_look(&mut self, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        // Nothing in progress: no request, no response bytes waiting for
        // the socket, no head half read.
        let between_requests = self.conn.open() == 0
            && !self.blocked
            && self.conn.kind() == 0
            && !matches!(self.head, Head::Reading { .. } | Head::Counted { .. });
        if !between_requests {
            return Poll::Pending;
        }
        if !self.shut_read {
            self.shut_read = self.inner.shutdown_read();
        }
        match self.inner.read_now(buf.initialize_unfilled()) {
            Ok(n) => {
                buf.advance(n);
                if n > 0 {
                    self.read_some();
                }
                Poll::Ready(Ok(()))
            }
            // Nothing queued: the end of the stream, and hyper closes.
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => Poll::Ready(Ok(())),
            Err(error) => Poll::Ready(Err(error)),
        }
    }

    /// The socket failed: what is in progress on it is cut.
    #[cold]
    fn failed(&mut self) {
        self.conn.failed.store(true, Ordering::Relaxed);
    }

    #[inline]
    fn unblocked(&mut self) {
        if self.blocked {
            self.blocked = false;
            self.conn.tracker.end();
        }
    }

    /// Before a write: the head's state is settled first, so that nothing
    /// is called while the write's result is held (no spill of it for an
    /// unwind).
    #[inline(always)]
    fn writing(&mut self) {
        if !matches!(self.head, Head::Idle) {
            self.head_answered();
        }
    }

    /// A write returned: the common case (bytes written) is a few
    /// instructions inlined into hyper's and h2's writers.
    #[inline(always)]
    fn wrote(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match result {
            Poll::Ready(Ok(written)) => {
                // The client is taking bytes.
                self.moved = self.moved.wrapping_add(u64::from(written > 0));
                Poll::Ready(Ok(written))
            }
            other => self.write_not_done(cx, other),
        }
    }

    /// A write that did not complete: pending, or failed. One call for
    /// both, out of line: with a call site each, LLVM kept the wrapper out
    /// of h2's writer (`tokio_util::io::poll_write_buf`), about 27
    /// instructions more per write, 1,700 per MiB over HTTP/2.
    #[inline(never)]
    fn write_not_done(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match result {
            Poll::Pending => self.write_pending(cx),
            Poll::Ready(Err(error)) => self.write_failed(error),
            ready => ready,
        }
    }

    /// Whatever was read before a write belonged to a request that is
    /// being answered, except bytes read after its call: they may be the
    /// start of the next head, so they are watched as one (at worst a
    /// body's bytes cost one `touch` as the request ends).
    #[inline(never)]
    fn head_answered(&mut self) {
        self.head = match self.head {
            Head::Answering { more: true } => self.reading(),
            _ => Head::Idle,
        };
    }

    #[cold]
    #[inline(never)]
    fn write_failed(&mut self, error: io::Error) -> Poll<io::Result<usize>> {
        self.failed();
        Poll::Ready(Err(error))
    }
}

impl Drop for TrackedIo {
    fn drop(&mut self) {
        self.unblocked();
        if self.conn.kind() & UPGRADED != 0 {
            // The upgraded connection (a WebSocket) is closed.
            self.conn.tracker.end_held();
        }
    }
}

impl AsyncRead for TrackedIo {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // `remaining` rather than `filled().len()`: no slice, no bounds check.
        let room = buf.remaining();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        match result {
            Poll::Ready(Ok(())) if buf.remaining() < room => this.read_some(),
            // The end of the stream that the last look's `shutdown` made:
            // not the client leaving, and no reason to cut the request it
            // is waiting for (hyper would take it for one).
            Poll::Ready(Ok(())) if this.shut_read && this.conn.open() > 0 => {
                return Poll::Pending;
            }
            Poll::Pending => return this.read_pending(cx, buf),
            Poll::Ready(Err(_)) => this.failed(),
            _ => {}
        }
        result
    }
}

impl AsyncWrite for TrackedIo {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.writing();
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.wrote(cx, result)
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.writing();
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.wrote(cx, result)
    }

    #[inline]
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    #[inline]
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
