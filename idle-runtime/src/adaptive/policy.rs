//! The adaptive timeout's policy: pure arithmetic on idle gaps, no clock, no
//! I/O, so that the tests, the property tests and the simulator
//! (`cargo run --release -p idle --example simulate`) run exactly the code the
//! server runs.
//!
//! The cost model, the rule and its bound are documented on the
//! [`adaptive`](crate::adaptive) module, which re-exports this one's items.

use std::fmt;
use std::time::Duration;

/// The shortest timeout the policy chooses.
pub const MIN_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest timeout the policy chooses.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
/// Number of log-spaced bins between [`MIN_TIMEOUT`] and [`MAX_TIMEOUT`].
/// Bin `i` holds gaps in `[3600^(i/BINS), 3600^((i+1)/BINS))` seconds, so a
/// chosen timeout is at most one bin width (4.4 %) above the gap it covers.
pub const BINS: usize = 192;
/// What every recorded weight (and the safety net's totals) is multiplied
/// by before a new gap is recorded: a weight halves after about 90 gaps.
pub const DECAY: f64 = 1.0 - 1.0 / 128.0;
/// The safety net's ratio (λ): the learned timeout is used while what the
/// timeouts in force cost stays within this multiple of what break-even
/// would have cost, plus [`NET_SLACK`] cold starts.
pub const NET_RATIO: f64 = 1.1;
/// The safety net's slack (κ), in cold starts: what early misses may cost
/// before the net engages, while the history is still short.
pub const NET_SLACK: f64 = 4.0;

const MIN_SECS: f64 = 1.0;
const MAX_SECS: f64 = 3600.0;

/// Where the timeout in force comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutSource {
    /// A fixed `timeout`.
    Fixed,
    /// `timeout = "auto"` with no usable history, or with the safety net
    /// engaged: the timeout is `cold_start_cost`.
    BreakEven,
    /// `timeout = "auto"` without a state file: every exit would forget what
    /// was learned, so nothing is, and the timeout is `cold_start_cost`.
    NoState,
    /// `timeout = "auto"`, chosen from the history of this many gaps.
    Learned {
        /// Gaps recorded so far (across restarts when a state file is used).
        gaps: u64,
    },
}

impl fmt::Display for TimeoutSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeoutSource::Fixed => f.write_str("fixed"),
            TimeoutSource::BreakEven => f.write_str("auto: break-even"),
            TimeoutSource::NoState => f.write_str("auto: break-even without a state file"),
            TimeoutSource::Learned { gaps: 1 } => f.write_str("auto: learned from 1 gap"),
            TimeoutSource::Learned { gaps } => write!(f, "auto: learned from {gaps} gaps"),
        }
    }
}

/// The cost, in idle seconds, of one idle gap under a timeout: the gap if
/// the server stayed up through it, else the timeout plus a cold start.
///
/// ```
/// use std::time::Duration;
/// use idle_runtime::adaptive::gap_cost;
///
/// let s = Duration::from_secs;
/// assert_eq!(gap_cost(s(20), s(30), s(30)), 20.0); // stayed up
/// assert_eq!(gap_cost(s(40), s(30), s(30)), 60.0); // 30 s billed + a cold start
/// ```
pub fn gap_cost(gap: Duration, timeout: Duration, cold_start_cost: Duration) -> f64 {
    cost_secs(
        gap.as_secs_f64(),
        timeout.as_secs_f64(),
        cold_start_cost.as_secs_f64(),
    )
}

fn cost_secs(gap: f64, timeout: f64, cold: f64) -> f64 {
    if gap <= timeout {
        gap
    } else {
        timeout + cold
    }
}

/// The upper edge of bin `k - 1`, in seconds: `3600^(k/BINS)`.
fn edge(k: usize) -> f64 {
    MAX_SECS.powf(k as f64 / BINS as f64)
}

