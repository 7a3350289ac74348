"""Writes bench/RESULTS.md from one run's raw data (results.json) and the
figures computed from it (figures.py): one function per section, each
returning its lines."""

import json
import signal

import figures


def fmt_ms(value):
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"


def fmt_range(s):
    return f"{fmt_ms(s['median'])} ms ({fmt_ms(s['min'])}–{fmt_ms(s['max'])})"


def verdict(ok):
    return "met" if ok else "**missed**"


def describe_code(code):
    if code is None:
        return "?"
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit {code}"


def write(path, data, f):
    sections = [
        title,
        headline,
        provenance,
        main_table,
        lateness_section,
        hyperfine_section,
        fault_section,
        rounds_section,
        cold_section,
    ]
    lines = []
    for section in sections:
        lines += section(data, f)
    lines += ["![cold start and idle-exit lateness](chart.svg)", ""]
    with open(path, "w") as out:
        out.write("\n".join(lines))


def title(data, f):
    return ["# Benchmark results", ""]


def headline(data, f):
    """The first paragraph: instructions per request, deterministic, so the
    figure to decide on; the other two targets beside it."""
    met = {k: "met" if v else "missed" for k, v in f["met"].items()}
    ipr, cpu = f["instructions_per_request"], f["server_cpu_us_per_request"]
    if ipr:
        low, high = data["callgrind_counts"]
        first = (
            f"**Instructions per request, the headline figure: `#[idle_server]` executes {ipr['idle']:,.0f} "
            f"user-space instructions per request, bare axum {ipr['bare']:,.0f}: {f['instructions_ratio']:.3f}× "
            f"(+{ipr['idle'] - ipr['bare']:,.0f}); target ≤ {figures.INSTRUCTIONS_AT_MOST:.2f}×: {met['instructions']}.** "
            "Counted by valgrind's callgrind over 4 keep-alive connections, as the difference between runs "
            f"serving {high:,} and {low:,} requests. The count is deterministic: other load on the machine "
            "does not move it, as it moves throughput and cold start."
        )
    else:
        first = (
            "**Instructions per request, the headline figure, were not measured in this run** "
            f"(`--callgrind 0`, as in `BENCH_QUICK=1` smoke runs); the target is ≤ {figures.INSTRUCTIONS_AT_MOST:.2f}× bare axum."
        )
    beside = (
        f"Beside it: throughput in alternating rounds {figures.throughput_for_target(f):.3f}× "
        f"(target ≥ {figures.THROUGHPUT_AT_LEAST:.2f}×: {met['throughput']}), server CPU time per request "
        f"{cpu['idle'] / cpu['bare']:.3f}×, cold start {f['cold_ratio']:.2f}× "
        f"(target ≤ {figures.COLD_START_AT_MOST:.2f}×: {met['cold_start']}; against bare axum without "
        f"`http2`, {f['cold_ratio_no_http2']:.2f}×)."
    )
    return [first + " " + beside, ""]


def provenance(data, f):
    m, labels = data["machine"], data["labels"]
    lines = [
        f"{data['date']} · {m['cores']} cores ({m['cpu']}), Linux {m['kernel']} · {m['rustc']} · "
        f"Python {m['python']} · {m['wrk']}",
        "",
        f"Produced by `bash bench/run.sh` in {data['elapsed_s']:.0f} s (1-minute load average "
        f"{data['loadavg'][0]} before the measurements, {data['loadavg'][1]} after); "
        "every figure below comes from that one run,",
        "the servers measured alternately. Raw numbers: `bench/results.json`; chart: `bench/chart.svg`.",
    ]
    if max(float(x) for x in data["loadavg"]) > 0.7:
        lines += [
            "",
            "**Other processes were using the CPU during this run** (load average above): wrk's throughput "
            "and p99 swing between rounds by more than the difference being measured, so read the "
            "throughput ratio together with the CPU-time and callgrind rows, which depend far less on "
            "other load.",
        ]
    lines += ["", "Servers, all serving the same router (`GET /` → `hello`, `GET /slow/{ms}`), all on 127.0.0.1:", ""]
    lines += [f"- **{labels[key]}**: {data['descriptions'][key]}" for key in ("bare", "bare_h1", "idle", "seed")]
    return lines + [""]


