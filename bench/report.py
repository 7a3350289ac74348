"""Writes bench/RESULTS.md from one run's raw data (results.json) and the
figures computed from it (figures.py): one function per section, each
returning its lines."""

import json
import signal


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
    sections = [title, headline, provenance, matrix_section, socket_section, rounds_of_matrix]
    if "classic" in f:
        sections += [
            classic_table,
            lateness_section,
            hyperfine_section,
            fault_section,
            rounds_section,
            cold_section,
        ]
    lines = []
    for section in sections:
        lines += section(data, f)
    if "classic" in f:
        lines += ["![cold start and idle-exit lateness](chart.svg)", ""]
    with open(path, "w") as out:
        out.write("\n".join(lines))


def title(data, f):
    return ["# Benchmark results", ""]


def headline(data, f):
    """The first paragraph: the worst ratio against its target, as run.sh's
    last line says it."""
    t = f["targets"]
    missed = [r["label"] for r in f["matrix"] if not r["met"]]
    text = f"**{f['worst_line'][0].upper()}{f['worst_line'][1:]}.**"
    if missed:
        text += " Rows of the matrix above their target: " + "; ".join(missed) + "."
    else:
        text += f" Every row of the matrix is within its target ({t['met']} of {t['n']} targets met)."
    return [text, ""]


def provenance(data, f):
    m, labels = data["machine"], data["labels"]
    lines = [
        f"{data['date']} · {m['cores']} cores ({m['cpu']}), Linux {m['kernel']} · {m['rustc']} · "
        f"Python {m['python']} · {m['h2load']} · {m['valgrind']}",
        "",
        f"Produced by `bash bench/run.sh{run_options(data, f)}` in "
        f"{data['elapsed_s']:.0f} s (1-minute load average {data['loadavg'][0]} before the measurements, "
        f"{data['loadavg'][1]} after); every figure below comes from that one run. Raw numbers: "
        "`bench/results.json`.",
    ]
    if data.get("quick"):
        lines += ["", "**A `BENCH_QUICK=1` smoke run: too few units and rounds for the figures to mean anything.**"]
    if max(float(x) for x in data["loadavg"]) > 0.7:
        lines += [
            "",
            "**Other processes were using the CPU during this run** (load average above): native timings "
            "(CPU per request, downloads, throughput, cold start) swing with it; instructions under "
            "callgrind do not.",
        ]
    keys = ["bare", "bare_nagle", "idle"] + (["bare_h1", "seed"] if "classic" in f else [])
    lines += ["", "Servers, all serving the same router (`bench/router.rs`), all on 127.0.0.1:", ""]
    lines += [f"- **{labels[key]}**: {data['descriptions'][key]}" for key in keys]
    return lines + [""]


def run_options(data, f):
    """The options of the run.sh command that made this run."""
    options = (" " + data["build"] if data.get("build") else "") + (" --quick" if data.get("quick") else "")
    if data.get("only"):
        return options + " --only " + data["only"]
    return options + ("" if "classic" in f else " --matrix-only")


def fmt_value(value, unit):
    if value is None:
        return "failed"
    if unit == "instructions":
        return f"{value:,.0f}"
    if unit == "bytes":
        return f"{value / 1000:,.1f} KB"
    if unit == "µs":
        return f"{value:.2f} µs"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "ms":
        return f"{value:.2f} ms"
    return f"{value:,.0f} {unit}"


def matrix_table(data, f):
    """The matrix: one row per kind of work, bare axum against ours."""
    lines = [
        "| work | bare axum | ours | ours / bare | target | | how |",
        "|---|---:|---:|---:|---|---|---|",
    ]
    for r in f["matrix"] + (f["classic"]["rows"] if "classic" in f else []):
        sign = "≤" if r["at_most"] else "≥"
        lines.append(
            f"| {r['label']} | {fmt_value(r['bare'], r['unit'])} | {fmt_value(r['idle'], r['unit'])} | "
            f"{'—' if r['unit'] == 'failed' else format(r['ratio'], '.3f')} | {sign} {r['target']:.2f} | "
            f"{verdict(r['met'])} | {r['note']} |"
        )
    return lines


def matrix_section(data, f):
    return [
        "## The matrix",
        "",
        "Instructions per unit of work are counted by valgrind's callgrind in the server process, with one "
        "tokio worker (`TOKIO_WORKER_THREADS=1`), as the difference between two runs serving N2 and N1 units "
        "divided by N2 − N1, so that startup, connection setup and shutdown cancel out; deterministic, so "
        "other load on the machine does not move them. h2load sends the HTTP requests (its windows are "
        "2^30 − 1 bytes, so flow control never waits); `bench-client` (`bench/client.rs`) the WebSocket "
        "messages, the new connections and the downloads. The callgrind output of both runs is kept in "
        "`target/bench/callgrind/ROW.SERVER.N.out` for `callgrind_annotate`; `python3 bench/annotate.py ROW` "
        "gives, per function, the instructions per unit of bare axum and of ours and the difference.",
        "",
        *matrix_table(data, f),
        "",
    ]


