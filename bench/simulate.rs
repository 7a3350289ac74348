//! Replays idle-gap traces through the adaptive timeout's policy, the same
//! `idle_runtime::adaptive::Learning` the server runs, and compares it with
//! fixed timeouts, break-even and the clairvoyant optimum.
//!
//! Two uses:
//!
//! ```text
//! cargo run --release -p idle --example simulate
//! cargo run --release -p idle --example simulate -- --trace FILE --cold-start-cost 30s [--no-state]
//! ```
//!
//! Without arguments it prints the tables and writes `bench/SIMULATION.md`
//! and `bench/simulation.svg`. Every trace comes from a fixed seed, so the
//! output is the same on every run and every machine.
//!
//! With `--trace FILE` it replays a user's own traffic: one request time a
//! line, as seconds (a decimal number), an RFC 3339 timestamp, or an nginx
//! access-log line in the combined format (the time between `[` and `]`).
//! Blank lines and lines starting with `#` are skipped. It prints a table,
//! then, as its last line, one JSON object with the costs in seconds. With
//! `--no-state`, `auto` runs as a server without a state file does.
//!
//! The cost model is the policy's: a gap G under a timeout τ costs G idle
//! seconds if G ≤ τ, else τ idle seconds and one cold start, which is worth
//! `cold_start_cost` idle seconds. Activity itself is not billed to any
//! policy differently, so it is left out.
//!
//! `auto` with a state file learns every gap, the one across each exit
//! included (the next start reads when the server went idle). Without one,
//! each exit forgets, and within a run only gaps shorter than the timeout
//! are seen: the server does not learn from that censored view and keeps
//! break-even, and so does this replay (it runs the same rule: a fresh
//! `Learning` per run, fed nothing).

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use idle_runtime::adaptive::{gap_cost, Learning, MAX_TIMEOUT, MIN_TIMEOUT};

/// The default `cold_start_cost`, used for the report's main tables.
const COLD: f64 = 30.0;
/// The costs of a cold start the report sweeps over.
const SWEEP: [f64; 4] = [5.0, 30.0, 120.0, 300.0];
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

fn low_rate(name: &'static str, visits_a_day: f64, seed: u64, days: f64) -> Trace {
    // Visits between 08:00 and 22:00, Poisson; each visit makes 1 to 4
    // requests, log-uniform 5 s to 3 min apart.
    let mut rng = Rng(seed);
    let mut times = Vec::new();
    let open = 14.0 * HOUR;
    let mut t = 0.0;
    loop {
        t += rng.exponential(open / visits_a_day);
        if t >= days * open {
            break;
        }
        // Map open time onto the calendar: day d, 08:00 + offset.
        let (day, offset) = ((t / open).floor(), t % open);
        let mut at = day * DAY + 8.0 * HOUR + offset;
        let requests = 1 + (rng.next_u64() % 4) as usize;
        for _ in 0..requests {
            times.push(at);
            at += rng.log_uniform(5.0, 180.0);
        }
    }
    times.sort_by(f64::total_cmp);
    let requests = times.len() as f64 / days;
    Trace {
        name,
        kind: "low rate",
        description: format!(
            "{days} days of {visits_a_day} visits a day between 08:00 and 22:00 (Poisson), \
             each 1 to 4 requests 5 s to 3 min apart (log-uniform): {requests:.0} requests a day"
        ),
        gaps: times.windows(2).map(|w| w[1] - w[0]).collect(),
    }
}

fn traces() -> Vec<Trace> {
    vec![
        poisson("Poisson 10 s", 10.0, 1),
        poisson("Poisson 30 s", 30.0, 2),
        poisson("Poisson 90 s", 90.0, 3),
        bursts(4),
        diurnal(5),
        cron(6),
        pareto(7),
        azure(8),
        low_rate("3 a day", 1.2, 9, 120.0),
        low_rate("25 a day", 10.0, 10, 120.0),
        low_rate("3 a day, 30 d", 1.2, 11, 30.0),
        low_rate("25 a day, 30 d", 10.0, 12, 30.0),
        low_rate("3 a day, 14 d", 1.2, 13, 14.0),
        low_rate("10 a day, 14 d", 4.0, 14, 14.0),
    ]
}

