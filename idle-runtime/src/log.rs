//! One-line messages on stderr (or to a `tracing` subscriber, when one is
//! installed): warnings that do not stop the server, and the fatal error of
//! the `#[idle_server]` main. The server's lifecycle lines live with the
//! server, in `serve/lines.rs`; this module depends on nothing else in the
//! crate, so that every module may report through it.

use std::io::Write;
use std::time::Duration;

use crate::shutdown::ShutdownReason;

/// Writes one line on stderr, and nothing else can: every line the runtime
/// prints goes through here. A failed write is ignored: when stderr is
/// closed, or is a pipe whose reader has gone (a log shipper that died:
/// `EPIPE`), `eprintln!` would panic and turn a clean exit 0 into 101, which
/// platforms restart as a crash. The line is written with one `write` call,
/// so lines from several threads do not interleave.
pub(crate) fn stderr_line(args: std::fmt::Arguments<'_>) {
    let mut line = args.to_string();
    line.push('\n');
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// A duration as the attribute and the environment spell it (`1m30s`).
pub(crate) fn fmt_duration(duration: Duration) -> impl std::fmt::Display {
    idle_duration::format(duration)
}

/// Whether a global `tracing` subscriber is installed: lines go to it
/// rather than to stderr.
pub(crate) fn has_subscriber() -> bool {
    tracing::dispatcher::has_been_set()
}

/// A problem that does not stop the server, such as a state file that
/// cannot be read: one line, `idle: warning: ...` on stderr when no
/// subscriber is installed, a `tracing` warning otherwise.
pub(crate) fn warning(message: &str) {
    let line = one_line(message);
    if has_subscriber() {
        tracing::warn!(target: "idle_runtime", "{line}");
    } else {
        stderr_line(format_args!("idle: warning: {line}"));
    }
}

/// A fatal error of the `#[idle_server]` main: always one line on stderr,
/// whatever subscriber is installed, because it is the last thing the
/// process says.
pub(crate) fn fatal(message: &str) {
    stderr_line(format_args!("idle: error: {}", one_line(message)));
}

/// `message` on one line whatever an error's `Display` does: its lines
/// trimmed and joined with " / ".
fn one_line(message: &str) -> String {
    message
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" / ")
}

/// The exit line of a server stopped before it served: a signal arrived
/// during the `#[idle_server]` setup.
pub(crate) fn stopped_during_setup(reason: ShutdownReason) {
    if has_subscriber() {
        tracing::info!(target: "idle_runtime", %reason, "exiting: {reason} during setup");
    } else {
        stderr_line(format_args!("idle: exiting: {reason} during setup"));
    }
}
