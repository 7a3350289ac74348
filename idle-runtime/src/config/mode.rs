//! The idle mode: whether the server exits when idle.
//!
//! Where the platform itself scales to zero and treats an exit as a crash,
//! exiting when idle is wrong; only the signal drain is wanted. The mode is
//! chosen by [`Config::apply_env`](crate::Config::apply_env), first match wins:
//!
//! | environment                | platform                  | mode         |
//! |----------------------------|---------------------------|--------------|
//! | `IDLE_MODE=exit`/`drain-only` | (explicit override)    | as given     |
//! | `K_SERVICE` set            | Cloud Run, Knative        | `drain-only` |
//! | `AWS_LAMBDA_RUNTIME_API` set | AWS Lambda              | `drain-only` |
//! | `LISTEN_PID`, `LISTEN_FDS` for this process | systemd socket activation | `exit` |
//! | `FLY_MACHINE_ID` set       | Fly.io Machines           | `exit`       |
//! | otherwise                  |                           | `exit`       |
//!
//! The startup line says which mode was chosen and why.

use std::ffi::OsString;

/// Whether the server exits when idle.
///
/// [`Config::apply_env`](crate::Config::apply_env) chooses it from the
/// platform (or `IDLE_MODE`); [`Config::with_mode`](crate::Config::with_mode)
/// sets it in code.
///
/// # Examples
///
/// ```
/// use idle_runtime::{Config, IdleMode};
///
/// // Behind a platform that scales to zero by itself: drain on SIGTERM only.
/// let config = Config::default().with_mode(IdleMode::DrainOnly);
/// assert_eq!(config.mode.to_string(), "drain-only");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IdleMode {
    /// Shut down after `timeout` without activity, and on SIGTERM/SIGINT.
    #[default]
    Exit,
    /// Never shut down for idleness; only SIGTERM/SIGINT start the drain.
    /// For platforms that scale to zero themselves (Cloud Run, Knative,
    /// AWS Lambda).
    DrainOnly,
}

impl std::fmt::Display for IdleMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IdleMode::Exit => "exit",
            IdleMode::DrainOnly => "drain-only",
        })
    }
}

/// What `IDLE_MODE` may be: the names [`IdleMode`] displays as.
pub(super) const MODE_EXPECTED: &str = "`exit` or `drain-only`";

/// The mode named as [`IdleMode`] displays it, if it is one.
pub(super) fn from_name(name: &str) -> Option<IdleMode> {
    match name {
        "exit" => Some(IdleMode::Exit),
        "drain-only" => Some(IdleMode::DrainOnly),
        _ => None,
    }
}

/// The mode of the first platform in [`PLATFORMS`] whose variable `lookup`
/// finds, with the reason the startup line gives. `activated`: sockets were
/// passed to this process, as `sd_listen_fds(3)` decides (and
/// `take_activated_listener` with it); otherwise the server binds `addr`
/// and socket activation is not the reason for anything.
pub(super) fn detect(
    lookup: &impl Fn(&str) -> Option<OsString>,
    activated: bool,
) -> Option<(IdleMode, &'static str)> {
    PLATFORMS
        .iter()
        .find(|(variable, _, _)| match *variable {
            "LISTEN_FDS" => activated,
            _ => lookup(variable).is_some(),
        })
        .map(|(_, mode, reason)| (*mode, *reason))
}

/// Platform detection, first match wins: the variable, the mode, the reason.
const PLATFORMS: [(&str, IdleMode, &str); 4] = [
    (
        "K_SERVICE",
        IdleMode::DrainOnly,
        "Cloud Run/Knative: K_SERVICE is set",
    ),
    (
        "AWS_LAMBDA_RUNTIME_API",
        IdleMode::DrainOnly,
        "AWS Lambda: AWS_LAMBDA_RUNTIME_API is set",
    ),
    (
        "LISTEN_FDS",
        IdleMode::Exit,
        "socket activation: LISTEN_PID and LISTEN_FDS are set",
    ),
    (
        "FLY_MACHINE_ID",
        IdleMode::Exit,
        "Fly.io: FLY_MACHINE_ID is set",
    ),
];
