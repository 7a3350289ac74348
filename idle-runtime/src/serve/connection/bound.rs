//! The one bound on a client that delivers nothing.
//!
//! Whenever the server waits on its client, 30 s in which the client
//! delivers nothing end the wait: the connection is closed, its activity
//! ends, and one warning line says which wait it was. The server waits on
//! its client:
//!
//! - for a first request, from accept (this one is silent, and counts from
//!   accept whatever the client sends: an idle pre-connection is no error,
//!   and a connection that never asks cannot hold the server);
//! - for the rest of a request head split across reads;
//! - for request body bytes the handler is reading ([`BODY`]);
//! - for the client to take response bytes: through the socket (a write
//!   that finds it full) or, over HTTP/2, through its flow-control windows
//!   (a data frame handed to hyper that it has not been able to send,
//!   [`WINDOW`]).
//!
//! A handler that is slow on its own (a long poll, a computation, a
//! database) waits on nothing of the client's and is never cut. A client
//! that trickles a byte now and then is out of scope: any client can keep a
//! server awake with real requests; the bound is for broken clients, not
//! attackers.
//!
//! # One timer, armed only when a read or write pends
//!
//! The waits of a connection's requests and streams (which run on other
//! tasks over HTTP/2) are counted in [`Waits`], one atomic word with a lane
//! each; the socket's own (first request, split head, full socket) are
//! fields of the socket wrapper. The socket wrapper checks them only when a
//! read or write returns `Pending`: one load and a branch. While any wait
//! is counted, it keeps one timer ([`Bound`]) that fires every 5 s; a period
//! in which no byte moved through the socket and no new wait began is
//! quiet, and six quiet periods in a row (30 to 35 s) fire the bound. The
//! timer is allocated once per connection that ever waits, and reset once
//! per period, never per request or per byte. A wait that begins on another
//! task while the timer is off wakes the connection's task once, so that
//! its socket wrapper arms it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::task::{Context, Waker};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// How long a client may deliver nothing while the server waits on it.
pub(crate) const BOUND: Duration = Duration::from_secs(30);
/// The bound is checked once per period; it fires after `BOUND / PERIOD`
/// quiet periods in a row.
const PERIOD: Duration = Duration::from_secs(5);
const QUIET_PERIODS: u32 = (BOUND.as_secs() / PERIOD.as_secs()) as u32;

/// A lane of [`Waits`]: handlers reading a request body.
pub(super) const BODY: u64 = 1;
/// A lane of [`Waits`]: HTTP/2 data frames waiting for the client's window.
pub(super) const WINDOW: u64 = 1 << 32;
const LANE: u64 = (1 << 32) - 1;

/// The waits on the client that run outside the connection's own task
/// (request bodies, HTTP/2 streams), and how to wake that task.
#[derive(Default)]
pub(crate) struct Waits {
    /// [`BODY`] and [`WINDOW`] waits, one 32-bit count each.
    word: AtomicU64,
    /// Bumped when the word leaves zero: a new wait restarts the bound.
    began: AtomicU32,
    /// The socket wrapper's timer is running: a new wait need not wake it.
    armed: AtomicBool,
    /// The task that polls the socket, registered by the socket wrapper.
    waker: Mutex<Option<Waker>>,
}

impl Waits {
    /// A wait on the client begins (`lane`: [`BODY`] or [`WINDOW`]).
    #[inline]
    pub(super) fn begin(&self, lane: u64) {
        // Relaxed: the count is a hint for the socket wrapper's timer, which
        // re-reads it each period; `began` and the wake below make sure a
        // new wait is seen within one period.
        if self.word.fetch_add(lane, Ordering::Relaxed) == 0 {
            self.began.fetch_add(1, Ordering::Relaxed);
            // Acquire pairs with the Release that clears it: if the timer is
            // seen running, it was armed after the word was last checked.
            if !self.armed.load(Ordering::Acquire) {
                self.wake();
            }
        }
    }

    /// A wait begun with [`begin`](Waits::begin) on `lane` ends.
    #[inline]
    pub(super) fn end(&self, lane: u64) {
        self.word.fetch_sub(lane, Ordering::Relaxed);
    }

    fn load(&self) -> u64 {
        self.word.load(Ordering::Relaxed)
    }

    /// Wakes the task that polls the socket, so that it arms the timer.
    #[cold]
    fn wake(&self) {
        if let Some(waker) = &*self.waker.lock().unwrap_or_else(|e| e.into_inner()) {
            waker.wake_by_ref();
        }
    }
}

/// Which wait a fired bound ended, for its line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stalled {
    /// No request within the bound of accept: closed silently.
    FirstRequest,
    /// The rest of a request head never came.
    Head,
    /// Request body bytes never came.
    Body,
    /// Response bytes were never taken: the socket stayed full.
    Socket,
    /// An HTTP/2 flow-control window never opened.
    Window,
}

impl Stalled {
    /// The warning line (none for a first request).
    pub(super) fn report(self) {
        let what = match self {
            Stalled::FirstRequest => {
                tracing::debug!(target: "idle_runtime", "no request within 30s; closing the connection");
                return;
            }
            Stalled::Head => "sent no more of its request head",
            Stalled::Body => "sent no request body bytes",
            Stalled::Socket => "accepted no response bytes",
            Stalled::Window => "opened no HTTP/2 flow-control window",
        };
        // Rare, and it ends activity: always visible.
        crate::log::warning(&format!(
            "closing a connection whose client {what} for 30s (the bound on a client that delivers nothing)"
        ));
    }
}

