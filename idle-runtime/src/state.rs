//! The tracker's state: one atomic word, and the watchdog's decision on one
//! reading of it. Kept apart from the clock and the runtime so that it can be
//! model-checked with [loom] (see the `loom` tests at the end, built with
//! `RUSTFLAGS="--cfg idle_loom"`).
//!
//! The low [`COUNT_BITS`] bits of the word count running activities; the
//! high bits hold the end time of the last one, in whole milliseconds since
//! the tracker's origin, rounded up. Because both live in one word, every
//! reading is consistent: there is no moment at which the count says "0" but
//! the end time is older than the activity that just ended.
//!
//! 40 bits of milliseconds last 34 years; 24 bits of count allow 16 million
//! simultaneous activities.
//!
//! [loom]: https://docs.rs/loom

#[cfg(idle_loom)]
use loom::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(idle_loom))]
use std::sync::atomic::{AtomicU64, Ordering};

/// Bits of the word that hold the number of running activities.
pub(crate) const COUNT_BITS: u32 = 24;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
/// The largest end time the word can hold.
pub(crate) const MAX_MILLIS: u64 = u64::MAX >> COUNT_BITS;

/// One reading of the word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct State {
    /// Activities running.
    pub(crate) active: u64,
    /// When the last activity ended (or the idle clock was last restarted),
    /// in milliseconds since the origin. Meaningful when `active == 0`.
    pub(crate) last_end_ms: u64,
}

/// The count and the last end time, packed into one `AtomicU64`.
pub(crate) struct ActivityWord(AtomicU64);

impl State {
    fn from_word(word: u64) -> Self {
        State {
            active: word & COUNT_MASK,
            last_end_ms: word >> COUNT_BITS,
        }
    }
}

impl ActivityWord {
    pub(crate) fn new() -> Self {
        ActivityWord(AtomicU64::new(0))
    }

    /// Starts an activity: one `fetch_add`. Returns the reading just
    /// before it, which says whether the count left zero and, if so, since
    /// when the tracker had been idle.
    pub(crate) fn begin(&self) -> State {
        // AcqRel: an activity's start is ordered with everything that reads
        // the word after it, in particular the watchdog's Acquire load; and
        // the previous value carries the end time published by the last
        // `end` (its Release), so an idle gap measured from it is exact.
        let previous = self.0.fetch_add(1, Ordering::AcqRel);
        debug_assert!(
            previous & COUNT_MASK < COUNT_MASK,
            "more than 16 million simultaneous activities (leaked guards?)"
        );
        State::from_word(previous)
    }

    /// Ends an activity. With `Some(now_ms)` the end time is raised to
    /// `now_ms` (never lowered: activities end out of order); with `None` it
    /// is left alone, for activity that turned out not to count. Returns the
    /// number of activities still running.
    pub(crate) fn end(&self, now_ms: Option<u64>) -> u64 {
        let mut remaining = 0;
        // A compare-and-swap loop: the decrement and the new end time are
        // published together. SeqCst (no dearer than AcqRel on x86) so that
        // the drain's waiter and the last end cannot miss each other (see
        // `Tracker::wait_inactive`); Acquire on failure as in `begin`.
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::Acquire, |word| {
                let count = word & COUNT_MASK;
                debug_assert!(count > 0, "activity ended twice");
                remaining = count.saturating_sub(1);
                let end = match now_ms {
                    Some(now) => (word >> COUNT_BITS).max(now.min(MAX_MILLIS)),
                    None => word >> COUNT_BITS,
                };
                Some(end << COUNT_BITS | remaining)
            });
        remaining
    }

    /// Restarts the idle clock at `now_ms` (if later) without changing the
    /// count.
    pub(crate) fn touch(&self, now_ms: u64) {
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
                let end = (word >> COUNT_BITS).max(now_ms.min(MAX_MILLIS));
                Some(end << COUNT_BITS | word & COUNT_MASK)
            });
    }

    /// One consistent reading.
    pub(crate) fn load(&self) -> State {
        // Acquire pairs with the AcqRel of `begin` and `end`.
        State::from_word(self.0.load(Ordering::Acquire))
    }

    /// As [`load`](ActivityWord::load), sequentially consistent with
    /// [`end`](ActivityWord::end).
    pub(crate) fn load_seqcst(&self) -> State {
        State::from_word(self.0.load(Ordering::SeqCst))
    }
}