/// The bin of a gap of `secs` seconds: `None` below [`MIN_TIMEOUT`], `BINS`
/// (the overflow bin) from [`MAX_TIMEOUT`] on.
fn bin_of(secs: f64) -> Option<usize> {
    if secs.is_nan() || secs < MIN_SECS {
        return None;
    }
    let index = (secs.ln() / MAX_SECS.ln() * BINS as f64).floor();
    // Float rounding at an edge may put a gap one bin low or high; clamp,
    // and correct against the exact edges.
    let mut index = (index.max(0.0) as usize).min(BINS);
    while index < BINS && secs >= edge(index + 1) {
        index += 1;
    }
    while index > 0 && secs < edge(index) {
        index -= 1;
    }
    Some(index)
}

/// Decayed, log-spaced counts of idle gaps: [`BINS`] bins from 1 s to 1 h
/// and one for longer gaps, each with its weight and the weighted sum of its
/// gaps in seconds. About 3 KiB.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    weight: [f64; BINS + 1],
    sum: [f64; BINS + 1],
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            weight: [0.0; BINS + 1],
            sum: [0.0; BINS + 1],
        }
    }
}

impl Histogram {
    /// Multiplies every weight by `factor`.
    fn decay(&mut self, factor: f64) {
        for (weight, sum) in self.weight.iter_mut().zip(self.sum.iter_mut()) {
            *weight *= factor;
            *sum *= factor;
        }
    }

    /// Adds one gap of `secs` seconds (at least [`MIN_TIMEOUT`]).
    fn add(&mut self, secs: f64) {
        if let Some(bin) = bin_of(secs) {
            self.weight[bin] += 1.0;
            self.sum[bin] += secs;
        }
    }

    /// The total weight.
    pub fn total_weight(&self) -> f64 {
        self.weight.iter().sum()
    }

    /// The non-empty bins as `(bin, weight, sum of gaps in seconds)`; bin
    /// [`BINS`] holds the gaps of an hour or more.
    pub fn bins(&self) -> impl Iterator<Item = (usize, f64, f64)> + '_ {
        (0..=BINS)
            .filter(|&bin| self.weight[bin] > 0.0)
            .map(|bin| (bin, self.weight[bin], self.sum[bin]))
    }

    /// Sets one bin, for loading a saved histogram. `false` if the bin does
    /// not exist or the numbers are not finite and non-negative.
    pub(crate) fn set(&mut self, bin: usize, weight: f64, sum: f64) -> bool {
        let valid = |x: f64| x.is_finite() && x >= 0.0;
        if bin > BINS || !valid(weight) || !valid(sum) {
            return false;
        }
        self.weight[bin] = weight;
        self.sum[bin] = sum;
        true
    }

    /// The empirical cost, in seconds, of the timeout `3600^(k/BINS)` s
    /// for each `k` in `0..=BINS`, and the `k` that minimises it (the
    /// smallest on a tie), with whether that timeout covers every gap in
    /// the history.
    fn best_edge(&self, cold: f64) -> (usize, f64, bool) {
        // missed[k]: the weight of the gaps beyond edge k, summed from the
        // top so that it is exactly 0 when those bins are all empty.
        let mut missed = [0.0; BINS + 2];
        for k in (0..=BINS).rev() {
            missed[k] = missed[k + 1] + self.weight[k];
        }
        let mut covered = 0.0;
        let mut best = (0, f64::INFINITY, false);
        for (k, &missed) in missed.iter().enumerate().take(BINS + 1) {
            if k > 0 {
                covered += self.sum[k - 1];
            }
            let cost = covered + (edge(k) + cold) * missed;
            if cost < best.1 {
                best = (k, cost, missed == 0.0);
            }
        }
        best
    }
}

