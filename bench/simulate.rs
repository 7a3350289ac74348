//! Replays idle-gap traces through the adaptive timeout's policy, the same
//! `idle_runtime::adaptive::Learning` the server runs, and compares it with
//! fixed timeouts, break-even and the clairvoyant optimum.
//!
//! Run with
//!
//! ```text
//! cargo run --release --example simulate
//! ```
//!
//! It prints the tables and writes `bench/SIMULATION.md` and
//! `bench/simulation.svg`. Every trace comes from a fixed seed, so the
//! output is the same on every run and every machine.
//!
//! The cost model is the policy's: a gap G under a timeout τ costs G idle
//! seconds if G ≤ τ, else τ idle seconds and one cold start, which is worth
//! `cold_start_cost` (30 s here, the default) idle seconds. Activity itself
//! is not billed to any policy differently, so it is left out.

use std::fmt::Write as _;
use std::time::Duration;

use idle_runtime::adaptive::{gap_cost, Learning, MAX_TIMEOUT, MIN_TIMEOUT};

/// The default `cold_start_cost`.
const COLD: f64 = 30.0;
const HOUR: f64 = 3600.0;
const DAY: f64 = 24.0 * HOUR;

/// splitmix64: a small, well-mixed generator, so that every trace is the
/// same on every machine without a dependency.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    fn uniform(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.unit()
    }

    fn exponential(&mut self, mean: f64) -> f64 {
        -mean * self.unit().ln()
    }

    fn log_uniform(&mut self, low: f64, high: f64) -> f64 {
        (low.ln() + (high.ln() - low.ln()) * self.unit()).exp()
    }

    fn pareto(&mut self, scale: f64, shape: f64) -> f64 {
        scale / self.unit().powf(1.0 / shape)
    }
}

struct Trace {
    name: &'static str,
    kind: &'static str,
    description: String,
    /// Idle gaps in seconds, in order.
    gaps: Vec<f64>,
}

fn poisson(name: &'static str, mean: f64, seed: u64) -> Trace {
    let mut rng = Rng(seed);
    Trace {
        name,
        kind: "memoryless",
        description: format!("Poisson arrivals, mean gap {mean} s, 5,000 gaps"),
        gaps: (0..5000).map(|_| rng.exponential(mean)).collect(),
    }
}

fn bursts(seed: u64) -> Trace {
    let mut rng = Rng(seed);
    let mut gaps = Vec::new();
    for _ in 0..400 {
        let requests = 5 + (rng.next_u64() % 46) as usize;
        for _ in 1..requests {
            gaps.push(rng.exponential(3.0));
        }
        gaps.push(rng.exponential(20.0 * 60.0));
    }
    Trace {
        name: "on/off bursts",
        kind: "bursty",
        description: "400 bursts of 5 to 50 requests, gaps exponential with mean 3 s; \
                      silences between bursts exponential with mean 20 min"
            .to_owned(),
        gaps,
    }
}

fn diurnal(seed: u64) -> Trace {
    // Non-homogeneous Poisson by thinning: one request every 10 s on average
    // at the 14:00 peak, about one an hour at night.
    let mut rng = Rng(seed);
    let peak = 1.0 / 10.0;
    let rate = |t: f64| {
        let phase = ((t % DAY) / DAY - 14.0 / 24.0) * std::f64::consts::TAU;
        let day = (0.5 + 0.5 * phase.cos()).powi(4);
        peak * day + 1.0 / HOUR
    };
    let (mut t, mut last) = (0.0, 0.0);
    let mut gaps = Vec::new();
    while t < 14.0 * DAY {
        t += rng.exponential(1.0 / peak);
        if rng.unit() <= rate(t) / (peak + 1.0 / HOUR) {
            gaps.push(t - last);
            last = t;
        }
    }
    Trace {
        name: "diurnal",
        kind: "diurnal",
        description: "14 days; Poisson whose rate follows the day, a request every 10 s at the \
                      14:00 peak, about one an hour at night"
            .to_owned(),
        gaps,
    }
}