/// What the watchdog does after one reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Idle for the whole timeout: shut down.
    Idle,
    /// Look again at this moment (milliseconds since the origin).
    WakeAt(u64),
    /// The deadline is beyond any clock: never idle.
    Never,
}

/// The watchdog's rule. `now_ms` is rounded down, so "idle" is never decided
/// early; the wake-up is the earliest moment idleness is possible:
/// `last end + timeout` when nothing runs, `now + timeout` while something
/// does (a running activity cannot end before now).
pub(crate) fn decide(state: State, now_ms: u64, timeout_ms: u64) -> Decision {
    let from = if state.active == 0 {
        state.last_end_ms
    } else {
        now_ms
    };
    match from.checked_add(timeout_ms) {
        None => Decision::Never,
        Some(deadline) if state.active == 0 && deadline <= now_ms => Decision::Idle,
        // While busy, wake no earlier than one millisecond from now, so a
        // zero timeout cannot spin.
        Some(deadline) => Decision::WakeAt(deadline.max(now_ms + 1)),
    }
}

#[cfg(all(test, not(idle_loom)))]
mod tests {
    use super::*;

    #[test]
    fn counts_and_end_times_pack_into_one_word() {
        let word = ActivityWord::new();
        word.begin();
        word.begin();
        assert_eq!(
            word.load(),
            State {
                active: 2,
                last_end_ms: 0
            }
        );
        assert_eq!(word.end(Some(70)), 1);
        assert_eq!(word.end(Some(50)), 0, "an earlier end does not lower it");
        assert_eq!(
            word.load(),
            State {
                active: 0,
                last_end_ms: 70
            }
        );
        word.begin();
        assert_eq!(word.end(None), 0);
        assert_eq!(word.load().last_end_ms, 70, "a silent end leaves the clock");
        word.touch(90);
        word.touch(80);
        assert_eq!(
            word.load(),
            State {
                active: 0,
                last_end_ms: 90
            }
        );
        word.touch(u64::MAX);
        assert_eq!(
            word.load(),
            State {
                active: 0,
                last_end_ms: MAX_MILLIS
            }
        );
    }

    #[test]
    fn decide_is_idle_only_at_the_deadline_with_nothing_running() {
        let idle = State {
            active: 0,
            last_end_ms: 1_000,
        };
        let busy = State {
            active: 1,
            last_end_ms: 1_000,
        };
        assert_eq!(decide(idle, 30_999, 30_000), Decision::WakeAt(31_000));
        assert_eq!(decide(idle, 31_000, 30_000), Decision::Idle);
        assert_eq!(decide(idle, 99_000, 30_000), Decision::Idle);
        assert_eq!(decide(busy, 99_000, 30_000), Decision::WakeAt(129_000));
        assert_eq!(decide(idle, 5, u64::MAX), Decision::Never);
        assert_eq!(decide(busy, 5, 0), Decision::WakeAt(6));
    }
}