/// What a policy paid on a trace.
#[derive(Clone, Copy)]
struct Bill {
    idle: f64,
    cold_starts: u64,
}

impl Bill {
    const ZERO: Bill = Bill {
        idle: 0.0,
        cold_starts: 0,
    };

    fn cost(&self, cold: f64) -> f64 {
        self.idle + self.cold_starts as f64 * cold
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
    let mut bill = Bill::ZERO;
    for &gap in gaps {
        bill.charge(gap, timeout);
    }
    bill
}

/// The adaptive policy, exactly as the server runs it: price each gap with
/// the timeout in force, then, with a state file, let the policy learn it.
/// Without one, a gap longer than the timeout is an exit, which forgets.
fn auto(gaps: &[f64], cold: f64, state: bool) -> Bill {
    let cold_start_cost = Duration::from_secs_f64(cold);
    let mut learning = Learning::new(cold_start_cost);
    let mut bill = Bill::ZERO;
    for &gap in gaps {
        let timeout = learning.timeout();
        bill.charge(gap, timeout.as_secs_f64());
        // The same price, from the policy's own definition.
        debug_assert!(
            (gap_cost(Duration::from_secs_f64(gap), timeout, cold_start_cost)
                - cost(gap, timeout.as_secs_f64(), cold))
            .abs()
                < 1e-6
        );
        if state {
            learning.observe(Duration::from_secs_f64(gap));
        } else if gap > timeout.as_secs_f64() {
            // The server exited: the next start knows nothing.
            learning = Learning::new(cold_start_cost);
        }
    }
    bill
}

fn cost(gap: f64, timeout: f64, cold: f64) -> f64 {
    if gap <= timeout {
        gap
    } else {
        timeout + cold
    }
}

/// The best fixed timeout in hindsight within the policy's range (1 s to
/// 1 h): the cost only grows between two gaps, so the best is 1 s or exactly
/// one of the gaps. Returns the timeout and its bill.
fn best_fixed(gaps: &[f64], cold: f64) -> (f64, Bill) {
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
        covered[j] + (n - j) as f64 * (timeout + cold)
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

fn optimum(gaps: &[f64], cold: f64) -> f64 {
    gaps.iter().map(|&g| g.min(cold)).sum()
}

struct Row {
    policy: String,
    bill: Bill,
}

struct Result {
    trace: Trace,
    cold: f64,
    rows: Vec<Row>,
    optimum: f64,
    best: (f64, Bill),
}

impl Result {
    fn cost(&self, policy: &str) -> f64 {
        let row = self.rows.iter().find(|r| r.policy == policy);
        row.expect("every policy has a row").bill.cost(self.cold)
    }

    fn best_cost(&self) -> f64 {
        self.best.1.cost(self.cold)
    }
}

const AUTO: &str = "auto (state)";
const AUTO_NO_STATE: &str = "auto (no state)";
const BREAK_EVEN: &str = "break-even";
const FIXED_30S: &str = "fixed 30 s";

fn simulate(trace: Trace, cold: f64) -> Result {
    let gaps = &trace.gaps;
    let rows = vec![
        Row {
            policy: "fixed 10 s".into(),
            bill: fixed(gaps, 10.0),
        },
        Row {
            policy: FIXED_30S.into(),
            bill: fixed(gaps, 30.0),
        },
        Row {
            policy: "fixed 5 min".into(),
            bill: fixed(gaps, 300.0),
        },
        Row {
            policy: BREAK_EVEN.into(),
            bill: fixed(gaps, clamp(cold)),
        },
        Row {
            policy: AUTO_NO_STATE.into(),
            bill: auto(gaps, cold, false),
        },
        Row {
            policy: AUTO.into(),
            bill: auto(gaps, cold, true),
        },
    ];
    Result {
        optimum: optimum(gaps, cold),
        best: best_fixed(gaps, cold),
        cold,
        trace,
        rows,
    }
}

/// Break-even's timeout: `cold_start_cost` within the policy's range.
fn clamp(cold: f64) -> f64 {
    cold.clamp(MIN_TIMEOUT.as_secs_f64(), MAX_TIMEOUT.as_secs_f64())
}

fn hours(seconds: f64) -> String {
    format!("{:.1} h", seconds / HOUR)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        return report();
    }
    match Replay::from_args(&args).and_then(|replay| replay.run()) {
        Ok(output) => {
            print!("{output}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("simulate: {error}");
            ExitCode::from(2)
        }
    }
}

const USAGE: &str = "usage: simulate [--trace FILE --cold-start-cost DURATION [--no-state]]";

/// `--trace FILE --cold-start-cost D [--no-state]`.
struct Replay {
    trace: std::path::PathBuf,
    cold: Duration,
    state: bool,
}

impl Replay {
    fn from_args(args: &[String]) -> std::result::Result<Replay, String> {
        let (mut trace, mut cold, mut state) = (None, None, true);
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--trace" => {
                    let file = args.next().ok_or("--trace needs a file")?;
                    trace = Some(std::path::PathBuf::from(file));
                }
                "--cold-start-cost" => {
                    let value = args
                        .next()
                        .ok_or("--cold-start-cost needs a duration such as \"30s\"")?;
                    let duration = idle_duration::parse(value).map_err(|error| {
                        format!(
                            "--cold-start-cost {value:?}: expected {}; {error}",
                            idle_duration::EXPECTED
                        )
                    })?;
                    if duration < MIN_TIMEOUT || duration > MAX_TIMEOUT {
                        return Err(format!(
                            "--cold-start-cost {value:?}: expected a duration from 1s to 1h"
                        ));
                    }
                    cold = Some(duration);
                }
                "--no-state" => state = false,
                other => return Err(format!("unknown argument {other:?}; {USAGE}")),
            }
        }
        match (trace, cold) {
            (Some(trace), Some(cold)) => Ok(Replay { trace, cold, state }),
            (None, _) => Err(format!("--trace is missing; {USAGE}")),
            (_, None) => Err(format!("--cold-start-cost is missing; {USAGE}")),
        }
    }

    /// The table and, as its last line, the JSON object.
    fn run(&self) -> std::result::Result<String, String> {
        let mut out = String::new();
        let text = std::fs::read_to_string(&self.trace)
            .map_err(|error| format!("cannot read {}: {error}", self.trace.display()))?;
        let mut times = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            times.push(request_time(line).ok_or_else(|| {
                format!(
                    "{} line {}: {line:?} is not a request time; expected seconds \
                     (\"1764480000.25\"), an RFC 3339 timestamp \
                     (\"2025-11-30T08:00:00.250Z\") or an nginx combined log line",
                    self.trace.display(),
                    number + 1
                )
            })?);
        }
        if times.len() < 2 {
            return Err(format!(
                "{}: {} request times; at least 2 are needed to have a gap",
                self.trace.display(),
                times.len()
            ));
        }
        // Access logs are written as requests end, a little out of order.
        times.sort_by(f64::total_cmp);
        let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        let cold = self.cold.as_secs_f64();
        let trace = Trace {
            name: "replay",
            kind: "replay",
            description: String::new(),
            gaps,
        };
        let result = simulate(trace, cold);
        let auto = if self.state { AUTO } else { AUTO_NO_STATE };
        let _ = writeln!(
            out,
            "{} requests, {} gaps; cold_start_cost {}; costs in idle seconds plus {} per cold start",
            times.len(),
            result.trace.gaps.len(),
            idle_duration::format(self.cold),
            idle_duration::format(self.cold),
        );
        out.push('\n');
        let _ = writeln!(
            out,
            "{:<22} {:>12} {:>11} {:>14} {:>10}",
            "policy", "billed idle", "cold starts", "total cost (s)", "/ optimum"
        );
        let best_name = format!("best fixed ({})", format_seconds(result.best.0));
        let mut lines: Vec<(&str, Bill)> = result
            .rows
            .iter()
            .filter(|row| row.policy != AUTO && row.policy != AUTO_NO_STATE)
            .map(|row| (row.policy.as_str(), row.bill))
            .collect();
        lines.push((&best_name, result.best.1));
        let chosen = result.rows.iter().find(|row| row.policy == auto).unwrap();
        lines.push((auto, chosen.bill));
        for (policy, bill) in lines {
            let _ = writeln!(
                out,
                "{policy:<22} {:>12} {:>11} {:>14.1} {:>10.3}",
                hours(bill.idle),
                bill.cold_starts,
                bill.cost(cold),
                bill.cost(cold) / result.optimum,
            );
        }
        let _ = writeln!(
            out,
            "{:<22} {:>12} {:>11} {:>14.1} {:>10.3}",
            "optimum", "", "", result.optimum, 1.0
        );
        out.push('\n');
        let _ = writeln!(
            out,
            "{{\"requests\": {}, \"auto\": {:.3}, \"break_even\": {:.3}, \"fixed_30s\": {:.3}, \
             \"best_fixed\": {:.3}, \"best_fixed_timeout\": {:.3}, \"optimum\": {:.3}}}",
            times.len(),
            result.cost(auto),
            result.cost(BREAK_EVEN),
            result.cost(FIXED_30S),
            result.best_cost(),
            result.best.0,
            result.optimum,
        );
        Ok(out)
    }
}