def main_table(data, f):
    rps, cpu, p99, rss, hwm = f["rps"], f["server_cpu_us_per_request"], f["p99"], f["rss_mib"], f["hwm_mib"]
    t, ratios, met = data["throughput"], f["throughput_round_ratios"], f["met"]
    tp_ratio, paired_ratio = f["throughput_ratio"], f["throughput_ratio_per_round_median"]
    return [
        "| measurement | bare axum | `#[idle_server]` | seed design | idle / bare | target | |",
        "|---|---:|---:|---:|---:|---|---|",
        instructions_row(data, f),
        f"| throughput, `wrk -t2 -c50 -d{t['seconds']}s`, median of {t['rounds_n']} rounds | "
        f"{rps['bare']:,.0f} req/s | {rps['idle']:,.0f} req/s | {rps['seed']:,.0f} req/s | "
        f"{tp_ratio:.1%} (per round: median {paired_ratio:.1%}, {min(ratios):.1%}–{max(ratios):.1%}) "
        f"| ≥ 97% | {verdict(met['throughput'])} |",
        f"| server CPU time per request under that load (median of rounds) | {cpu['bare']:.2f} µs | "
        f"{cpu['idle']:.2f} µs | {cpu['seed']:.0f} µs | {cpu['idle'] / cpu['bare']:.1%} | | |",
        f"| p99 latency under that load | {p99['bare']:.2f} ms | {p99['idle']:.2f} ms | {p99['seed']:.2f} ms | "
        f"{p99['idle'] / p99['bare']:.2f}× | | |",
        *cold_rows(f),
        f"| RSS after the first request (VmRSS, median) | {rss['bare']:.1f} MiB | {rss['idle']:.1f} MiB | "
        f"{rss['seed']:.1f} MiB | {f['rss_delta_mib']:+.2f} MiB | within 1 MiB | {verdict(met['rss'])} |",
        f"| peak RSS after the throughput rounds (VmHWM) | {hwm['bare']:.1f} MiB | {hwm['idle']:.1f} MiB | "
        f"{hwm['seed']:.1f} MiB | {hwm['idle'] - hwm['bare']:+.2f} MiB | | |",
        *behaviour_rows(f),
        "",
    ]


def instructions_row(data, f):
    """The main table's first row: the headline figure, or why it is missing."""
    ipr = f["instructions_per_request"]
    if not ipr:
        return (
            "| user-space instructions per request (callgrind) | not measured | not measured | | | ≤ 103% | "
            "skipped (`--callgrind 0`) |"
        )
    low, high = data["callgrind_counts"]
    return (
        "| user-space instructions per request (callgrind, deterministic; 4 keep-alive connections, "
        f"{high:,} − {low:,} requests) | {ipr['bare']:,.0f} | {ipr['idle']:,.0f} | | "
        f"{f['instructions_ratio']:.1%} (+{ipr['idle'] - ipr['bare']:,.0f}) | ≤ 103% | "
        f"{verdict(f['met']['instructions'])} |"
    )


def cold_rows(f):
    """Cold start against bare axum (the target), and against bare axum
    without `http2` (for information: ours serves HTTP/2 too)."""
    cold = f["cold"]
    return [
        f"| cold start, exec → first 200, median (min–max) of {cold['bare']['n']} | {fmt_range(cold['bare'])} | "
        f"{fmt_range(cold['idle'])} | {fmt_range(cold['seed'])} | {f['cold_ratio']:.1%} (ratio of medians "
        f"{f['cold_ratio_of_medians']:.1%}) | ≤ 110%, single-digit ms | {verdict(f['met']['cold_start'])} |",
        f"| the same against bare axum without `http2` (HTTP/1 only), for information | "
        f"{fmt_range(cold['bare_h1'])} | {fmt_range(cold['idle'])} | | {f['cold_ratio_no_http2']:.1%} | | |",
    ]


def behaviour_rows(f):
    """The main table's rows on exit precision and the in-flight fault."""
    late, fault, met = f["lateness"], f["fault"], f["met"]
    seed1 = late["seed_1s"]
    return [
        f"| idle exit after `last response + 1 s`, median (min–max) of {late['idle']['n']} | never exits | "
        f"{fmt_range(late['idle'])} late | {fmt_range(seed1)} late (poll 1 s) | | ≤ 50 ms | "
        f"{verdict(met['exit'])} |",
        f"| slow request (3 s, timeout 1 s) + a second request at 2.2 s: both served | no idle exit | "
        f"{fault['idle']['both']}/{fault['idle']['n']} | {fault['seed_1s']['both']}/{fault['seed_1s']['n']} "
        f"(poll 1 s) | | both, always | {verdict(met['fault'])} |",
    ]