/// The adaptive timeout's whole state: the history, the safety net's
/// totals and the timeout they give. Pure: feed it gaps with
/// [`observe`](Learning::observe), read [`timeout`](Learning::timeout).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use idle_runtime::adaptive::{Learning, TimeoutSource};
///
/// let mut learning = Learning::new(Duration::from_secs(30));
/// assert_eq!(learning.timeout(), Duration::from_secs(30)); // break-even
/// assert_eq!(learning.source(), TimeoutSource::BreakEven);
/// // Bursts: requests 2 to 5 s apart, then 15 minutes of silence.
/// for _ in 0..20 {
///     for gap in [2, 5, 3, 4] {
///         learning.observe(Duration::from_secs(gap));
///     }
///     learning.observe(Duration::from_secs(900));
/// }
/// // Stay up through the bursts, not through the silences.
/// assert!(learning.timeout() > Duration::from_secs(5));
/// assert!(learning.timeout() < Duration::from_secs(6));
/// assert_eq!(learning.source(), TimeoutSource::Learned { gaps: 100 });
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Learning {
    cold_start_cost: Duration,
    histogram: Histogram,
    /// Gaps recorded, undecayed.
    gaps: u64,
    /// What the timeouts in force cost on the recorded gaps (A), discounted.
    auto_cost: f64,
    /// What break-even would have cost on them (B), discounted.
    break_even_cost: f64,
    timeout: Duration,
    source: TimeoutSource,
}

impl Learning {
    /// No history: the timeout is `cold_start_cost` (clamped to
    /// [`MIN_TIMEOUT`]..=[`MAX_TIMEOUT`]).
    pub fn new(cold_start_cost: Duration) -> Self {
        let cold_start_cost = clamp(cold_start_cost);
        Learning {
            cold_start_cost,
            histogram: Histogram::default(),
            gaps: 0,
            auto_cost: 0.0,
            break_even_cost: 0.0,
            timeout: cold_start_cost,
            source: TimeoutSource::BreakEven,
        }
    }

    /// The timeout in force.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Why [`timeout`](Learning::timeout) is what it is.
    pub fn source(&self) -> TimeoutSource {
        self.source
    }

    /// The cost of a cold start, as given (clamped).
    pub fn cold_start_cost(&self) -> Duration {
        self.cold_start_cost
    }

    /// Gaps recorded so far (those of [`MIN_TIMEOUT`] or more).
    pub fn gaps(&self) -> u64 {
        self.gaps
    }

    /// The history.
    pub fn histogram(&self) -> &Histogram {
        &self.histogram
    }

    /// The safety net's discounted totals: what the timeouts in force cost
    /// (A), and what break-even would have cost (B), in seconds.
    pub fn totals(&self) -> (f64, f64) {
        (self.auto_cost, self.break_even_cost)
    }

    /// Records an idle gap that has just ended, priced with the timeout that
    /// was in force during it, and recomputes the timeout.
    ///
    /// Gaps shorter than [`MIN_TIMEOUT`] are ignored: they cost the same
    /// under every timeout the policy can choose.
    pub fn observe(&mut self, gap: Duration) {
        self.observe_priced(gap, self.timeout);
    }

    /// [`observe`](Learning::observe) for a gap during which `timeout` was
    /// in force: the gap that ends at a start, priced with the timeout of
    /// the previous run.
    pub(crate) fn observe_priced(&mut self, gap: Duration, timeout: Duration) {
        let secs = gap.as_secs_f64();
        if secs < MIN_SECS {
            return;
        }
        let cold = self.cold_start_cost.as_secs_f64();
        self.auto_cost = self.auto_cost * DECAY + cost_secs(secs, timeout.as_secs_f64(), cold);
        self.break_even_cost = self.break_even_cost * DECAY + cost_secs(secs, cold, cold);
        self.histogram.decay(DECAY);
        self.histogram.add(secs);
        // Saturating: a state file may say anything.
        self.gaps = self.gaps.saturating_add(1);
        self.recompute();
    }