fn cron(seed: u64) -> Trace {
    // A job every 15 minutes ± 10 s; each makes 3 requests 0.3 s apart.
    let mut rng = Rng(seed);
    let mut gaps = Vec::new();
    let mut previous_end = 0.0;
    for job in 1..=(14 * 96) {
        let start = job as f64 * 900.0 + rng.uniform(-10.0, 10.0);
        gaps.push(start - previous_end);
        gaps.extend([0.3, 0.3]);
        previous_end = start + 0.6;
    }
    Trace {
        name: "cron 15 min",
        kind: "periodic",
        description: "14 days of a job every 15 min ± 10 s, 3 requests 0.3 s apart each".to_owned(),
        gaps,
    }
}

fn pareto(seed: u64) -> Trace {
    let mut rng = Rng(seed);
    Trace {
        name: "Pareto",
        kind: "heavy-tailed",
        description: "5,000 gaps, Pareto with scale 1 s and shape 0.4 (no mean), capped at a day"
            .to_owned(),
        gaps: (0..5000).map(|_| rng.pareto(1.0, 0.4).min(DAY)).collect(),
    }
}

fn azure(seed: u64) -> Trace {
    // Shahrad et al. (ATC 2020): 45 % of applications are invoked at most
    // once an hour, another 36 % at most once a minute, the rest more often,
    // over 8 orders of magnitude. One server whose behaviour moves between
    // such applications: 60 phases of 50 gaps, each phase Poisson with a
    // mean gap drawn from that population.
    let mut rng = Rng(seed);
    let mut gaps = Vec::new();
    for _ in 0..60 {
        let class = rng.unit();
        let mean = if class <= 0.45 {
            rng.log_uniform(HOUR, DAY)
        } else if class <= 0.81 {
            rng.log_uniform(60.0, HOUR)
        } else {
            rng.log_uniform(0.01, 60.0)
        };
        for _ in 0..50 {
            gaps.push(rng.exponential(mean));
        }
    }
    Trace {
        name: "Azure-shaped",
        kind: "mixed",
        description: "60 phases of 50 Poisson gaps; mean gap per phase drawn like the Azure \
                      population: 45 % 1 h to 1 day, 36 % 1 min to 1 h, 19 % 10 ms to 1 min"
            .to_owned(),
        gaps,
    }
}

/// What a policy paid on a trace.
#[derive(Clone, Copy)]
struct Bill {
    idle: f64,
    cold_starts: u64,
}

impl Bill {
    fn cost(&self) -> f64 {
        self.idle + self.cold_starts as f64 * COLD
    }

    fn charge(&mut self, gap: f64, timeout: f64) {
        if gap <= timeout {
            self.idle += gap;
        } else {
            self.idle += timeout;
            self.cold_starts += 1;
        }
    }
}

fn fixed(gaps: &[f64], timeout: f64) -> Bill {
    let mut bill = Bill {
        idle: 0.0,
        cold_starts: 0,
    };
    for &gap in gaps {
        bill.charge(gap, timeout);
    }
    bill
}

/// The adaptive policy, exactly as the server runs it: price each gap with
/// the timeout in force, then let the policy learn it.
fn auto(gaps: &[f64]) -> Bill {
    let cold = Duration::from_secs_f64(COLD);
    let mut learning = Learning::new(cold);
    let mut bill = Bill {
        idle: 0.0,
        cold_starts: 0,
    };
    for &gap in gaps {
        let timeout = learning.timeout();
        bill.charge(gap, timeout.as_secs_f64());
        // The same price, from the policy's own definition.
        debug_assert!(
            (gap_cost(Duration::from_secs_f64(gap), timeout, cold)
                - cost(gap, timeout.as_secs_f64()))
            .abs()
                < 1e-6
        );
        learning.observe(Duration::from_secs_f64(gap));
    }
    bill
}

fn cost(gap: f64, timeout: f64) -> f64 {
    if gap <= timeout {
        gap
    } else {
        timeout + COLD
    }
}

