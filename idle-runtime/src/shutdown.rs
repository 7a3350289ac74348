//! Why and how a server stopped: the shutdown triggers (idleness, SIGTERM,
//! SIGINT, a future of the user's) and the report of the drain.
//!
//! All triggers feed the same drain in [`serve`](crate::serve()): stop
//! accepting, close idle keep-alive connections, let running requests,
//! bodies and keep-awake guards finish, give up after `grace`. A second
//! SIGTERM or SIGINT during the drain ends it at once.

use std::fmt;
use std::time::Duration;

/// What started the shutdown: in the [`ShutdownReport`], and given to the
/// shutdown hook.
///
/// # Examples
///
/// A shutdown hook (`on_shutdown` of the attribute, or
/// [`Serve::with_shutdown_hook`](crate::Serve::with_shutdown_hook)) that
/// says why the server stops:
///
/// ```
/// use idle_runtime::ShutdownReason;
///
/// async fn flush(reason: ShutdownReason) {
///     if reason == ShutdownReason::Idle {
///         eprintln!("idle: nothing to flush");
///     } else {
///         eprintln!("flushing before exit ({reason})"); // "SIGTERM", ...
///     }
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShutdownReason {
    /// Nothing was active for the configured timeout.
    Idle,
    /// The process received SIGTERM (Cloud Run, Kubernetes, systemd).
    Terminate,
    /// The process received SIGINT (Fly.io's default, Ctrl-C).
    Interrupt,
    /// The maximum lifetime
    /// ([`Config::with_max_lifetime`](crate::Config::with_max_lifetime)) was
    /// reached.
    MaxLifetime,
    /// The future given to
    /// [`Serve::with_shutdown_signal`](crate::Serve::with_shutdown_signal)
    /// completed.
    Requested,
}

impl fmt::Display for ShutdownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ShutdownReason::Idle => "idle",
            ShutdownReason::Terminate => "SIGTERM",
            ShutdownReason::Interrupt => "SIGINT",
            ShutdownReason::Requested => "shutdown requested",
            ShutdownReason::MaxLifetime => "maximum lifetime reached",
        })
    }
}

/// How the drain ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Drain {
    /// Every connection closed and every activity ended within `grace`.
    Complete,
    /// `grace` ran out; this many activities were cut short: connections
    /// still open (each with work in flight, ignored requests included:
    /// idle keep-alive connections are closed at the start of the drain),
    /// plus keep-awake guards and upgraded connections still held.
    GraceExpired {
        /// Connections, guards and upgraded connections cut short.
        abandoned: u64,
    },
    /// A second signal arrived during the drain, which ended at once.
    Forced {
        /// Connections, guards and upgraded connections cut short, counted
        /// as for [`Drain::GraceExpired`].
        abandoned: u64,
    },
}

/// What became of the shutdown hook
/// ([`Serve::with_shutdown_hook`](crate::Serve::with_shutdown_hook)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HookOutcome {
    /// No hook was given.
    NotSet,
    /// The hook ran to its end.
    Completed,
    /// The hook did not finish within `grace` and was abandoned.
    TimedOut,
    /// The hook panicked.
    Panicked,
    /// A signal arrived while the hook ran; it was abandoned.
    Interrupted,
    /// A second signal cut the drain short; the hook did not run.
    Skipped,
}

/// What [`Serve`](crate::Serve) returns once the server has stopped.
///
/// # Examples
///
/// ```no_run
/// use idle_runtime::{Drain, Listener};
///
/// # async fn example(listener: Listener, app: axum::Router) -> std::io::Result<()> {
/// let report = idle_runtime::serve(listener, app).await?;
/// eprintln!(
///     "stopped ({}) after {:?}, {} requests served",
///     report.reason, report.uptime, report.requests
/// );
/// if let Drain::GraceExpired { abandoned } = report.drain {
///     eprintln!("{abandoned} activities were cut short");
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// What started the shutdown.
    pub reason: ShutdownReason,
    /// How the drain ended.
    pub drain: Drain,
    /// What became of the shutdown hook.
    pub hook: HookOutcome,
    /// Time from the start of serving to the end of the shutdown (the drain
    /// and the shutdown hook): what the exit line prints.
    pub uptime: Duration,
    /// Requests served: requests that counted as activity and whose
    /// response was sent to its end by the end of the drain.
    pub requests: u64,
    /// Requests that counted as activity and ended before their response
    /// did, by the end of the drain: cut by their client (a reset, a closed
    /// connection), by the bound on a client that delivers nothing, or by a
    /// panicking or cancelled handler. Requests still running when the drain
    /// gave up are counted in [`abandoned`](ShutdownReport::abandoned), not
    /// here.
    pub cut: u64,
}

impl ShutdownReport {
    /// Activities that were still running when the server stopped waiting.
    pub fn abandoned(&self) -> u64 {
        match self.drain {
            Drain::Complete => 0,
            Drain::GraceExpired { abandoned } | Drain::Forced { abandoned } => abandoned,
        }
    }
}

/// The process's SIGTERM and SIGINT, registered once and kept for the
/// lifetime of the server so that no signal falls between two registrations.
pub(crate) struct Signals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    /// Registers the handlers. From here on SIGTERM and SIGINT no longer kill
    /// the process; they are delivered to [`Signals::recv`].
    pub(crate) fn new() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                terminate: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Signals {})
        }
    }

    /// The next signal.
    pub(crate) async fn recv(&mut self) -> ShutdownReason {
        #[cfg(unix)]
        {
            tokio::select! {
                Some(()) = self.terminate.recv() => ShutdownReason::Terminate,
                Some(()) = self.interrupt.recv() => ShutdownReason::Interrupt,
                else => std::future::pending().await,
            }
        }
        #[cfg(not(unix))]
        {
            match tokio::signal::ctrl_c().await {
                Ok(()) => ShutdownReason::Interrupt,
                Err(_) => std::future::pending().await,
            }
        }
    }
}