/// What the socket wrapper knows of its own waits when a read or write
/// pends.
#[derive(Clone, Copy)]
pub(super) struct Local {
    /// No request yet.
    pub(super) first_request: bool,
    /// A request head split across reads.
    pub(super) head: bool,
    /// A write found the socket full.
    pub(super) socket: bool,
}

/// The socket wrapper's timer: see the [module docs](self).
///
/// The sleep is polled only when it is armed or re-armed, or when another
/// task polls the socket (an upgraded connection's): that registers the
/// task to wake when it fires. Otherwise a check reads whether it has fired
/// (`Sleep::is_elapsed`, one atomic load), so that a read or write that
/// pends costs a few loads and branches, whether the timer runs or not.
///
/// One pointer until the connection first waits on its client: hyper moves
/// the socket wrapper around as it builds a connection, and the timer's
/// state, with its sleep, is one allocation made on the first wait.
#[derive(Default)]
pub(super) struct Bound(Option<Pin<Box<Timer>>>);

pin_project_lite::pin_project! {
    /// The timer's state, with its sleep.
    struct Timer {
        #[pin]
        sleep: Sleep,
        // The timer is running (the sleep may be idle).
        armed: bool,
        // Quiet periods in a row, and periods since a first request began.
        quiet: u32,
        periods: u32,
        // What `moved` and `Waits::began` were at the last period.
        moved_mark: u64,
        began_mark: u32,
        // The task the sleep will wake, and that waits on other tasks wake.
        registered: Option<Waker>,
    }
}

impl Bound {
    /// Checks the bound after a read or write returned `Pending`: keeps the
    /// timer running while the server waits on the client, and returns the
    /// wait that stalled if it fired. `moved` counts the reads and writes
    /// that moved bytes through the socket.
    #[inline]
    pub(super) fn check(
        &mut self,
        cx: &mut Context<'_>,
        waits: &Waits,
        local: Local,
        moved: u64,
    ) -> Option<Stalled> {
        let word = waits.load();
        let waiting = word != 0 || local.first_request || local.head || local.socket;
        if !waiting {
            // The common case between requests: nothing waits. A timer that
            // has fired stops, so that the next wait starts a fresh bound.
            if let Some(timer) = &mut self.0 {
                if timer.armed && timer.sleep.is_elapsed() {
                    disarm(timer.as_mut(), cx, waits);
                }
            }
            return None;
        }
        self.check_slow(cx, waits, local, moved, word)
    }

    #[inline(never)]
    fn check_slow(
        &mut self,
        cx: &mut Context<'_>,
        waits: &Waits,
        local: Local,
        moved: u64,
        word: u64,
    ) -> Option<Stalled> {
        let fresh = self.0.is_none();
        let timer = self.0.get_or_insert_with(|| {
            Box::pin(Timer {
                sleep: tokio::time::sleep(PERIOD),
                armed: false,
                quiet: 0,
                periods: 0,
                moved_mark: 0,
                began_mark: 0,
                registered: None,
            })
        });
        let mut timer = timer.as_mut().project();
        let task_changed = !timer
            .registered
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()));
        if task_changed {
            *timer.registered = Some(cx.waker().clone());
            *waits.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
        }
        if !*timer.armed {
            // Arms the timer (a fresh one runs already).
            if !fresh {
                timer.sleep.as_mut().reset(Instant::now() + PERIOD);
            }
            // Register this task to wake when it fires.
            let _ = timer.sleep.as_mut().poll(cx);
            *timer.armed = true;
            *timer.quiet = 0;
            *timer.periods = 0;
            *timer.moved_mark = moved;
            *timer.began_mark = waits.began.load(Ordering::Relaxed);
            waits.armed.store(true, Ordering::Release);
            return None;
        }
        if task_changed {
            // Register this task with the sleep.
            let _ = timer.sleep.as_mut().poll(cx);
        }
        while timer.sleep.is_elapsed() {
            // A period has passed.
            let began = waits.began.load(Ordering::Relaxed);
            if moved != *timer.moved_mark || began != *timer.began_mark {
                *timer.quiet = 0;
                *timer.moved_mark = moved;
                *timer.began_mark = began;
            } else {
                *timer.quiet += 1;
            }
            *timer.periods += 1;
            if local.first_request && *timer.periods >= QUIET_PERIODS {
                return Some(Stalled::FirstRequest);
            }
            if *timer.quiet >= QUIET_PERIODS {
                return Some(if local.socket {
                    Stalled::Socket
                } else if word & !LANE != 0 {
                    Stalled::Window
                } else if word & LANE != 0 {
                    Stalled::Body
                } else {
                    Stalled::Head
                });
            }
            timer.sleep.as_mut().reset(Instant::now() + PERIOD);
            // Register for the next period (a reset sleep is not elapsed).
            let _ = timer.sleep.as_mut().poll(cx);
        }
        None
    }
}

/// Stops the timer (a wait that begins on another task then wakes this one
/// to arm it again).
#[cold]
fn disarm(timer: Pin<&mut Timer>, cx: &mut Context<'_>, waits: &Waits) {
    *timer.project().armed = false;
    // Release: pairs with the Acquire in `Waits::begin`.
    waits.armed.store(false, Ordering::Release);
    // A wait that began just before this store saw the timer running and
    // did not wake us: look again.
    if waits.load() != 0 {
        cx.waker().wake_by_ref();
    }
}