def lateness_section(data, f):
    labels, e = data["labels"], data["exit"]
    lines = [
        "## Idle-exit lateness",
        "",
        "Time from the client receiving the last response to the process having exited, minus the 1 s "
        "timeout. The last request falls at a random moment relative to the seed design's polling.",
        "",
        "| server | runs | median | p90 | min | max | exit status |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for key, s in f["lateness"].items():
        codes = sorted(set(e["codes"][key]))
        lines.append(
            f"| {labels[key]} | {s['n']} | {fmt_ms(s['median'])} ms | {fmt_ms(s['p90'])} ms | "
            f"{fmt_ms(s['min'])} ms | {fmt_ms(s['max'])} ms | {', '.join(describe_code(x) for x in codes)} |"
        )
    if "idle" in e["exit_lines"]:
        lines += ["", f"Last exit line of ours: `{e['exit_lines']['idle']}`"]
    return lines


def hyperfine_section(data, f):
    if not data.get("hyperfine"):
        return [""]
    lines = [
        "",
        "A server that never gets a request, exec → exit with a 1 s timeout (`hyperfine -N`, "
        f"{data['hyperfine_runs']} runs):",
        "",
        "| server | median | min | max |",
        "|---|---:|---:|---:|",
    ]
    for name, h in data["hyperfine"].items():
        lines.append(f"| {name} | {h['median_ms']:.0f} ms | {h['min_ms']:.0f} ms | {h['max_ms']:.0f} ms |")
    return lines + [""]


def fault_section(data, f):
    lines = [
        "## In-flight requests",
        "",
        "Client A sends `GET /slow/3000` (longer than the 1 s timeout); client B sends `GET /` on a new "
        "connection 2.2 s after A started. The seed design's middleware saw A *start*, so its poller "
        "decides the server is idle while A is still running and sends SIGTERM: uvicorn closes the "
        "listening socket (B is refused) and waits for A. Ours counts A as active until its body is "
        "sent, so it serves both and exits 1 s after A ends.",
        "",
        "| server | rounds | A (slow) served | B (second) served | B outcomes |",
        "|---|---:|---:|---:|---|",
    ]
    for key, counts in f["fault"].items():
        lines.append(
            f"| {data['labels'][key]} | {counts['n']} | {counts['a']}/{counts['n']} | {counts['b']}/{counts['n']} | "
            f"{', '.join(f'{v}× {k}' for k, v in counts['b_outcomes'].items())} |"
        )
    return lines + [""]


def rounds_section(data, f):
    t, labels = data["throughput"], data["labels"]
    lines = [
        "## Throughput rounds",
        "",
        "| round | " + " | ".join(f"{labels[k]} req/s (p99, server CPU/request)" for k in t["rounds"]) + " | idle / bare |",
        "|---:|" + "---:|" * (len(t["rounds"]) + 1),
    ]
    for i in range(t["rounds_n"]):
        cells = [
            f"{t['rounds'][k][i]['rps']:,.0f} ({t['rounds'][k][i]['p99_ms']:.2f} ms, "
            f"{t['rounds'][k][i]['server_cpu_us_per_request']:.1f} µs CPU)"
            for k in t["rounds"]
        ]
        lines.append(f"| {i + 1} | " + " | ".join(cells) + f" | {f['throughput_round_ratios'][i]:.1%} |")
    errors = {k: [r for r in v if r["non2xx"] or r["socket_errors"]] for k, v in t["rounds"].items()}
    if any(errors.values()):
        lines += ["", "wrk reported errors: " + json.dumps({k: v for k, v in errors.items() if v})]
    return lines + [""]


def cold_section(data, f):
    cold, rss = f["cold"], f["rss_mib"]
    lines = [
        "## Cold start",
        "",
        "Exec (`subprocess.Popen` returning, which it does once the child has exec'd) to the first 200 "
        "response, polling with connect + `GET /` every 0.2 ms (about 0.3 ms per attempt with Python's "
        f"overhead); {cold['bare']['n']} runs, each starting every server once, back to back, in an order "
        "rotated from run to run, after 2 warm-up runs; `PORT` set to a free port. The ratios are the "
        "median over runs of ours / bare within a run, so that a slow phase of other load hits both servers "
        f"compared: against bare axum {f['cold_ratio']:.1%} (ratio of the medians {f['cold_ratio_of_medians']:.1%}), "
        f"against bare axum without `http2` {f['cold_ratio_no_http2']:.1%}.",
        "",
        "| server | median | p90 | min | max | RSS after the first request |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, s in cold.items():
        lines.append(
            f"| {data['labels'][key]} | {fmt_ms(s['median'])} ms | {fmt_ms(s['p90'])} ms | {fmt_ms(s['min'])} ms | "
            f"{fmt_ms(s['max'])} ms | {rss[key]:.2f} MiB |"
        )
    return lines + [""]