/// Model checks of the word under every interleaving loom can produce.
///
/// ```text
/// RUSTFLAGS="--cfg idle_loom" cargo test -p idle-runtime --lib --release loom
/// ```
///
/// (`idle_loom` rather than the customary `loom`, because tokio changes its
/// own internals under `cfg(loom)`.)
#[cfg(all(test, idle_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::atomic::AtomicBool;
    use loom::sync::Arc;
    use loom::thread;

    const TIMEOUT: u64 = 100;

    /// Every interleaving with up to three preemptions: the bound tokio's
    /// own loom tests use, and enough for the two- and three-thread races
    /// below (an unbounded run takes minutes for the same verdict).
    fn model(test: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(3);
        builder.check(test);
    }

    /// The count never leaks or underflows, and the end time is the latest
    /// end, whatever the interleaving of concurrent begins and ends.
    #[test]
    fn concurrent_activities_leave_a_zero_count_and_the_latest_end() {
        model(|| {
            let word = Arc::new(ActivityWord::new());
            let handles: Vec<_> = [10, 20]
                .into_iter()
                .map(|end| {
                    let word = word.clone();
                    thread::spawn(move || {
                        word.begin();
                        word.end(Some(end));
                    })
                })
                .collect();
            word.begin();
            word.end(None);
            for handle in handles {
                handle.join().unwrap();
            }
            assert_eq!(
                word.load(),
                State {
                    active: 0,
                    last_end_ms: 20
                }
            );
        });
    }

    /// The watchdog never decides idle while an activity runs: an activity
    /// that has visibly started (`started`) and not yet visibly finished
    /// (`finished`, read after the reading) must show in the count.
    #[test]
    fn the_watchdog_never_decides_idle_while_an_activity_runs() {
        model(|| {
            let word = Arc::new(ActivityWord::new());
            let started = Arc::new(AtomicBool::new(false));
            let finished = Arc::new(AtomicBool::new(false));
            let worker = {
                let (word, started, finished) = (word.clone(), started.clone(), finished.clone());
                thread::spawn(move || {
                    word.begin();
                    started.store(true, Ordering::SeqCst);
                    finished.store(true, Ordering::SeqCst);
                    word.end(Some(5));
                })
            };
            let other = {
                let word = word.clone();
                thread::spawn(move || {
                    word.begin();
                    word.end(Some(7));
                })
            };
            // The watchdog, long after every deadline.
            let was_started = started.load(Ordering::SeqCst);
            let state = word.load();
            let was_finished = finished.load(Ordering::SeqCst);
            if was_started && !was_finished {
                assert!(state.active > 0);
                assert_ne!(decide(state, 1_000, TIMEOUT), Decision::Idle);
            }
            worker.join().unwrap();
            other.join().unwrap();
        });
    }

    /// A reading that shows the count back at zero after an activity began
    /// also shows that activity's end time: the watchdog can never see "none
    /// running" together with an end time older than the activity it missed.
    #[test]
    fn a_zero_count_carries_the_end_time_of_what_it_counted() {
        model(|| {
            let word = Arc::new(ActivityWord::new());
            let began = Arc::new(AtomicBool::new(false));
            let worker = {
                let (word, began) = (word.clone(), began.clone());
                thread::spawn(move || {
                    word.begin();
                    began.store(true, Ordering::SeqCst);
                    word.end(Some(50));
                })
            };
            let other = {
                let word = word.clone();
                thread::spawn(move || {
                    word.begin();
                    word.end(Some(40));
                })
            };
            let has_begun = began.load(Ordering::SeqCst);
            let state = word.load();
            if has_begun && state.active == 0 {
                assert!(state.last_end_ms >= 50, "{state:?}");
                assert_ne!(decide(state, 50 + TIMEOUT - 1, TIMEOUT), Decision::Idle);
            }
            worker.join().unwrap();
            other.join().unwrap();
        });
    }

    /// An activity that has ended is always followed by a deadline no
    /// earlier than its end plus the timeout.
    #[test]
    fn an_ended_activity_pushes_the_deadline_past_its_end() {
        model(|| {
            let word = Arc::new(ActivityWord::new());
            let ended = Arc::new(AtomicBool::new(false));
            let worker = {
                let (word, ended) = (word.clone(), ended.clone());
                thread::spawn(move || {
                    word.begin();
                    word.end(Some(50));
                    ended.store(true, Ordering::SeqCst);
                })
            };
            let other = {
                let word = word.clone();
                thread::spawn(move || {
                    word.begin();
                    word.end(Some(40));
                })
            };
            if ended.load(Ordering::SeqCst) {
                let state = word.load();
                match decide(state, 50 + TIMEOUT - 1, TIMEOUT) {
                    Decision::Idle => panic!("idle before the ended activity's deadline"),
                    Decision::WakeAt(at) => assert!(at >= 50 + TIMEOUT),
                    Decision::Never => unreachable!(),
                }
            }
            worker.join().unwrap();
            other.join().unwrap();
        });
    }
}
