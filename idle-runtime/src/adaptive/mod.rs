//! The adaptive timeout (`timeout = "auto"`): the server chooses its own
//! idle timeout from the idle gaps it has seen, to minimise what the user
//! pays, idle seconds billed plus cold starts.
//!
//! - [`Learning`] is the policy, pure and free of I/O: its documentation
//!   states the cost model, the rule and the bound it guarantees. The
//!   simulator (`cargo run --release --example simulate`) replays traces
//!   through it.
//! - In the server, the tracker records each idle gap (from the end of
//!   activity to the next activity) when the activity count leaves zero,
//!   and the watchdog uses the timeout in force, recomputed once per gap,
//!   never per request.
//! - With a state file (`state = "/path"`, env `IDLE_STATE`), what was
//!   learned survives restarts: at exit the server writes when it went idle
//!   and its history; at the next start the gap from that moment to now is
//!   learned first. A file that is missing, unreadable, corrupt or
//!   unwritable is one warning line, never a failed start.
//!
//! Gaps shorter than [`MIN_TIMEOUT`] cost the same under every timeout the
//! policy may choose, so they are not recorded: under steady load the cost
//! of learning is one clock read when the count leaves zero, no lock.

mod policy;
mod state_file;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

pub use policy::{
    gap_cost, Histogram, Learning, TimeoutSource, BINS, DECAY, MAX_TIMEOUT, MIN_TIMEOUT,
};

use crate::log;

/// The timeout in force for one tracker: fixed, or learned. Read by the
/// watchdog and the status; changed only when an idle gap ends.
pub(crate) struct TimeoutInForce {
    /// The timeout in force, in milliseconds.
    millis: AtomicU64,
    /// Whether gaps are recorded (`timeout = "auto"`). Read when the
    /// activity count leaves zero, so that a fixed timeout costs a branch.
    learns: AtomicBool,
    /// Woken when the timeout changes, so that the watchdog replans.
    changed: Notify,
    /// The adaptive state; `None` with a fixed timeout. Locked once per idle
    /// gap of a second or more, by status queries and at exit; never per
    /// request.
    auto: Mutex<Option<Auto>>,
}

/// What the adaptive timeout knows.
struct Auto {
    /// Every gap known to have ended.
    committed: Learning,
    /// `committed` plus the provisional gap; its timeout is the one in force.
    effective: Learning,
    /// The last gap, kept apart until the idle period it ended is known to
    /// be over: `(when it began, its length)`, in the tracker's
    /// milliseconds. An activity that ends silently (a connection that
    /// closes without a request) does not end the idle period, so the next
    /// activity replaces this gap with the longer one instead of adding a
    /// second.
    provisional: Option<(u64, u64)>,
    state: Option<PathBuf>,
}

impl Default for TimeoutInForce {
    fn default() -> Self {
        TimeoutInForce {
            millis: AtomicU64::new(30_000),
            learns: AtomicBool::new(false),
            changed: Notify::new(),
            auto: Mutex::new(None),
        }
    }
}

impl TimeoutInForce {
    /// A fixed timeout.
    pub(crate) fn set_fixed(&self, timeout: Duration) {
        *self.lock() = None;
        // Relaxed: `learns` only gates the recording; a gap recorded or
        // missed around a reconfiguration is harmless.
        self.learns.store(false, Ordering::Relaxed);
        self.publish(timeout);
    }

    /// The adaptive timeout, starting from the state file if there is one.
    /// `idle_since_ms` is the tracker's "now" (the idle clock starts at
    /// start-up).
    pub(crate) fn set_auto(&self, cold_start_cost: Duration, state: Option<PathBuf>) {
        let mut learning = Learning::new(cold_start_cost);
        if let Some(path) = &state {
            match state_file::load(path, cold_start_cost) {
                Ok(saved) => {
                    learning = saved.learning;
                    let now = unix_millis(SystemTime::now());
                    // The gap that has just ended: from going idle before
                    // the last exit to this start, priced with the timeout
                    // of then. A clock that went backwards gives nothing to
                    // learn.
                    if let Some(gap) = now.checked_sub(saved.went_idle_unix_ms) {
                        learning.observe_priced(Duration::from_millis(gap), saved.timeout);
                    }
                }
                Err(warning) => log::warning(&warning),
            }
        }
        let timeout = learning.timeout();
        *self.lock() = Some(Auto {
            committed: learning.clone(),
            effective: learning,
            provisional: None,
            state,
        });
        self.learns.store(true, Ordering::Relaxed);
        self.publish(timeout);
    }

