//! The adaptive timeout (`timeout = "auto"`): the server chooses its own
//! idle timeout from the idle gaps it has seen, to minimise what the user
//! pays, idle seconds billed plus cold starts.
//!
//! - [`Learning`] is the policy, pure and free of I/O (the cost model, the
//!   rule and the bound it guarantees are below). The simulator
//!   (`cargo run --release -p idle --example simulate`) replays traces through it,
//!   the project's own or a user's (`--trace FILE`).
//! - In the server, only activity moves the policy. When the activity count
//!   leaves zero, the tracker notes the idle gap that has just ended as
//!   *provisional*: the activity may turn out not to count (a connection
//!   that closes without a request, or whose first request is ignored, a
//!   probe, the status route). The first counted end commits it (the
//!   policy learns it and the timeout in force is recomputed; under
//!   `serve` a first request that counts takes over its connection's
//!   activity, so that is when a request that counts ends); a silent
//!   end that leaves the server idle again discards it, so the idle period
//!   goes on and the next activity reports it whole. A provisional gap
//!   changes nothing the watchdog or the status reads.
//! - With a state file (`state = "/path"`, env `IDLE_STATE`, or under
//!   systemd `$STATE_DIRECTORY/idle.state`), what was learned survives
//!   restarts: at exit the server writes when it went idle and its history;
//!   at the next start the gap from that moment to now is learned first.
//!   The file is read on a thread of its own: until it has been read the
//!   timeout is break-even and the gaps seen are kept, then learned after
//!   the saved history. A file that is missing, unreadable, corrupt or not
//!   ours is one warning line, never a failed start (see `state_file.rs`
//!   for what a file at that path cannot do to the server).
//! - Without a state file, every exit forgets, and within one run only gaps
//!   shorter than the timeout in force are ever seen (a longer one ends the
//!   run): a censored view, from which any learning drifts below break-even
//!   (replayed, up to 1.66 times break-even's cost). So without a state
//!   file the timeout is break-even, `cold_start_cost`, and nothing is
//!   recorded: it costs exactly what break-even costs, and the startup line
//!   says how to keep what could be learned.
//!
//! Gaps shorter than [`MIN_TIMEOUT`] cost the same under every timeout the
//! policy may choose, so they are not recorded: under steady load the cost
//! of learning is one clock read when the count leaves zero, no lock, and
//! one relaxed load per counted end.
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
//!    fades (a gap's weight halves after about 90 newer ones).
//! 2. **Learned timeout: follow the leader.** The empirical cost of τ is the
//!    cost above summed over the history. It only grows between two
//!    observed gaps, so its minimum is just after an observed gap, or at the
//!    smallest allowed timeout; the candidates are therefore the bins' upper
//!    edges, and the covered gaps are charged exactly (their sums are kept).
//!    When the best edge covers every gap in the history, nothing says how
//!    long the next, longer gap will be, so the timeout is raised to at
//!    least C, as break-even would wait (this costs nothing on the history).
//! 3. **Safety net.** The policy keeps two running totals, discounted by the
//!    same [`DECAY`]: what the timeouts it used actually cost (A), and what
//!    the break-even rule (τ = C) would have cost on the same gaps (B). It
//!    uses the learned timeout only while A ≤ λ·B + κ·C, with λ =
//!    [`NET_RATIO`] and κ = [`NET_SLACK`]; otherwise it uses break-even
//!    until A is back under that line. The ratio is what brings the learned
//!    timeout back soon: while break-even is in force, A and B grow alike,
//!    so A − λ·B falls by (λ − 1) times each gap's cost, instead of waiting
//!    for the decay to erase a difference (hundreds of gaps, days for an app
//!    with a few requests a day). The slack lets a short history make a few
//!    early misses without engaging the net.
//! 4. **Clamp.** The timeout is kept within [`MIN_TIMEOUT`, `MAX_TIMEOUT`];
//!    with no history it is C (break-even).
//!
//! # The bound
//!
//! Let D = max(C, [`MAX_TIMEOUT`] − C). For every sequence of gaps,
//! including one chosen by an adversary who knows the rule and sees the
//! timeout in force before choosing each gap,
//!
//! ```text
//! A ≤ λ·B + κ·C + D ≤ 2λ·OPT + κ·C + D        (λ = 1.1, κ = 4)
//! ```
//!
//! all three discounted alike: never worse than 2.2 times the clairvoyant
//! optimum plus a constant of a few gaps' worth.
//!
//! *Proof.* Break-even pays G ≤ C or 2C > G, so on every gap it pays at most
//! twice the optimum, and discounting both alike keeps B ≤ 2·OPT. For A, by
//! induction on the gaps, with A = B = 0 before the first. Write a and b for
//! what one gap G adds to A and B, and d = [`DECAY`] ≤ 1.
//!
//! - On a gap priced with a learned timeout τ: a − b ≤ D. (A gap in (τ, C]
//!   costs τ + C against G > τ, less than C more; one in (C, τ] costs
//!   G ≤ τ against 2C; one beyond both costs τ + C against 2C, τ − C more;
//!   τ ≤ [`MAX_TIMEOUT`].) The learned timeout was in force, so before the
//!   gap A ≤ λ·B + κ·C, and after it
//!   A' = d·A + a ≤ d·(λ·B + κ·C) + b + D ≤ λ·(d·B + b) + κ·C + D = λ·B' + κ·C + D.
//! - On a gap priced with break-even: a = b, and by induction
//!   A' = d·A + b ≤ d·(λ·B + κ·C + D) + λ·b ≤ λ·B' + κ·C + D.
//!
//! This is the "prediction plus safety net" shape of Purohit, Svitkina and
//! Kumar (NeurIPS 2018): close to the best timeout when history predicts the
//! future, never far from break-even's 2× guarantee when it does not. The
//! property tests in `policy.rs` check the inequality on random sequences
//! and against an adversary that sees the timeout in force and ends each
//! gap just after it, just before it, or anywhere.
//!
//! # What it gives
//!
//! `bench/SIMULATION.md` (regenerated by the simulator) replays fourteen
//! traces with `cold_start_cost` from 5 s to 300 s. Without a state file,
//! `auto` costs exactly what break-even costs. With one, it costs at most
//! 1.05 times the best fixed timeout chosen in hindsight for each trace,
//! except on the shortest low-rate traces (14 to 30 days of a few visits a
//! day, under 150 gaps) with a cold start of 120 s or more, where it costs
//! up to 1.1 times: too little history to learn from, against a timeout
//! fitted to that very sample. Its section "Short traces" draws each such
//! traffic 40 times afresh: there even the best fixed timeout for the
//! traffic itself, known in advance, exceeds 1.05 times hindsight on up to
//! 62 % of the samples, so no rule can promise 1.05 on every one.