/// The best fixed timeout in hindsight within the policy's range (1 s to
/// 1 h): the cost only grows between two gaps, so the best is 1 s or exactly
/// one of the gaps. Returns the timeout and its bill.
fn best_fixed(gaps: &[f64]) -> (f64, Bill) {
    let (low, high) = (MIN_TIMEOUT.as_secs_f64(), MAX_TIMEOUT.as_secs_f64());
    let mut sorted = gaps.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    // covered[j] = sum of the j smallest gaps.
    let mut covered = vec![0.0; n + 1];
    for (j, gap) in sorted.iter().enumerate() {
        covered[j + 1] = covered[j] + gap;
    }
    let price = |timeout: f64| {
        let j = sorted.partition_point(|&g| g <= timeout);
        covered[j] + (n - j) as f64 * (timeout + COLD)
    };
    let best = sorted
        .iter()
        .copied()
        .filter(|&g| g >= low && g <= high)
        .chain([low])
        .min_by(|a, b| price(*a).total_cmp(&price(*b)))
        .unwrap_or(low);
    (best, fixed(gaps, best))
}

fn optimum(gaps: &[f64]) -> f64 {
    gaps.iter().map(|&g| g.min(COLD)).sum()
}

struct Row {
    policy: String,
    bill: Bill,
}

struct Result {
    trace: Trace,
    rows: Vec<Row>,
    optimum: f64,
    best: (f64, Bill),
}

fn simulate(trace: Trace) -> Result {
    let gaps = &trace.gaps;
    let rows = vec![
        Row {
            policy: "fixed 10 s".into(),
            bill: fixed(gaps, 10.0),
        },
        Row {
            policy: "fixed 30 s".into(),
            bill: fixed(gaps, 30.0),
        },
        Row {
            policy: "fixed 5 min".into(),
            bill: fixed(gaps, 300.0),
        },
        Row {
            policy: "break-even (30 s)".into(),
            bill: fixed(gaps, COLD),
        },
        Row {
            policy: "auto".into(),
            bill: auto(gaps),
        },
    ];
    Result {
        optimum: optimum(gaps),
        best: best_fixed(gaps),
        trace,
        rows,
    }
}

fn hours(seconds: f64) -> String {
    format!("{:.1} h", seconds / HOUR)
}

fn main() {
    let results: Vec<Result> = [
        poisson("Poisson 10 s", 10.0, 1),
        poisson("Poisson 30 s", 30.0, 2),
        poisson("Poisson 90 s", 90.0, 3),
        bursts(4),
        diurnal(5),
        cron(6),
        pareto(7),
        azure(8),
    ]
    .into_iter()
    .map(simulate)
    .collect();

    let mut md = String::new();
    md.push_str(HEADER);
    md.push_str("\n## Summary\n\n");
    md.push_str(
        "| trace | kind | gaps | best fixed in hindsight | auto / best fixed | auto / fixed 30 s | auto / optimum |\n",
    );
    md.push_str("|---|---|---:|---:|---:|---:|---:|\n");
    for result in &results {
        let auto = result.rows.iter().find(|r| r.policy == "auto").unwrap();
        let fixed30 = result
            .rows
            .iter()
            .find(|r| r.policy == "fixed 30 s")
            .unwrap();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.3} | {:.3} | {:.3} |",
            result.trace.name,
            result.trace.kind,
            result.trace.gaps.len(),
            idle_runtime_format(result.best.0),
            auto.bill.cost() / result.best.1.cost(),
            auto.bill.cost() / fixed30.bill.cost(),
            auto.bill.cost() / result.optimum,
        );
    }
    md.push_str(
        "\n![cost of each policy divided by the clairvoyant optimum, per trace](simulation.svg)\n",
    );
    md.push_str("\n## Per trace\n\nCosts are idle seconds billed plus 30 s per cold start.\n");
    for result in &results {
        let _ = write!(
            md,
            "\n### {}\n\n{}. Clairvoyant optimum {}; best fixed timeout in hindsight {} ({}).\n\n",
            result.trace.name,
            result.trace.description,
            hours(result.optimum),
            idle_runtime_format(result.best.0),
            hours(result.best.1.cost()),
        );
        md.push_str(
            "| policy | billed idle | cold starts | total cost | / optimum | / best fixed |\n",
        );
        md.push_str("|---|---:|---:|---:|---:|---:|\n");
        for row in &result.rows {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {:.3} | {:.3} |",
                row.policy,
                hours(row.bill.idle),
                row.bill.cold_starts,
                hours(row.bill.cost()),
                row.bill.cost() / result.optimum,
                row.bill.cost() / result.best.1.cost(),
            );
        }
    }
    print!("{md}");

    let bench = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench");
    let written = std::fs::write(bench.join("SIMULATION.md"), &md)
        .and_then(|()| std::fs::write(bench.join("simulation.svg"), chart(&results)));
    match written {
        Ok(()) => eprintln!("wrote bench/SIMULATION.md and bench/simulation.svg"),
        Err(error) => {
            eprintln!("cannot write bench/SIMULATION.md or bench/simulation.svg: {error}");
            std::process::exit(1);
        }
    }
}

