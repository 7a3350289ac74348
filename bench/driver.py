"""Benchmark driver for bench/run.sh: measures the servers side by side in
one run, prints the matrix, and writes bench/RESULTS.md, bench/results.json
and bench/chart.svg.

Servers (the same router each, see bench/router.rs):
  bare       - plain axum::serve with TCP_NODELAY on accepted sockets and
               ConnectInfo<SocketAddr>, as ours serves (bench-bare)
  bare_nagle - the same without TCP_NODELAY, as axum::serve is by itself
               (bench-bare with BENCH_NODELAY=0); socket-options decision only
  bare_h1    - bench-bare built against axum without `http2`; cold start and
               RSS only (bench/bare-h1/)
  idle       - #[idle_server]                          (bench-idle)
  seed       - the seed design: FastAPI + uvicorn, a middleware that records
               the last request start and a task polling every POLL_INTERVAL s
               that SIGTERMs its own process           (bench/seed_app.py)

The matrix (bare against ours): instructions per unit of work under
callgrind for each kind of traffic, RSS per idle keep-alive connection,
server CPU per GET natively, flow-controlled HTTP/2 downloads; then, unless
--matrix-only, what the bench measured before: throughput (wrk), cold
start, idle-exit precision and the in-flight fault against the seed design.
Each measurement is a module of measure/ (see measure/__init__.py),
figures.py computes the figures and the targets, report.py writes
RESULTS.md. Everything talks to 127.0.0.1 only, on free ports; every loop
is bounded.
"""

import argparse
import datetime
import json
import os
import shutil
import sys
import time

import figures
import report
import svgchart
from measure import load
from measure.cold_start import cold_start
from measure.cpu import cpu_per_request
from measure.download import downloads
from measure.fault import in_flight_fault
from measure.hyperfine import hyperfine_never_requested
from measure.idle_exit import exit_lateness
from measure.keepalive import rss_per_connection
from measure.machine import loadavg, machine
from measure.matrix import ROWS, instructions
from measure.nodelay import event_latency
from measure.servers import Server, log
from measure.throughput import throughput

LABELS = {
    "bare": "bare axum",
    "bare_nagle": "bare axum without TCP_NODELAY",
    "bare_h1": "bare axum without `http2`",
    "idle": "`#[idle_server]`",
    "seed": "seed design",
    "seed_1s": "seed design, poll 1 s",
    "seed_05s": "seed design, poll 0.5 s",
}
DESCRIPTIONS = {
    "bare": "`axum::serve` with no idle tracking (`bench/bare.rs`, release build), configured as ours "
    "serves: TCP_NODELAY on every accepted socket (`ListenerExt::tap_io`) and "
    "`into_make_service_with_connect_info::<SocketAddr>()`; it never exits by itself",
    "bare_nagle": "the same binary with `BENCH_NODELAY=0`: `axum::serve`'s own socket options (Nagle's "
    "algorithm on); measured for the socket-options decision only",
    "bare_h1": "the same `bench/bare.rs` built against axum without its `http2` feature, so HTTP/1 only "
    "(`bench/bare-h1/`, a package of its own so that cargo does not unify axum's features with the "
    "workspace's); measured for cold start and RSS only, for information: the targets compare with bare "
    "axum with `http2`, which serves HTTP/1 and HTTP/2 as ours does",
    "idle": "`#[idle_server(timeout = \"1s\")]` (`bench/idle.rs`, release build)",
    "seed": "the hand-written design `idle` replaces: FastAPI + uvicorn (uvloop, httptools, pinned in "
    "`bench/requirements.txt`), a middleware storing the time the last request started and a task "
    "that polls every `POLL_INTERVAL` s and sends SIGTERM to its own process (`bench/seed_app.py`)",
}


def arguments():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bare", required=True)
    parser.add_argument("--bare-h1", help="bare axum built without axum's http2 feature")
    parser.add_argument("--idle", required=True)
    parser.add_argument("--client", required=True, help="the bench-client binary")
    parser.add_argument("--seed-python")
    parser.add_argument("--seed-app")
    parser.add_argument("--out", required=True, help="directory for RESULTS.md, results.json, chart.svg")
    parser.add_argument("--work", required=True, help="directory for callgrind's output files")
    parser.add_argument("--quick", action="store_true", help="a short smoke run; figures not meaningful")
    parser.add_argument("--matrix-only", action="store_true", help="skip wrk, cold start, exit and seed design")
    parser.add_argument(
        "--only",
        help="comma-separated parts of the matrix to measure, implying --matrix-only: row keys of "
        "measure/matrix.py (h1_get, h2_get, h2_body, h1_body, h1_stream, h2_stream, ws, new_conn, "
        "new_conn_close), rss, cpu (with the socket options), download",
    )
    parser.add_argument("--started", type=float, default=time.time(), help="epoch seconds the run began")
    parser.add_argument(
        "--build",
        default="",
        help="run.sh's build option for this run (--one-unit or --one-unit-both), named in RESULTS.md",
    )
    return parser.parse_args()


