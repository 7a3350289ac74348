//! Why and how a server stopped: the shutdown triggers (idleness, SIGTERM,
//! SIGINT, a future of the user's) and the report of the drain.
//!
//! All triggers feed the same drain in [`serve`](crate::serve): stop
//! accepting, close idle keep-alive connections, let running requests,
//! bodies and keep-awake guards finish, give up after `grace`. A second
//! SIGTERM or SIGINT during the drain ends it at once.

use std::fmt;
use std::time::Duration;

/// What started the shutdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShutdownReason {
    /// Nothing was active for the configured timeout.
    Idle,
    /// The process received SIGTERM (Cloud Run, Kubernetes, systemd).
    Terminate,
    /// The process received SIGINT (Fly.io's default, Ctrl-C).
    Interrupt,
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
        })
    }
}

/// How the drain ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Drain {
    /// Every connection closed and every activity ended within `grace`.
    Complete,
    /// `grace` ran out; this many activities (requests, unanswered
    /// connections, keep-awake guards) were still running and are abandoned.
    GraceExpired {
        /// Activities still running when the drain gave up.
        abandoned: u64,
    },
    /// A second signal arrived during the drain, which ended at once.
    Forced {
        /// Activities still running when the drain was cut short.
        abandoned: u64,
    },
}

/// What [`Serve`](crate::Serve) returns once the server has stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// What started the shutdown.
    pub reason: ShutdownReason,
    /// How the drain ended.
    pub drain: Drain,
    /// Time from the start of serving to the end of the drain.
    pub uptime: Duration,
    /// Requests that counted as activity.
    pub requests: u64,
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
