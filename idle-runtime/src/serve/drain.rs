//! Stopping: the README's "Shutdown and exit codes", steps 1 to 5.
//!
//! 1. Stop accepting connections ([`stop_accepting`]).
//! 2. Tell every connection to finish its current request and close (idle
//!    keep-alive connections close at once), and wait for the connections
//!    and for every activity (keep-awake guards, upgraded connections) to
//!    end ([`drain`]),
//! 3. for at most `grace`; a second signal ends the wait at once.
//! 4. Run the shutdown hook, if any, for at most another `grace`
//!    ([`run_hook`]).
//! 5. Report, in one line ([`report`]).

use std::time::Duration;

use tokio::time::Instant;

use super::connection::OpenConnections;
use super::{lines, Hook};
use crate::listener::Listener;
use crate::shutdown::{Drain, HookOutcome, ShutdownReason, ShutdownReport, Signals};
use crate::Tracker;

/// Step 1: closes the listener and announces the shutdown. Under socket
/// activation the activator still holds the socket, so connections
/// arriving from now on wait for the next start.
pub(super) fn stop_accepting(listener: Listener, tracker: &Tracker, reason: ShutdownReason) {
    drop(listener);
    tracker.mark_shutdown();
    lines::notify_systemd(sd_notify::NotifyState::Stopping);
    lines::shutdown_started(reason, tracker.timeout_in_force(), tracker.active());
}

/// Steps 2 and 3: waits, at most `grace`, for the connections to close and
/// every activity to end.
pub(super) async fn drain(
    open: &OpenConnections,
    tracker: &Tracker,
    grace: Duration,
    signals: &mut Signals,
) -> Drain {
    let everything_ended = async {
        open.drain().await;
        tracker.wait_inactive().await;
    };
    // What the drain cut short: connections still open (each with work in
    // flight: idle ones are closed at once), and activities held outside any
    // connection (keep-awake guards, HTTP/1.1 WebSockets).
    let abandoned = || open.count() as u64 + tracker.held();
    let drain = tokio::select! {
        biased;
        _ = signals.recv() => Drain::Forced { abandoned: abandoned() },
        () = everything_ended => Drain::Complete,
        () = tokio::time::sleep(grace) => Drain::GraceExpired { abandoned: abandoned() },
    };
    lines::drain_finished(drain, grace);
    drain
}

/// Step 4: runs the hook on a task of its own (so that a panic in it is
/// caught), for at most `grace`; skipped after a drain forced by a second
/// signal, abandoned at a signal.
pub(super) async fn run_hook(
    hook: Option<Hook>,
    drain: Drain,
    reason: ShutdownReason,
    grace: Duration,
    signals: &mut Signals,
) -> HookOutcome {
    let outcome = match (hook, drain) {
        (None, _) => HookOutcome::NotSet,
        (Some(_), Drain::Forced { .. }) => HookOutcome::Skipped,
        (Some(hook), _) => {
            let task = tokio::spawn(hook(reason));
            let abort = task.abort_handle();
            let outcome = tokio::select! {
                biased;
                _ = signals.recv() => HookOutcome::Interrupted,
                joined = task => match joined {
                    Ok(()) => HookOutcome::Completed,
                    Err(_) => HookOutcome::Panicked,
                },
                () = tokio::time::sleep(grace) => HookOutcome::TimedOut,
            };
            abort.abort();
            outcome
        }
    };
    lines::hook_finished(outcome, grace);
    outcome
}

/// Step 5: the report, and its line; saves what the adaptive timeout
/// learned. `requests` (served, cut) was taken when the drain ended:
/// requests it gave up on are neither.
pub(super) fn report(
    tracker: &Tracker,
    reason: ShutdownReason,
    drain: Drain,
    hook: HookOutcome,
    started: Instant,
    (requests, cut): (u64, u64),
) -> ShutdownReport {
    let report = ShutdownReport {
        reason,
        drain,
        hook,
        uptime: started.elapsed(),
        requests,
        cut,
    };
    tracker.save_state();
    lines::exiting(&report, tracker.timeout_in_force());
    report
}