def rewrite(path, out):
    """Writes RESULTS.md again from a run's raw data (after a change to
    figures.py or report.py): `python3 bench/driver.py --rewrite bench/results.json`."""
    with open(path) as raw:
        data = json.load(raw)
    data["figures"] = figures.compute(data)
    report.write(os.path.join(out, "RESULTS.md"), data, data["figures"])
    with open(path, "w") as raw:
        json.dump(data, raw, indent=1)
    print("\n".join(report.matrix_table(data, data["figures"])))
    print(data["figures"]["worst_line"])


def plan(args):
    """How many rounds and runs of each measurement."""
    if args.quick:
        return {"rss_rounds": 1, "connections": 500, "cpu_rounds": 1, "cpu_requests": 20_000,
                "downloads": {"1m": 1, "20m": 1}, "download_limit_s": 20, "event_requests": 20,
                "rounds": 1, "seconds": 1, "cold_runs": 3, "exit_runs": 2, "fault_rounds": 1,
                "hyperfine_runs": 2}
    return {"rss_rounds": 3, "connections": 5000, "cpu_rounds": 7, "cpu_requests": 100_000,
            "downloads": {"1m": 7, "20m": 3}, "download_limit_s": 30, "event_requests": 100,
            "rounds": 6, "seconds": 4, "cold_runs": 30, "exit_runs": 12, "fault_rounds": 3,
            "hyperfine_runs": 10}


def measure(args, p):
    """Runs every measurement in turn; returns the raw data of the run."""
    bare = Server("bare", "bare axum", [args.bare], {})
    bare_nagle = Server("bare_nagle", "bare axum without TCP_NODELAY", [args.bare], {"BENCH_NODELAY": "0"})
    idle = Server("idle", "#[idle_server]", [args.idle], {"IDLE_TIMEOUT": "1s"})
    data = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "labels": LABELS,
        "descriptions": DESCRIPTIONS,
        "plan": p,
        "quick": args.quick,
        "only": args.only,
        "build": args.build,
        "rows": {row.key: {"label": row.label, "command": row.command} for row in ROWS},
    }
    load_start = loadavg()
    only = set(args.only.split(",")) if args.only else None
    rows = [row for row in ROWS if only is None or row.key in only]
    if rows:
        log("instructions per unit of work under callgrind: bare and idle, one tokio worker")
        data["instructions"] = instructions([bare, idle], rows, os.path.join(args.work, "callgrind"), args.quick)
    if only is None or "rss" in only:
        log(f"RSS per idle keep-alive connection: {p['connections']:,} open, {p['rss_rounds']} rounds")
        data["keepalive_rss"] = {"connections": p["connections"],
                                 "bytes": rss_per_connection([bare, idle], p["rss_rounds"], p["connections"])}
    if only is None or "cpu" in only:
        log(f"server CPU per request: {p['cpu_rounds']} rounds of {p['cpu_requests']:,} GETs per server")
        data["cpu"] = {"requests": p["cpu_requests"],
                       "rounds": cpu_per_request([bare, idle, bare_nagle], p["cpu_rounds"], p["cpu_requests"])}
        log("small streamed responses, with and without TCP_NODELAY")
        data["events"] = {"requests": p["event_requests"],
                          "us": event_latency([bare, bare_nagle, idle], p["event_requests"])}
    if only is None or "download" in only:
        log("flow-controlled HTTP/2 downloads")
        data["downloads"] = {"limit_s": p["download_limit_s"],
                             "rounds": downloads([bare, idle], p["downloads"], p["download_limit_s"])}
    if not args.matrix_only:
        data.update(classic(args, p, bare, idle))
    data["loadavg"] = [load_start, loadavg()]
    data["elapsed_s"] = time.time() - args.started
    return data