mod policy;
mod state_file;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

pub use policy::{
    gap_cost, Histogram, Learning, TimeoutSource, BINS, DECAY, MAX_TIMEOUT, MIN_TIMEOUT, NET_RATIO,
    NET_SLACK,
};
pub(crate) use state_file::Unusable;

use crate::log;

/// The most gaps kept while the state file is being read: they are learned
/// after its history. The file is read in microseconds; the bound is for a
/// file system that hangs.
const EARLY_GAPS: usize = 256;

/// The timeout in force for one tracker: fixed, or learned. Read by the
/// watchdog and the status; changed only when a counted activity ends an
/// idle gap, or when the state file has been read.
pub(crate) struct TimeoutInForce {
    /// The timeout in force, in milliseconds.
    millis: AtomicU64,
    /// Whether gaps are recorded (`timeout = "auto"` with a state file).
    /// Read when the activity count leaves zero, so that a fixed timeout
    /// costs a branch.
    learns: AtomicBool,
    /// Whether a provisional gap waits to be committed or discarded. Read on
    /// every counted end, so that the common case (nothing waiting) costs a
    /// load and a branch, no lock.
    pending: AtomicBool,
    /// Woken when the timeout changes, so that the watchdog replans.
    changed: Notify,
    /// The adaptive state; `None` with a fixed timeout. Locked when the
    /// count leaves zero after a gap of a second or more, when a provisional
    /// gap is settled, by status queries and at exit; never per request.
    auto: Mutex<Option<Auto>>,
}

/// What the adaptive timeout knows.
struct Auto {
    learning: Learning,
    /// The gap whose idle period ended when the count last left zero, in
    /// the tracker's milliseconds: `(when it began, when it ended)`. Kept
    /// apart until an activity that counts commits it.
    provisional: Option<(u64, u64)>,
    file: StateFile,
}

