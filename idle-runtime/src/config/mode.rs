//! The idle mode: whether the server exits when idle.
//!
//! Where the platform itself scales to zero and treats an exit as a crash,
//! exiting when idle is wrong; only the signal drain is wanted. The mode is
//! chosen by [`Config::apply_env`], first match wins:
//!
//! | environment                | platform                  | mode         |
//! |----------------------------|---------------------------|--------------|
//! | `IDLE_MODE=exit`/`drain-only` | (explicit override)    | as given     |
//! | `K_SERVICE` set            | Cloud Run, Knative        | `drain-only` |
//! | `AWS_LAMBDA_RUNTIME_API` set | AWS Lambda              | `drain-only` |
//! | `LISTEN_FDS` set           | systemd socket activation | `exit`       |
//! | `FLY_MACHINE_ID` set       | Fly.io Machines           | `exit`       |
//! | otherwise                  |                           | `exit`       |
//!
//! The startup line says which mode was chosen and why.

/// Whether the server exits when idle.
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

pub(super) const MODE_EXPECTED: &str = "`exit` or `drain-only`";

/// Platform detection, first match wins: the variable, the mode, the reason.
pub(super) const PLATFORMS: [(&str, IdleMode, &str); 4] = [
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
        "socket activation: LISTEN_FDS is set",
    ),
    (
        "FLY_MACHINE_ID",
        IdleMode::Exit,
        "Fly.io: FLY_MACHINE_ID is set",
    ),
];