    /// The timeout in force.
    pub(crate) fn get(&self) -> Duration {
        // Acquire pairs with the Release in `publish`: a watchdog woken by
        // `changed` reads the new value.
        Duration::from_millis(self.millis.load(Ordering::Acquire))
    }

    /// Why the timeout is what it is.
    pub(crate) fn source(&self) -> TimeoutSource {
        match &*self.lock() {
            None => TimeoutSource::Fixed,
            Some(auto) => auto.effective.source(),
        }
    }

    /// Whether idle gaps are recorded.
    pub(crate) fn learns(&self) -> bool {
        self.learns.load(Ordering::Relaxed)
    }

    /// Resolves at the next change of the timeout. Register it (with
    /// `enable`) before reading the timeout, so that no change is missed.
    pub(crate) fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }

    /// An idle period that began at `since_ms` ended at `now_ms` (tracker
    /// milliseconds): record the gap and recompute the timeout.
    pub(crate) fn gap_ended(&self, since_ms: u64, now_ms: u64) {
        let gap = now_ms.saturating_sub(since_ms);
        if Duration::from_millis(gap) < MIN_TIMEOUT {
            return;
        }
        let timeout = {
            let mut guard = self.lock();
            let Some(auto) = guard.as_mut() else { return };
            match auto.provisional {
                // The same idle period, longer: the activity that ended the
                // first reading of it did not count.
                Some((since, previous)) if since == since_ms => {
                    auto.effective = auto.committed.clone();
                    auto.effective
                        .observe(Duration::from_millis(gap.max(previous)));
                    auto.provisional = Some((since, gap.max(previous)));
                }
                // An older period reported late (its thread was preempted
                // between the count and the lock): it has ended for sure.
                Some((since, previous)) if since_ms < since => {
                    auto.committed.observe(Duration::from_millis(gap));
                    auto.effective = auto.committed.clone();
                    auto.effective.observe(Duration::from_millis(previous));
                }
                // A new idle period: the provisional gap is final now, since
                // the idle clock has moved past it.
                _ => {
                    auto.committed = auto.effective.clone();
                    auto.effective.observe(Duration::from_millis(gap));
                    auto.provisional = Some((since_ms, gap));
                }
            }
            auto.effective.timeout()
        };
        self.publish(timeout);
    }

    /// At exit: writes the state file, if there is one. `idle_since_ms` is
    /// when the server went idle (tracker milliseconds), `None` if something
    /// is still running; `now_ms` is the tracker's now, and `now` the same
    /// moment on the wall clock.
    pub(crate) fn save(&self, idle_since_ms: Option<u64>, now_ms: u64, now: SystemTime) {
        let (path, learning, timeout) = {
            let guard = self.lock();
            let Some(Auto {
                committed,
                effective,
                provisional,
                state: Some(path),
            }) = guard.as_ref()
            else {
                return;
            };
            // A provisional gap whose idle period is still going on was
            // ended by activity that did not count: the next start learns
            // the whole period instead.
            let still_idle = matches!((provisional, idle_since_ms), (Some((since, _)), Some(idle)) if *since == idle);
            let learning = if still_idle { committed } else { effective };
            (path.clone(), learning.clone(), effective.timeout())
        };
        let idle_for = now_ms.saturating_sub(idle_since_ms.unwrap_or(now_ms));
        let went_idle = now
            .checked_sub(Duration::from_millis(idle_for))
            .unwrap_or(now);
        let saved = state_file::Saved {
            went_idle_unix_ms: unix_millis(went_idle),
            timeout,
            learning,
        };
        if let Err(warning) = state_file::save(&path, &state_file::encode(&saved)) {
            log::warning(&warning);
        }
    }

    fn publish(&self, timeout: Duration) {
        let millis = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        // Release: see `get`. Changed once per idle gap at most.
        if self.millis.swap(millis, Ordering::AcqRel) != millis {
            self.changed.notify_waiters();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Auto>> {
        // A panic while holding the lock leaves consistent data (each
        // update is a whole assignment): keep going.
        self.auto.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