    /// Chooses the timeout from the history and the safety net.
    fn recompute(&mut self) {
        // The safety net: A may exceed λ·B + κ·C. The ratio is what lets
        // the learned timeout come back soon after a fallback: while
        // break-even is in force, A − λ·B falls by (λ − 1) times what each
        // gap costs, instead of waiting for the decay to erase a difference.
        let cold = self.cold_start_cost.as_secs_f64();
        let allowed = NET_RATIO * self.break_even_cost + NET_SLACK * cold;
        if self.gaps == 0 || self.auto_cost > allowed {
            self.timeout = self.cold_start_cost;
            self.source = TimeoutSource::BreakEven;
            return;
        }
        let (k, _, covers_all) = self.histogram.best_edge(cold);
        // Round up to the millisecond: the timeout still covers the bin.
        let millis = (edge(k) * 1000.0).ceil();
        let mut timeout = clamp(Duration::from_millis(millis as u64));
        // Every gap in the history is covered: nothing says how long the
        // next one beyond them may be, so wait as long as break-even would.
        // (In the history this costs nothing: no gap lies in between.)
        if covers_all {
            timeout = timeout.max(self.cold_start_cost);
        }
        self.timeout = timeout;
        self.source = TimeoutSource::Learned { gaps: self.gaps };
    }

    /// Rebuilds a saved state (see the state file).
    pub(crate) fn restore(
        cold_start_cost: Duration,
        histogram: Histogram,
        gaps: u64,
        totals: (f64, f64),
    ) -> Self {
        let mut learning = Learning::new(cold_start_cost);
        learning.histogram = histogram;
        learning.gaps = gaps;
        (learning.auto_cost, learning.break_even_cost) = totals;
        learning.recompute();
        learning
    }
}