def socket_section(data, f):
    if "socket_options" not in f:
        return []
    s, labels = f["socket_options"], data["labels"]
    keys = ["bare", "bare_nagle", "idle"]
    lines = [
        "## Socket options",
        "",
        "Bare axum with TCP_NODELAY (as ours sets it, and the matrix compares), bare axum as `axum::serve` "
        "is by itself (Nagle's algorithm on), and ours. CPU per GET: medians of the rounds above. A small "
        f"streamed response: `GET /events/4` (four 12-byte events, each its own write), one request at a "
        f"time (`h2load -c1 -m1`, {data['events']['requests']} requests), wall time per request.",
        "",
        "| | " + " | ".join(labels[k] for k in keys) + " |",
        "|---|" + "---:|" * len(keys),
    ]
    for protocol, name in (("h1", "HTTP/1.1 GET"), ("h2", "HTTP/2 GET")):
        lines.append(f"| server CPU per {name} | " + " | ".join(f"{s['cpu_us'][protocol][k]:.2f} µs" for k in keys) + " |")
        lines.append(f"| h2load req/s, {name} | " + " | ".join(f"{s['rps'][protocol][k]:,.0f}" for k in keys) + " |")
    for protocol, name in (("h1", "HTTP/1.1"), ("h2", "HTTP/2")):
        lines.append(f"| `GET /events/4`, {name}, per request | "
                     + " | ".join(f"{s['events_us'][protocol][k]:,.0f} µs" for k in keys) + " |")
    return lines + [""]


def rounds_of_matrix(data, f):
    labels = data["labels"]
    lines = ["## Rounds", ""]
    if "cpu" in data:
        lines += ["Server CPU per request (µs), one round per line, servers back to back:", ""]
    for protocol, servers in data.get("cpu", {}).get("rounds", {}).items():
        keys = list(servers)
        lines += [f"| {protocol} round | " + " | ".join(labels[k] for k in keys) + " | ours / bare |",
                  "|---:|" + "---:|" * (len(keys) + 1)]
        for i in range(len(servers["bare"])):
            lines.append(f"| {i + 1} | " + " | ".join(f"{servers[k][i]['cpu_us']:.2f}" for k in keys)
                         + f" | {servers['idle'][i]['cpu_us'] / servers['bare'][i]['cpu_us']:.3f} |")
        lines.append("")
    if "downloads" in data:
        lines += ["Flow-controlled downloads (s):", ""]
    for size, servers in data.get("downloads", {}).get("rounds", {}).items():
        lines += [f"| {size} round | bare axum | ours | ours / bare |", "|---:|---:|---:|---:|"]
        for i, (b, o) in enumerate(zip(servers["bare"], servers["idle"])):
            mark = lambda r: f"{r['seconds']:.2f}" + ("" if r["complete"] else " (not finished)")
            lines.append(f"| {i + 1} | {mark(b)} | {mark(o)} | {o['seconds'] / b['seconds']:.2f} |")
        lines.append("")
    if "keepalive_rss" not in data:
        return lines
    rss = data["keepalive_rss"]["bytes"]
    lines += ["RSS per idle keep-alive connection (bytes), per round: "
              + "; ".join(f"{labels[k]} {', '.join(f'{x:,.0f}' for x in v)}" for k, v in rss.items()), ""]
    return lines


def classic_table(data, f):
    c = f["classic"]
    rps, cpu, p99, rss, hwm = c["rps"], c["server_cpu_us_per_request"], c["p99"], c["rss_mib"], c["hwm_mib"]
    t, ratios, met = data["throughput"], c["throughput_round_ratios"], c["met"]
    tp_ratio, paired = c["throughput_ratio"], c["throughput_ratio_per_round_median"]
    return [
        "## Against the seed design: throughput, cold start, exit precision",
        "",
        "| measurement | bare axum | `#[idle_server]` | seed design | idle / bare | target | |",
        "|---|---:|---:|---:|---:|---|---|",
        f"| throughput, `wrk -t2 -c50 -d{t['seconds']}s`, median of {t['rounds_n']} rounds | "
        f"{rps['bare']:,.0f} req/s | {rps['idle']:,.0f} req/s | {rps['seed']:,.0f} req/s | "
        f"{tp_ratio:.1%} (per round: median {paired:.1%}, {min(ratios):.1%}–{max(ratios):.1%}) "
        f"| ≥ 97% | {verdict(met['throughput'])} |",
        f"| server CPU time per request under that load (median of rounds) | {cpu['bare']:.2f} µs | "
        f"{cpu['idle']:.2f} µs | {cpu['seed']:.0f} µs | {cpu['idle'] / cpu['bare']:.1%} | | |",
        f"| p99 latency under that load | {p99['bare']:.2f} ms | {p99['idle']:.2f} ms | {p99['seed']:.2f} ms | "
        f"{p99['idle'] / p99['bare']:.2f}× | | |",
        *cold_rows(c),
        f"| RSS after the first request (VmRSS, median) | {rss['bare']:.1f} MiB | {rss['idle']:.1f} MiB | "
        f"{rss['seed']:.1f} MiB | {c['rss_delta_mib']:+.2f} MiB | within 1 MiB | {verdict(met['rss'])} |",
        f"| peak RSS after the throughput rounds (VmHWM) | {hwm['bare']:.1f} MiB | {hwm['idle']:.1f} MiB | "
        f"{hwm['seed']:.1f} MiB | {hwm['idle'] - hwm['bare']:+.2f} MiB | | |",
        *behaviour_rows(c),
        "",
    ]


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
    labels, e, f = data["labels"], data["exit"], f["classic"]
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
    f = f["classic"]
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
    t, labels, f = data["throughput"], data["labels"], f["classic"]
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
    f = f["classic"]
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