/// The state file, as far as the adaptive timeout knows it.
enum StateFile {
    /// None: nothing is learned (see the module docs).
    None,
    /// Being read; the gaps committed meanwhile, to learn after its history.
    Reading { path: PathBuf, early: Vec<Duration> },
    /// Read (or missing, or corrupt: replaced at exit).
    Read { path: PathBuf },
    /// Not ours to replace: left alone at exit.
    LeftAlone,
}

impl Default for TimeoutInForce {
    fn default() -> Self {
        TimeoutInForce {
            millis: AtomicU64::new(30_000),
            learns: AtomicBool::new(false),
            pending: AtomicBool::new(false),
            changed: Notify::new(),
            auto: Mutex::new(None),
        }
    }
}

impl TimeoutInForce {
    /// A fixed timeout.
    pub(crate) fn set_fixed(&self, timeout: Duration) {
        *self.lock() = None;
        // Relaxed: `learns` and `pending` only gate the recording; a gap
        // recorded or missed around a reconfiguration is harmless.
        self.learns.store(false, Ordering::Relaxed);
        self.pending.store(false, Ordering::Relaxed);
        self.publish(timeout);
    }

    /// The adaptive timeout: break-even until the state file at `state`
    /// has been read (see [`state_read`](TimeoutInForce::state_read)), and
    /// for good without one.
    pub(crate) fn set_auto(&self, cold_start_cost: Duration, state: Option<PathBuf>) {
        let learning = Learning::new(cold_start_cost);
        let timeout = learning.timeout();
        let learns = state.is_some();
        let file = match state {
            Some(path) => StateFile::Reading {
                path,
                early: Vec::new(),
            },
            None => StateFile::None,
        };
        *self.lock() = Some(Auto {
            learning,
            provisional: None,
            file,
        });
        // Relaxed: see `set_fixed`.
        self.learns.store(learns, Ordering::Relaxed);
        self.publish(timeout);
    }

    /// The state file has been read (off the serving threads): start from
    /// its history, learn the gap from going idle before the last exit to
    /// `started` (this start, on the wall clock), then the gaps committed
    /// while it was read.
    pub(crate) fn state_read(
        &self,
        read: Result<state_file::Saved, Unusable>,
        started: SystemTime,
    ) {
        let mut warning = None;
        let timeout = {
            let mut guard = self.lock();
            let Some(auto) = guard.as_mut() else { return };
            let StateFile::Reading { path, early } = &mut auto.file else {
                return;
            };
            let (path, early) = (std::mem::take(path), std::mem::take(early));
            match read {
                Ok(saved) => {
                    let mut learning = saved.learning;
                    // The gap that ended with this start, priced with the
                    // timeout of then. A clock that went backwards gives
                    // nothing to learn.
                    if let Some(gap) = unix_millis(started).checked_sub(saved.went_idle_unix_ms) {
                        learning.observe_priced(Duration::from_millis(gap), saved.timeout);
                    }
                    auto.learning = learning;
                    auto.file = StateFile::Read { path };
                }
                Err(unusable) => {
                    auto.file = if unusable.leave_alone {
                        StateFile::LeftAlone
                    } else {
                        StateFile::Read { path }
                    };
                    warning = Some(unusable.warning);
                }
            }
            // Break-even was in force while the file was read.
            let break_even = auto.learning.cold_start_cost();
            for gap in early {
                auto.learning.observe_priced(gap, break_even);
            }
            auto.learning.timeout()
        };
        // Outside the lock: a slow stderr never holds up the tracker.
        if let Some(warning) = warning {
            log::warning(&warning);
        }
        self.publish(timeout);
    }

    /// What has been learned, for tests.
    #[cfg(test)]
    pub(crate) fn learning(&self) -> Option<Learning> {
        self.lock().as_ref().map(|auto| auto.learning.clone())
    }