fn clamp(timeout: Duration) -> Duration {
    timeout.clamp(MIN_TIMEOUT, MAX_TIMEOUT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const C: Duration = Duration::from_secs(30);

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn bins_are_log_spaced_and_cover_one_second_to_one_hour() {
        assert_eq!(bin_of(0.999), None);
        assert_eq!(bin_of(f64::NAN), None);
        assert_eq!(bin_of(1.0), Some(0));
        assert_eq!(bin_of(3599.999), Some(BINS - 1));
        assert_eq!(bin_of(3600.0), Some(BINS));
        assert_eq!(bin_of(1e9), Some(BINS));
        for k in 1..BINS {
            assert_eq!(bin_of(edge(k)), Some(k), "an edge opens its bin");
            let width = edge(k + 1) / edge(k);
            assert!((width - 1.0437).abs() < 1e-3, "{width}");
        }
        assert_eq!(std::mem::size_of::<Histogram>(), 2 * 8 * (BINS + 1));
    }

    #[test]
    fn no_history_is_break_even() {
        let learning = Learning::new(C);
        assert_eq!(
            (learning.timeout(), learning.source()),
            (C, TimeoutSource::BreakEven)
        );
        assert_eq!(Learning::new(secs(0.2)).timeout(), MIN_TIMEOUT, "clamped");
        assert_eq!(Learning::new(secs(1e5)).timeout(), MAX_TIMEOUT, "clamped");
    }

    #[test]
    fn short_gaps_are_not_recorded() {
        let mut learning = Learning::new(C);
        learning.observe(secs(0.5));
        assert_eq!(
            (learning.gaps(), learning.source()),
            (0, TimeoutSource::BreakEven)
        );
    }

    #[test]
    fn gaps_shorter_than_the_cold_start_are_covered() {
        let mut learning = Learning::new(C);
        for _ in 0..10 {
            learning.observe(secs(8.0));
            learning.observe(secs(900.0));
        }
        let timeout = learning.timeout().as_secs_f64();
        assert!((8.0..8.0 * 1.045).contains(&timeout), "{timeout}");
        assert_eq!(learning.source(), TimeoutSource::Learned { gaps: 20 });
    }

    #[test]
    fn a_history_with_no_longer_gap_waits_as_long_as_break_even() {
        // Nothing says how long a gap beyond those seen may be.
        let mut learning = Learning::new(C);
        for _ in 0..10 {
            learning.observe(secs(8.0));
        }
        assert_eq!(learning.timeout(), C);
        assert_eq!(learning.source(), TimeoutSource::Learned { gaps: 10 });
    }

    #[test]
    fn gaps_longer_than_the_cold_start_are_not_waited_for() {
        // Cron every 15 minutes: waiting costs 900 s a gap, a cold start 30.
        let mut learning = Learning::new(C);
        for _ in 0..10 {
            learning.observe(secs(900.0));
        }
        assert_eq!(learning.timeout(), MIN_TIMEOUT);
    }

    #[test]
    fn old_behaviour_fades() {
        let mut learning = Learning::new(C);
        for _ in 0..200 {
            learning.observe(secs(900.0));
        }
        for _ in 0..200 {
            learning.observe(secs(5.0));
        }
        let timeout = learning.timeout().as_secs_f64();
        assert!((5.0..5.3).contains(&timeout), "{timeout}");
        let weight = learning.histogram().total_weight();
        assert!(weight < 1.0 / (1.0 - DECAY), "{weight}");
    }

    #[test]
    fn the_safety_net_falls_back_to_break_even() {
        // History says "cover 2 s gaps"; then the gaps land just past the
        // learned timeout, where a cold start costs 15 times the gap.
        let mut learning = Learning::new(C);
        for _ in 0..50 {
            learning.observe(secs(2.0));
            learning.observe(secs(900.0));
        }
        assert!(learning.timeout() < secs(2.2));
        let mut fell_back = false;
        for _ in 0..200 {
            let gap = learning.timeout() + Duration::from_millis(10);
            learning.observe(gap);
            fell_back |= learning.source() == TimeoutSource::BreakEven;
        }
        assert!(fell_back);
    }

    #[test]
    fn sources_read_as_the_status_shows_them() {
        assert_eq!(TimeoutSource::Fixed.to_string(), "fixed");
        assert_eq!(TimeoutSource::BreakEven.to_string(), "auto: break-even");
        assert_eq!(
            TimeoutSource::NoState.to_string(),
            "auto: break-even without a state file"
        );
        assert_eq!(
            TimeoutSource::Learned { gaps: 1 }.to_string(),
            "auto: learned from 1 gap"
        );
        assert_eq!(
            TimeoutSource::Learned { gaps: 7 }.to_string(),
            "auto: learned from 7 gaps"
        );
    }

    #[test]
    fn the_chosen_edge_minimises_the_empirical_cost() {
        let mut histogram = Histogram::default();
        for gap in [1.5, 3.0, 3.1, 40.0, 41.0, 5000.0] {
            histogram.add(gap);
        }
        let (k, cost, _) = histogram.best_edge(30.0);
        for other in 0..=BINS {
            let tau = edge(other);
            let direct: f64 = [1.5, 3.0, 3.1, 40.0, 41.0, 5000.0]
                .iter()
                .map(|&g| cost_secs(g, tau, 30.0))
                .sum();
            assert!(cost <= direct + 1e-9, "edge {other}: {direct} < {cost}");
        }
        assert!(edge(k) > 3.1 && edge(k) < 3.1 * 1.05, "{}", edge(k));
    }

    /// Gaps from a mix of scales, as an adversary with no knowledge of the
    /// rule might send them.
    fn gap_strategy() -> impl Strategy<Value = f64> {
        prop_oneof![
            0.0..1.0f64,
            1.0..60.0f64,
            20.0..40.0f64,
            60.0..4000.0f64,
            Just(30.0),
            Just(3600.0),
        ]
    }

    /// What an adversary that knows the rule does with each gap: end it just
    /// after the timeout in force (the worst for a learned timeout), just
    /// before it, or somewhere random.
    #[derive(Clone, Debug)]
    enum Move {
        JustAfter,
        JustBefore,
        Random(f64),
    }

    fn move_strategy() -> impl Strategy<Value = Move> {
        prop_oneof![
            Just(Move::JustAfter),
            Just(Move::JustBefore),
            gap_strategy().prop_map(Move::Random),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Break-even never costs more than twice the optimum, gap by gap.
        #[test]
        fn break_even_is_within_twice_the_optimum(
            cold in 1.0..3600.0f64,
            gaps in prop::collection::vec(gap_strategy(), 1..200),
        ) {
            let (mut paid, mut optimum) = (0.0, 0.0);
            for gap in gaps {
                paid += cost_secs(gap, cold, cold);
                optimum += gap.min(cold);
            }
            prop_assert!(paid <= 2.0 * optimum + 1e-6 * paid, "{paid} > 2 × {optimum}");
        }

        /// The safety net: whatever the gaps, even chosen against the rule
        /// by an adversary who sees the timeout in force, the discounted
        /// cost of the timeouts in force is at most λ times that of
        /// break-even plus κ·C + max(C, 1 h − C), hence at most 2λ times
        /// the discounted optimum plus that constant.
        #[test]
        fn the_safety_net_bound_holds(
            cold_secs in 1u64..=3600,
            moves in prop::collection::vec(move_strategy(), 1..400),
        ) {
            let cold = Duration::from_secs(cold_secs);
            let c = cold.as_secs_f64();
            let mut learning = Learning::new(cold);
            // Recomputed here from the definitions, not read from `learning`.
            let (mut auto, mut break_even, mut optimum) = (0.0, 0.0, 0.0);
            for step in moves {
                let timeout = learning.timeout();
                let gap = match step {
                    Move::JustAfter => timeout + Duration::from_millis(1),
                    Move::JustBefore => timeout.saturating_sub(Duration::from_millis(1)),
                    Move::Random(secs) => Duration::from_secs_f64(secs),
                };
                let g = gap.as_secs_f64();
                if g >= 1.0 {
                    auto = auto * DECAY + gap_cost(gap, timeout, cold);
                    break_even = break_even * DECAY + gap_cost(gap, cold, cold);
                    optimum = optimum * DECAY + g.min(c);
                }
                learning.observe(gap);
                let constant = NET_SLACK * c + c.max(MAX_TIMEOUT.as_secs_f64() - c);
                let slack = 1e-9 * auto.max(1.0);
                prop_assert!(
                    auto <= NET_RATIO * break_even + constant + slack,
                    "{auto} > {NET_RATIO} × {break_even} + {constant}"
                );
                prop_assert!(auto <= 2.0 * NET_RATIO * optimum + constant + slack);
            }
        }

        /// The learned timeout is the best fixed timeout in hindsight over
        /// the (undecayed, for this check) history, up to one bin's width.
        #[test]
        fn the_learned_timeout_is_near_the_best_in_hindsight(
            cold in 1.0..600.0f64,
            gaps in prop::collection::vec(1.0..4000.0f64, 1..60),
        ) {
            let mut histogram = Histogram::default();
            for &gap in &gaps {
                histogram.add(gap);
            }
            let (k, cost, _) = histogram.best_edge(cold);
            let chosen: f64 = gaps.iter().map(|&g| cost_secs(g, edge(k), cold)).sum();
            prop_assert!((chosen - cost).abs() <= 1e-6 * chosen.max(1.0));
            // The best timeout in hindsight is 1 s or exactly one of the gaps.
            let best = gaps
                .iter()
                .copied()
                .chain([1.0])
                .filter(|&t| t <= 3600.0)
                .map(|t| gaps.iter().map(|&g| cost_secs(g, t, cold)).sum::<f64>())
                .fold(f64::INFINITY, f64::min);
            let width = edge(1) - 1.0;
            // Covering a gap with the bin's upper edge instead of the gap
            // itself can only cost more on the gaps it misses.
            prop_assert!(chosen <= best * (1.0 + width) + 1e-6, "{chosen} vs {best}");
        }
    }
}