/// A request's time in seconds: a decimal number, an RFC 3339 timestamp, or
/// the time of an nginx combined log line (`[10/Oct/2000:13:55:36 -0700]`).
fn request_time(line: &str) -> Option<f64> {
    let seconds = |time: chrono::DateTime<chrono::FixedOffset>| {
        time.timestamp() as f64 + f64::from(time.timestamp_subsec_nanos()) * 1e-9
    };
    if let Ok(number) = line.parse::<f64>() {
        return number.is_finite().then_some(number);
    }
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(line) {
        return Some(seconds(time));
    }
    let open = line.find('[')?;
    let close = open + line[open..].find(']')?;
    chrono::DateTime::parse_from_str(&line[open + 1..close], "%d/%b/%Y:%H:%M:%S %z")
        .ok()
        .map(seconds)
}

/// Writes `bench/SIMULATION.md` and `bench/simulation.svg`.
fn report() -> ExitCode {
    let results: Vec<Result> = traces()
        .into_iter()
        .map(|trace| simulate(trace, COLD))
        .collect();

    let mut md = String::new();
    md.push_str(HEADER);
    md.push_str("\n## Summary\n\nWith the default `cold_start_cost` of 30 s.\n\n");
    md.push_str(
        "| trace | kind | gaps | best fixed in hindsight | auto / best fixed | auto / fixed 30 s | auto / optimum | no state / break-even | no state / best fixed |\n",
    );
    md.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for result in &results {
        let auto = result.cost(AUTO);
        let no_state = result.cost(AUTO_NO_STATE);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            result.trace.name,
            result.trace.kind,
            result.trace.gaps.len(),
            format_seconds(result.best.0),
            auto / result.best_cost(),
            auto / result.cost(FIXED_30S),
            auto / result.optimum,
            no_state / result.cost(BREAK_EVEN),
            no_state / result.best_cost(),
        );
    }
    md.push_str(
        "\n![cost of each policy divided by the clairvoyant optimum, per trace](simulation.svg)\n",
    );

    md.push_str(SWEEP_HEADER);
    let mut head = String::from("| trace |");
    let mut rule = String::from("|---|");
    for cold in SWEEP {
        let _ = write!(
            head,
            " {cold} s: auto / best fixed | {cold} s: no state / break-even |"
        );
        rule.push_str("---:|---:|");
    }
    let _ = writeln!(md, "{head}\n{rule}");
    let mut worst = [(0.0f64, 0.0f64); SWEEP.len()];
    for trace in traces() {
        let _ = write!(md, "| {} |", trace.name);
        for (i, cold) in SWEEP.into_iter().enumerate() {
            let result = simulate(
                Trace {
                    gaps: trace.gaps.clone(),
                    description: String::new(),
                    ..trace
                },
                cold,
            );
            let with = result.cost(AUTO) / result.best_cost();
            let without = result.cost(AUTO_NO_STATE) / result.cost(BREAK_EVEN);
            worst[i] = (worst[i].0.max(with), worst[i].1.max(without));
            let _ = write!(md, " {with:.3} | {without:.3} |");
        }
        md.push('\n');
    }
    md.push_str("| **worst** |");
    for (with, without) in worst {
        let _ = write!(md, " **{with:.3}** | **{without:.3}** |");
    }
    md.push('\n');

    md.push_str(&short_traces());

    md.push_str("\n## Per trace\n\nCosts are idle seconds billed plus 30 s per cold start.\n");
    for result in &results {
        let _ = write!(
            md,
            "\n### {}\n\n{}. Clairvoyant optimum {}; best fixed timeout in hindsight {} ({}).\n\n",
            result.trace.name,
            result.trace.description,
            hours(result.optimum),
            format_seconds(result.best.0),
            hours(result.best_cost()),
        );
        md.push_str(
            "| policy | billed idle | cold starts | total cost | / optimum | / best fixed |\n",
        );
        md.push_str("|---|---:|---:|---:|---:|---:|\n");
        for row in &result.rows {
            let policy = match row.policy.as_str() {
                BREAK_EVEN => format!("break-even ({})", format_seconds(clamp(result.cold))),
                other => other.to_owned(),
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {:.3} | {:.3} |",
                policy,
                hours(row.bill.idle),
                row.bill.cold_starts,
                hours(row.bill.cost(result.cold)),
                row.bill.cost(result.cold) / result.optimum,
                row.bill.cost(result.cold) / result.best_cost(),
            );
        }
    }
    print!("{md}");

    let bench = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench");
    let written = std::fs::write(bench.join("SIMULATION.md"), &md)
        .and_then(|()| std::fs::write(bench.join("simulation.svg"), chart(&results)));
    match written {
        Ok(()) => {
            eprintln!("wrote bench/SIMULATION.md and bench/simulation.svg");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("cannot write bench/SIMULATION.md or bench/simulation.svg: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The short low-rate traces of the sweep, by their generator: visits a
/// day, days.
const SHORT: [(&str, f64, f64); 4] = [
    ("3 a day, 30 d", 1.2, 30.0),
    ("25 a day, 30 d", 10.0, 30.0),
    ("3 a day, 14 d", 1.2, 14.0),
    ("10 a day, 14 d", 4.0, 14.0),
];
/// Fresh samples drawn per short trace, and the length of the sample the
/// traffic's own best timeout is fitted on.
const SAMPLES: u64 = 40;
const LONG_DAYS: f64 = 3000.0;

/// How far the best fixed timeout in hindsight is from what any rule that
/// does not see the future can reach, on short traces: many fresh samples
/// of each short low-rate traffic, each replayed through `auto` and through
/// the best fixed timeout for the traffic itself (fitted on 3,000 days of
/// it: a timeout no online rule can know), both over the sample's own best
/// fixed timeout in hindsight.
fn short_traces() -> String {
    let mut md = String::from(SHORT_HEADER);
    md.push_str(
        "| traffic | cold start | traffic's best fixed | auto / hindsight: median | p90 | above 1.05 | traffic's best / hindsight: median | p90 | above 1.05 |\n",
    );
    md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (i, (name, visits, days)) in SHORT.into_iter().enumerate() {
        let seeds = 1000 + 100 * i as u64;
        let long = low_rate(name, visits, seeds, LONG_DAYS);
        for cold in [120.0, 300.0] {
            let traffic_best = best_fixed(&long.gaps, cold).0;
            let (mut auto_ratios, mut traffic_ratios) = (Vec::new(), Vec::new());
            for seed in seeds + 1..=seeds + SAMPLES {
                let sample = low_rate(name, visits, seed, days);
                let hindsight = best_fixed(&sample.gaps, cold).1.cost(cold);
                auto_ratios.push(auto(&sample.gaps, cold, true).cost(cold) / hindsight);
                traffic_ratios.push(fixed(&sample.gaps, traffic_best).cost(cold) / hindsight);
            }
            let (auto, traffic) = (Spread::of(auto_ratios), Spread::of(traffic_ratios));
            let _ = writeln!(
                md,
                "| {name} | {cold} s | {} | {:.3} | {:.3} | {:.0} % | {:.3} | {:.3} | {:.0} % |",
                format_seconds(traffic_best),
                auto.median,
                auto.p90,
                auto.above * 100.0,
                traffic.median,
                traffic.p90,
                traffic.above * 100.0,
            );
        }
    }
    md
}

/// The median, the 90th percentile and the share above 1.05 of ratios.
struct Spread {
    median: f64,
    p90: f64,
    above: f64,
}

impl Spread {
    fn of(mut ratios: Vec<f64>) -> Spread {
        ratios.sort_by(f64::total_cmp);
        let at = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
        Spread {
            median: at(0.5),
            p90: at(0.9),
            above: ratios.iter().filter(|&&r| r > 1.05).count() as f64 / ratios.len() as f64,
        }
    }
}

const SHORT_HEADER: &str = "
## Short traces: what hindsight knows

On a trace of a few dozen gaps, the best fixed timeout in hindsight is
fitted to that very sample: on a flat cost curve it lands on whichever gap
happened to make the sample cheapest. To tell that apart from what a rule
can learn, each short low-rate traffic above is drawn again 40 times with
fresh seeds and replayed through `auto`, and through the best fixed timeout
for the traffic itself, fitted on 3,000 days of it (a timeout no rule that
learns online can know in advance); both are divided by each sample's best
fixed timeout in hindsight. Where even the traffic's own best timeout is
above 1.05 times hindsight on many samples, no rule can promise 1.05 on
every sample.

";

fn format_seconds(seconds: f64) -> String {
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

Generated by `cargo run --release -p idle --example simulate` (`bench/simulate.rs`);
do not edit by hand. Each trace is a sequence of idle gaps from a fixed seed.
Every policy pays, for each gap G, G idle seconds if its timeout τ ≥ G, else
τ idle seconds and one cold start worth `cold_start_cost`. `auto (state)` is
`idle_runtime::adaptive::Learning`, the code the server runs, starting with
no history and learning every gap, as a server with a state file does.
`auto (no state)` is a server without one: every exit forgets, and within a
run only gaps shorter than the timeout are seen, so the server does not
learn from them and keeps break-even. The best fixed timeout in hindsight is
searched exactly over 1 s to 1 h for each trace; the clairvoyant optimum
pays min(G, `cold_start_cost`) per gap. Break-even is τ = `cold_start_cost`,
so with the default cost it is the same policy as fixed 30 s.
";

const SWEEP_HEADER: &str = "
## Across cold-start costs

The same traces with `cold_start_cost` from 5 s to 300 s: the cost of
`auto` with a state file over the best fixed timeout in hindsight for that
cost, and without a state file over break-even (a fixed timeout of
`cold_start_cost`). The short low-rate traces (30 days or less, under 800
gaps, some under 150) give the policy the least history to learn from:
that is where it is furthest from the best timeout in hindsight, which is
chosen knowing the whole trace: the next section shows how much of that
distance no rule can close.

";
/// Grouped bars: cost / optimum, one group per trace, one bar per policy.
fn chart(results: &[Result]) -> String {
    const COLORS: [&str; 6] = [
        "#9ecae1", "#6baed6", "#3182bd", "#bdbdbd", "#fdae6b", "#e6550d",
    ];
    let policies: Vec<&str> = results[0].rows.iter().map(|r| r.policy.as_str()).collect();
    let (left, top, group, bar, height) = (60.0, 50.0, 110.0, 15.0, 260.0);
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
            let ratio = row.bill.cost(result.cold) / result.optimum;
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
            x0 + bar * 3.0,
            top + height + 16.0,
            result.trace.name
        );
    }
    for (j, policy) in policies.iter().enumerate() {
        let x = left + 150.0 * j as f64;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(file: &std::path::Path, extra: &[&str]) -> std::result::Result<String, String> {
        let mut args = vec![
            "--trace".to_owned(),
            file.to_str().unwrap().to_owned(),
            "--cold-start-cost".to_owned(),
            "30s".to_owned(),
        ];
        args.extend(extra.iter().map(|arg| (*arg).to_owned()));
        Replay::from_args(&args).and_then(|replay| replay.run())
    }

    /// The last line's JSON object, as (key, value) pairs.
    fn json(output: &str) -> Vec<(String, f64)> {
        let last = output.lines().last().unwrap();
        assert!(last.starts_with('{') && last.ends_with('}'), "{last}");
        last[1..last.len() - 1]
            .split(", ")
            .map(|pair| {
                let (key, value) = pair.split_once(": ").unwrap();
                (key.trim_matches('"').to_owned(), value.parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn a_trace_of_seconds_is_replayed_with_its_costs_as_json() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("trace.txt");
        // Gaps: 5 s, 5 s, 100 s, 5 s.
        std::fs::write(&file, "# request times\n1000\n1005\n1010.0\n\n1110\n1115\n").unwrap();
        let output = replay(&file, &[]).unwrap();
        let costs = json(&output);
        let keys: Vec<&str> = costs.iter().map(|(key, _)| key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "requests",
                "auto",
                "break_even",
                "fixed_30s",
                "best_fixed",
                "best_fixed_timeout",
                "optimum"
            ]
        );
        let value = |key: &str| costs.iter().find(|(k, _)| k == key).unwrap().1;
        assert_eq!(value("requests"), 5.0);
        // Break-even (30 s): 5 + 5 + (30 + 30) + 5.
        assert_eq!(value("break_even"), 75.0);
        assert_eq!(value("fixed_30s"), 75.0);
        // Best: 5 s covers the short gaps, the long one costs 5 + 30.
        assert_eq!(
            (value("best_fixed"), value("best_fixed_timeout")),
            (50.0, 5.0)
        );
        assert_eq!(value("optimum"), 45.0);
        assert!(value("auto") >= value("optimum"));
        assert!(output.contains("policy"), "a table first:\n{output}");
        // Without state, auto is break-even.
        let costs = json(&replay(&file, &["--no-state"]).unwrap());
        assert_eq!(costs[1], ("auto".to_owned(), 75.0));
    }

    #[test]
    fn an_nginx_access_log_and_rfc_3339_times_are_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("access.log");
        std::fs::write(
            &log,
            "127.0.0.1 - - [30/Nov/2025:08:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"curl/8.5.0\"\n\
             127.0.0.1 - alice [30/Nov/2025:08:00:10 +0000] \"GET /a HTTP/1.1\" 200 5 \"-\" \"Mozilla/5.0 [x]\"\n\
             10.0.0.2 - - [30/Nov/2025:09:00:10 +0100] \"POST /b HTTP/2.0\" 201 0 \"-\" \"-\"\n",
        )
        .unwrap();
        let costs = json(&replay(&log, &[]).unwrap());
        // The third line is 08:00:10 UTC too: gaps of 10 s and 0 s.
        assert_eq!(costs[0], ("requests".to_owned(), 3.0));
        assert_eq!(costs[6], ("optimum".to_owned(), 10.0));

        let rfc = dir.path().join("times.txt");
        std::fs::write(&rfc, "2025-11-30T08:00:00Z\n2025-11-30T09:00:20.5+01:00\n").unwrap();
        let costs = json(&replay(&rfc, &[]).unwrap());
        assert_eq!(costs[6], ("optimum".to_owned(), 20.5));
    }

    #[test]
    fn bad_input_names_the_line_and_what_was_expected() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("trace.txt");
        std::fs::write(&file, "1000\nyesterday\n").unwrap();
        let error = replay(&file, &[]).unwrap_err();
        assert!(error.contains("line 2"), "{error}");
        assert!(error.contains("RFC 3339"), "{error}");
        std::fs::write(&file, "1000\n").unwrap();
        assert!(replay(&file, &[]).unwrap_err().contains("at least 2"));
        let error = replay(&file, &["--cold-start-cost", "2d"]).unwrap_err();
        assert!(error.contains("--cold-start-cost"), "{error}");
        let missing = Replay::from_args(&["--trace".to_owned(), "x".to_owned()]);
        assert!(missing
            .err()
            .unwrap()
            .contains("--cold-start-cost is missing"));
    }
}