def classic(args, p, bare, idle):
    """What the bench measured before the matrix, against the seed design."""
    bare_h1 = Server("bare_h1", "bare axum without http2", [args.bare_h1], {})
    seed = Server("seed", "seed design", [args.seed_python, args.seed_app],
                  {"IDLE_TIMEOUT_SECONDS": "1", "POLL_INTERVAL": "1"})
    log(f"throughput: {p['rounds']} rounds × {p['seconds']} s per server")
    rounds, memory = throughput([bare, idle, seed], p["rounds"], p["seconds"])
    log(f"cold start: {p['cold_runs']} runs per server")
    cold_ms, cold_rss = cold_start([bare, bare_h1, idle, seed], p["cold_runs"])
    exit_configs = [
        ("idle", idle, {"IDLE_TIMEOUT": "1s"}),
        ("seed_1s", seed, {"IDLE_TIMEOUT_SECONDS": "1", "POLL_INTERVAL": "1"}),
        ("seed_05s", seed, {"IDLE_TIMEOUT_SECONDS": "1", "POLL_INTERVAL": "0.5"}),
    ]
    log(f"idle-exit lateness: {p['exit_runs']} runs per configuration")
    lateness, codes, exit_lines = exit_lateness(exit_configs, p["exit_runs"])
    log(f"in-flight fault: {p['fault_rounds']} rounds per configuration")
    fault = in_flight_fault(exit_configs, p["fault_rounds"])
    log(f"never-requested servers under hyperfine: {p['hyperfine_runs']} runs each")
    commands = [("#[idle_server]", args.idle), ("seed design, poll 1 s", f"{args.seed_python} {args.seed_app}")]
    return {
        "throughput": {"rounds": rounds, "memory": memory, "rounds_n": p["rounds"], "seconds": p["seconds"]},
        "cold_start": {"ms": cold_ms, "rss_kib": cold_rss},
        "exit": {"lateness_ms": lateness, "codes": codes, "exit_lines": exit_lines},
        "fault": fault,
        "hyperfine": hyperfine_never_requested(commands, p["hyperfine_runs"]),
        "hyperfine_runs": p["hyperfine_runs"],
    }


def chart(path, data):
    cold_ms, lateness = data["cold_start"]["ms"], data["exit"]["lateness_ms"]
    svgchart.write(
        path,
        [
            (
                "Cold start: exec → first 200 (ms, log scale)",
                [
                    ("bare axum", cold_ms["bare"]),
                    ("bare, no http2", cold_ms["bare_h1"]),
                    ("#[idle_server]", cold_ms["idle"]),
                    ("seed design", cold_ms["seed"]),
                ],
            ),
            (
                "Idle exit: ms after last response + 1 s timeout (log scale)",
                [
                    ("#[idle_server]", lateness["idle"]),
                    ("seed, poll 1 s", lateness["seed_1s"]),
                    ("seed, poll 0.5 s", lateness["seed_05s"]),
                ],
            ),
        ],
    )


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--rewrite":
        rewrite(sys.argv[2], os.path.dirname(sys.argv[2]) or ".")
        return
    args = arguments()
    if args.only:
        known = {row.key for row in ROWS} | {"rss", "cpu", "download"}
        unknown = set(args.only.split(",")) - known
        if unknown:
            sys.exit(f"driver: --only: unknown part(s) {', '.join(sorted(unknown))}; expected some of "
                     f"{', '.join(sorted(known))}")
        args.matrix_only = True
    if not args.matrix_only and not (args.bare_h1 and args.seed_python and args.seed_app):
        sys.exit("driver: --bare-h1, --seed-python and --seed-app are needed unless --matrix-only")
    for tool in ("h2load", "valgrind") + (() if args.matrix_only else ("wrk", "hyperfine")):
        if not shutil.which(tool):
            sys.exit(f"driver: {tool} not found on PATH")
    load.CLIENT["path"] = args.client
    data = measure(args, plan(args))
    data["figures"] = figures.compute(data)
    report.write(os.path.join(args.out, "RESULTS.md"), data, data["figures"])
    with open(os.path.join(args.out, "results.json"), "w") as out:
        json.dump(data, out, indent=1)
    if "cold_start" in data:
        chart(os.path.join(args.out, "chart.svg"), data)
    written = [os.path.join(args.out, name) for name in ("RESULTS.md", "results.json")]
    if not args.matrix_only:
        written.append(os.path.join(args.out, "chart.svg"))
    print(f"== done in {data['elapsed_s']:.0f} s: {', '.join(written)}")
    print()
    print("\n".join(report.matrix_table(data, data["figures"])))
    print(data["figures"]["worst_line"])


if __name__ == "__main__":
    main()