    /// Whether the state file is still being read.
    #[cfg(test)]
    pub(crate) fn is_reading_state(&self) -> bool {
        matches!(
            &*self.lock(),
            Some(Auto {
                file: StateFile::Reading { .. },
                ..
            })
        )
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
            Some(Auto {
                file: StateFile::None,
                ..
            }) => TimeoutSource::NoState,
            Some(auto) => auto.learning.source(),
        }
    }

    /// Whether idle gaps are recorded.
    pub(crate) fn learns(&self) -> bool {
        // Relaxed: see `set_fixed`.
        self.learns.load(Ordering::Relaxed)
    }

    /// Whether a provisional gap waits: one relaxed load, on every counted
    /// end.
    pub(crate) fn has_provisional(&self) -> bool {
        // Relaxed: a stale `false` misses one gap, which is only a gap not
        // learned (it cannot record one that did not end); a stale `true`
        // takes the lock and finds nothing. The gap itself is read under
        // the lock.
        self.pending.load(Ordering::Relaxed)
    }

    /// The count has left zero: the idle period that began at `since_ms`
    /// ended at `now_ms` (tracker milliseconds), if the activity counts.
    /// Nothing the watchdog or the status reads changes yet.
    pub(crate) fn gap_ended(&self, since_ms: u64, now_ms: u64) {
        let gap = now_ms.saturating_sub(since_ms);
        if Duration::from_millis(gap) < MIN_TIMEOUT {
            // Too short to learn; a provisional gap left by a silent end is
            // older than this one and ended too.
            if self.has_provisional() {
                self.settle_provisional(false);
            }
            return;
        }
        let mut guard = self.lock();
        let Some(auto) = guard.as_mut() else { return };
        auto.provisional = Some((since_ms, now_ms));
        // Relaxed: see `has_provisional`; written under the lock.
        self.pending.store(true, Ordering::Relaxed);
    }

    /// An activity that counts has ended while a provisional gap waits
    /// (`commit`), or a shorter gap has ended since (not `commit`): learn
    /// the gap, or forget it.
    #[cold]
    pub(crate) fn settle_provisional(&self, commit: bool) {
        let timeout = {
            let mut guard = self.lock();
            let Some(auto) = guard.as_mut() else { return };
            // Relaxed: written under the lock, which orders it.
            self.pending.store(false, Ordering::Relaxed);
            let Some((since, end)) = auto.provisional.take() else {
                return;
            };
            if !commit {
                return;
            }
            let gap = Duration::from_millis(end.saturating_sub(since));
            match &mut auto.file {
                StateFile::Reading { early, .. } if early.len() < EARLY_GAPS => early.push(gap),
                StateFile::Reading { .. } | StateFile::None => {}
                StateFile::Read { .. } | StateFile::LeftAlone => auto.learning.observe(gap),
            }
            auto.learning.timeout()
        };
        self.publish(timeout);
    }

    /// A silent end has left the count at zero while a provisional gap
    /// waits: forget it, unless an activity has begun since (`active` reads
    /// the count under the lock, so that a gap noted by a concurrent begin
    /// is not the one forgotten).
    #[cold]
    pub(crate) fn discard_provisional(&self, active: impl FnOnce() -> u64) {
        let mut guard = self.lock();
        let Some(auto) = guard.as_mut() else { return };
        // An activity that began after the silent end noted its gap under
        // this lock, after its count: seen here as a count above zero.
        if active() == 0 {
            auto.provisional = None;
            // Relaxed: written under the lock.
            self.pending.store(false, Ordering::Relaxed);
        }
    }

    /// At exit: writes the state file, if there is one and it is ours.
    /// `idle_since_ms` is when the server went idle (tracker milliseconds),
    /// `None` if something is still running; `now_ms` is the tracker's now,
    /// and `now` the same moment on the wall clock. A provisional gap is
    /// not saved: the next start learns the whole idle period instead.
    pub(crate) fn save(&self, idle_since_ms: Option<u64>, now_ms: u64, now: SystemTime) {
        let (path, learning) = {
            let guard = self.lock();
            let Some(auto) = guard.as_ref() else { return };
            match &auto.file {
                StateFile::Read { path } => (path.clone(), auto.learning.clone()),
                StateFile::Reading { path, .. } => {
                    log::warning(&format!(
                        "the state file {} was still being read at exit; it is left as it was",
                        path.display()
                    ));
                    return;
                }
                StateFile::None | StateFile::LeftAlone => return,
            }
        };
        let idle_for = now_ms.saturating_sub(idle_since_ms.unwrap_or(now_ms));
        let went_idle = now
            .checked_sub(Duration::from_millis(idle_for))
            .unwrap_or(now);
        let saved = state_file::Saved {
            went_idle_unix_ms: unix_millis(went_idle),
            timeout: learning.timeout(),
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

    /// Resolves at the next change of the timeout. Register it (with
    /// `enable`) before reading the timeout, so that no change is missed.
    pub(crate) fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }
}

/// Reads the state file at `path`: blocking, for the thread that reads it.
pub(crate) fn read_state(
    path: &std::path::Path,
    cold_start_cost: Duration,
) -> Result<state_file::Saved, Unusable> {
    state_file::load(path, cold_start_cost)
}

fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