fn idle_runtime_format(seconds: f64) -> String {
    let millis = (seconds * 1000.0).round() as u64;
    // Whole seconds read better in a table.
    let rounded = if millis >= 10_000 {
        millis / 1000 * 1000
    } else {
        millis
    };
    idle_duration::format(Duration::from_millis(rounded.max(1))).to_string()
}

const HEADER: &str = "# Adaptive timeout: simulation

Generated by `cargo run --release --example simulate` (`bench/simulate.rs`);
do not edit by hand. Each trace is a sequence of idle gaps from a fixed seed.
Every policy pays, for each gap G, G idle seconds if its timeout τ ≥ G, else
τ idle seconds and one cold start worth `cold_start_cost` = 30 s. `auto` is
`idle_runtime::adaptive::Learning`, the code the server runs, starting with
no history; the best fixed timeout in hindsight is searched exactly over
1 s to 1 h for each trace; the clairvoyant optimum pays min(G, 30 s) per gap.
Break-even is τ = `cold_start_cost`, so with the default cost it is the same
policy as fixed 30 s.
";

/// Grouped bars: cost / optimum, one group per trace, one bar per policy.
fn chart(results: &[Result]) -> String {
    const COLORS: [&str; 5] = ["#9ecae1", "#6baed6", "#3182bd", "#bdbdbd", "#e6550d"];
    let policies: Vec<&str> = results[0].rows.iter().map(|r| r.policy.as_str()).collect();
    let (left, top, group, bar, height) = (60.0, 50.0, 110.0, 16.0, 260.0);
    let width = left + group * results.len() as f64 + 20.0;
    let max = 4.0f64;
    let y = |ratio: f64| top + height * (1.0 - (ratio.min(max) - 1.0) / (max - 1.0));
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"11\">",
        top + height + 90.0
    );
    let _ = writeln!(
        svg,
        "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{left}\" y=\"20\" font-size=\"14\">Cost / clairvoyant optimum (lower is better; 1 = optimum, bars capped at {max})</text>"
    );
    for tick in [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0] {
        let _ = writeln!(
            svg,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#eee\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{tick:.1}</text>",
            width - 20.0,
            left - 6.0,
            y(tick) + 4.0,
            y = y(tick)
        );
    }
    for (i, result) in results.iter().enumerate() {
        let x0 = left + group * i as f64 + 10.0;
        for (j, row) in result.rows.iter().enumerate() {
            let ratio = row.bill.cost() / result.optimum;
            let x = x0 + bar * j as f64;
            let _ = writeln!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{}\" height=\"{:.1}\" fill=\"{}\"><title>{}: {}: {ratio:.3}</title></rect>",
                y(ratio),
                bar - 2.0,
                top + height - y(ratio),
                COLORS[j % COLORS.len()],
                result.trace.name,
                row.policy
            );
        }
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x0 + bar * 2.5,
            top + height + 16.0,
            result.trace.name
        );
    }
    for (j, policy) in policies.iter().enumerate() {
        let x = left + 120.0 * j as f64;
        let legend_y = top + height + 40.0;
        let _ = writeln!(
            svg,
            "<rect x=\"{x}\" y=\"{legend_y}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{policy}</text>",
            COLORS[j % COLORS.len()],
            x + 16.0,
            legend_y + 10.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}
