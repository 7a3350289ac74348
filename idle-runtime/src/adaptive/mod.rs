//! The adaptive timeout (`timeout = "auto"`): the server chooses its own
//! idle timeout from the idle gaps it has seen, to minimise what the user
//! pays, idle seconds billed plus cold starts.
//!
//! - [`Learning`] is the policy, pure and free of I/O (the cost model, the
//!   rule and the bound it guarantees are below). The simulator
//!   (`cargo run --release --example simulate`) replays traces through it.
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
//!
//! # The cost model
//!
//! A cold start is worth `cold_start_cost` (C) idle seconds. For one idle gap
//! G (from the end of activity to the next activity) and a timeout τ, the
//! cost is G if G ≤ τ (the server stayed up and was billed G), else τ + C
//! (billed τ, then exited, and the next request paid a cold start). The
//! clairvoyant optimum pays min(G, C) for each gap.
//!
//! # The rule
//!
//! 1. **History.** Gaps go into a [`Histogram`] of [`BINS`] log-spaced bins
//!    between [`MIN_TIMEOUT`] and [`MAX_TIMEOUT`] (about 4.4 % wide) plus one
//!    for longer gaps; each bin holds a weight and the sum of its gaps. Before
//!    each new gap every weight is multiplied by [`DECAY`], so old behaviour
//!    fades (a gap's weight halves after about 90 newer ones). Gaps shorter
//!    than [`MIN_TIMEOUT`] are not recorded: they cost G under every allowed
//!    timeout, so they cannot change the choice.
//! 2. **Learned timeout.** The empirical cost of τ is the cost above summed
//!    over the history. It only grows between two observed gaps, so its
//!    minimum is just after an observed gap, or at the smallest allowed
//!    timeout; the candidates are therefore the bins' upper edges, and the
//!    covered gaps are charged exactly (their sums are kept).
//! 3. **Safety net.** The policy keeps two running totals, discounted by the
//!    same [`DECAY`]: what the timeouts it used actually cost (A), and what
//!    the break-even rule (τ = C) would have cost on the same gaps (B). It
//!    uses the learned timeout only while A ≤ B + C; otherwise it uses
//!    break-even until A is back under that line. (The slack of one cold
//!    start is what lets it come back: while break-even is in force, A and B
//!    grow alike and A − B only decays towards 0.)
//! 4. **Clamp.** The timeout is kept within [`MIN_TIMEOUT`, `MAX_TIMEOUT`];
//!    with no history it is C (break-even).
//!
//! # The bound
//!
//! Break-even pays G ≤ C or 2C > G, so on every gap it pays at most twice
//! the optimum: B ≤ 2·OPT. The safety net keeps, for every sequence of gaps,
//! including one chosen by an adversary who knows the rule,
//!
//! ```text
//! A ≤ B + C + max(C, MAX_TIMEOUT − C) ≤ 2·OPT + max(2C, MAX_TIMEOUT)
//! ```
//!
//! (all three discounted alike): never worse than break-even by more than a
//! constant, one gap's worth. Proof: take the last gap priced with a learned
//! timeout τ. Before it, A ≤ B + C. On it, A grows by at most
//! max(C, τ − C) more than B: a gap in (τ, C] costs τ + C against G > τ; a
//! gap beyond both costs τ + C against 2C; one in (C, τ] costs G ≤ τ
//! against 2C. After it, break-even is in force, so both grow alike, and
//! discounting scales both. With no learned gap at all, A = B. This is the
//! "prediction plus safety net" shape of Purohit, Svitkina and Kumar
//! (NeurIPS 2018): close to the best timeout when history predicts the
//! future, never far from break-even's 2× guarantee when it does not. The
//! property tests in this file check the inequality on random and adversarial
//! sequences.

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

    /// The adaptive timeout, starting from the state file if there is one,
    /// and learning first the gap that ends with this start. Called once
    /// when serving starts; the file is a few hundred bytes, so it is read
    /// with blocking I/O.
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
