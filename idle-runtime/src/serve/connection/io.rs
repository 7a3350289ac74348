//! The connection's socket, as hyper reads and writes it: partial request
//! heads (HTTP/1.1), bytes not yet written, and the bound on a client that
//! takes none. See the [parent module](super) for what counts and why.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::{Conn, CONNECTION_BOUND, UPGRADED};

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
