//! What the server says about its lifecycle: the startup line, the
//! shutdown's lines, the exit line, and systemd's notifications.
//!
//! Every line is a `tracing` event with target `idle_runtime`. The two a
//! user must always see, the startup line and the exit line, are printed on
//! stderr as `idle: ...` when no global `tracing` subscriber is installed,
//! and sent only to the subscriber when one is; so each appears exactly once.
//! A line that cannot be written (stderr closed, or a pipe whose reader has
//! gone) is dropped, never a panic: see `log::stderr_line`.
//!
//! Under systemd (`NOTIFY_SOCKET` set) the server sends `READY=1` once
//! listening and `STOPPING=1` when the drain starts, so `Type=notify` units
//! work.

use std::time::Duration;

use crate::adaptive::TimeoutSource;
use crate::log::{fmt_duration, has_subscriber, stderr_line};
use crate::shutdown::{Drain, HookOutcome, ShutdownReason, ShutdownReport};
use crate::{IdleMode, ListenAddr};

/// What the startup line says.
pub(super) struct Listening<'a> {
    pub(super) addr: &'a ListenAddr,
    pub(super) timeout: Duration,
    pub(super) timeout_source: TimeoutSource,
    pub(super) grace: Duration,
    pub(super) activated: bool,
    pub(super) mode: IdleMode,
    pub(super) mode_reason: &'a str,
}

pub(super) fn listening(event: &Listening<'_>) {
    let Listening {
        addr,
        timeout,
        timeout_source,
        grace,
        activated,
        mode,
        mode_reason,
    } = *event;
    // `http://127.0.0.1:8080` (clickable) or `unix:/run/app.sock`.
    let url = match addr {
        ListenAddr::Tcp(addr) => format!("http://{addr}"),
        unix => unix.to_string(),
    };
    let source = if activated {
        " (socket activation)"
    } else {
        ""
    };
    let (timeout, grace) = (fmt_duration(timeout), fmt_duration(grace));
    let exit = match mode {
        IdleMode::Exit if timeout_source == TimeoutSource::Fixed => {
            format!("idle timeout {timeout}")
        }
        // Without a state file, learning would last one run: say how to keep it.
        IdleMode::Exit if timeout_source == TimeoutSource::NoState => format!(
            "idle timeout {timeout} ({timeout_source}: what auto learns would last one run, \
             so it keeps break-even; to learn across restarts, set `state` or IDLE_STATE to a \
             file on a persistent volume (a Fly volume), or run under systemd with StateDirectory=)"
        ),
        IdleMode::Exit => format!("idle timeout {timeout} ({timeout_source})"),
        IdleMode::DrainOnly => "no idle exit (drain-only)".to_owned(),
    };
    if has_subscriber() {
        tracing::info!(
            target: "idle_runtime",
            %addr, %timeout, %grace, socket_activation = activated, %mode, mode_reason,
            "listening on {url}{source}; {exit}, grace {grace}; mode {mode} ({mode_reason})"
        );
    } else {
        stderr_line(format_args!(
            "idle: listening on {url}{source}; {exit}, grace {grace}; mode {mode} ({mode_reason})"
        ));
    }
}

pub(super) fn shutdown_started(reason: ShutdownReason, timeout: Duration, active: u64) {
    match reason {
        ShutdownReason::Idle => tracing::info!(
            target: "idle_runtime",
            %reason, active,
            "shutting down: idle for {}", fmt_duration(timeout)
        ),
        _ => tracing::info!(target: "idle_runtime", %reason, active, "shutting down: {reason}"),
    }
}

pub(super) fn drain_finished(drain: Drain, grace: Duration) {
    match drain {
        Drain::Complete => tracing::info!(target: "idle_runtime", "drain finished"),
        Drain::GraceExpired { abandoned } => tracing::warn!(
            target: "idle_runtime",
            abandoned,
            "grace of {} expired; abandoning {}",
            fmt_duration(grace),
            count(abandoned, "activity", "activities")
        ),
        Drain::Forced { abandoned } => tracing::warn!(
            target: "idle_runtime",
            abandoned,
            "second signal during the drain; abandoning {}",
            count(abandoned, "activity", "activities")
        ),
    }
}

pub(super) fn hook_finished(outcome: HookOutcome, grace: Duration) {
    match outcome {
        HookOutcome::NotSet => {}
        HookOutcome::Completed => tracing::info!(target: "idle_runtime", "shutdown hook finished"),
        HookOutcome::Skipped => {
            tracing::warn!(target: "idle_runtime", "shutdown hook skipped: second signal")
        }
        HookOutcome::Interrupted => {
            tracing::warn!(target: "idle_runtime", "shutdown hook abandoned: second signal")
        }
        HookOutcome::Panicked => tracing::error!(target: "idle_runtime", "shutdown hook panicked"),
        HookOutcome::TimedOut => tracing::warn!(
            target: "idle_runtime",
            "shutdown hook abandoned after the grace of {}",
            fmt_duration(grace)
        ),
    }
}

/// `accept` failed for a reason that concerns the process (out of file
/// descriptors, say): always visible, on stderr without a subscriber. The
/// caller rate-limits it; `failures` counts those since the last report.
pub(super) fn accept_failed(error: &std::io::Error, failures: u64) {
    let more = match failures {
        0 | 1 => String::new(),
        n => format!(" ({n} failures since the last report)"),
    };
    if has_subscriber() {
        tracing::error!(target: "idle_runtime", %error, failures, "accept failed{more}; pausing accepts for 50ms");
    } else {
        stderr_line(format_args!(
            "idle: accept failed: {error}{more}; pausing accepts for 50ms"
        ));
    }
}

/// `n` followed by `one` or `many`: "1 request", "2 requests".
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

pub(super) fn exiting(report: &ShutdownReport, timeout: Duration) {
    let reason = match report.reason {
        ShutdownReason::Idle => format!("idle for {}", fmt_duration(timeout)),
        other => other.to_string(),
    };
    let uptime = fmt_duration(report.uptime);
    let requests = report.requests;
    let mut served = count(requests, "request", "requests");
    if report.cut > 0 {
        served = format!("{served} served, {} cut", report.cut);
    } else {
        served.push_str(" served");
    }
    let hook = match report.hook {
        HookOutcome::NotSet | HookOutcome::Completed => "",
        HookOutcome::TimedOut => "; shutdown hook timed out",
        HookOutcome::Panicked => "; shutdown hook panicked",
        HookOutcome::Interrupted => "; shutdown hook interrupted",
        HookOutcome::Skipped => "; shutdown hook skipped",
    };
    let abandoned = match report.drain {
        Drain::Complete => String::new(),
        Drain::GraceExpired { abandoned } => {
            format!(
                "; grace expired, {} abandoned",
                count(abandoned, "activity", "activities")
            )
        }
        Drain::Forced { abandoned } => {
            format!(
                "; drain cut short by a second signal, {} abandoned",
                count(abandoned, "activity", "activities")
            )
        }
    };
    if has_subscriber() {
        tracing::info!(
            target: "idle_runtime",
            reason = %report.reason, %uptime, requests, cut = report.cut, abandoned = report.abandoned(),
            "exiting: {reason}; uptime {uptime}, {served}{abandoned}{hook}"
        );
    } else {
        stderr_line(format_args!(
            "idle: exiting: {reason}; uptime {uptime}, {served}{abandoned}{hook}"
        ));
    }
}

/// Tells systemd (`Type=notify` units) about a state change; does nothing
/// unless `NOTIFY_SOCKET` is set. A failure is not fatal: it is logged.
pub(super) fn notify_systemd(state: sd_notify::NotifyState<'_>) {
    if let Err(error) = sd_notify::notify(&[state]) {
        tracing::warn!(target: "idle_runtime", %error, "cannot notify systemd (NOTIFY_SOCKET)");
    }
}
