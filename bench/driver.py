"""Benchmark driver for bench/run.sh: measures the servers side by side
in one run and writes bench/RESULTS.md, bench/results.json and
bench/chart.svg.

Servers (the same two routes each, see bench/router.rs):
  bare    - plain axum::serve, no idle tracking     (bench-bare example)
  bare_h1 - the same, axum without `http2`; cold start and RSS only
                                                    (bench/bare-h1/)
  idle    - #[idle_server]                          (bench-idle example)
  seed    - the seed design: FastAPI + uvicorn, a middleware that records
            the last request start and a task polling every POLL_INTERVAL s
            that SIGTERMs its own process           (bench/seed_app.py)

This file parses the arguments and runs the measurements in order; each
measurement is a module of measure/ (see measure/__init__.py), figures.py
computes the figures, report.py writes RESULTS.md and svgchart.py the chart.
Everything talks to 127.0.0.1 only, on free ports; every loop is bounded.
Standard library only, apart from wrk, hyperfine and valgrind on PATH.
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
from measure.callgrind import COUNTS, instructions_per_request
from measure.cold_start import cold_start
from measure.fault import in_flight_fault
from measure.hyperfine import hyperfine_never_requested
from measure.idle_exit import exit_lateness
from measure.machine import loadavg, machine
from measure.servers import Server, log
from measure.throughput import throughput

LABELS = {
    "bare": "bare axum",
    "bare_h1": "bare axum without `http2`",
    "idle": "`#[idle_server]`",
    "seed": "seed design",
    "seed_1s": "seed design, poll 1 s",
    "seed_05s": "seed design, poll 0.5 s",
}
DESCRIPTIONS = {
    "bare": "`axum::serve` with no idle tracking (`bench/bare.rs`, release build); it never exits by itself",
    "bare_h1": "the same `bench/bare.rs` built against axum without its `http2` feature, so HTTP/1 only "
    "(`bench/bare-h1/`, a package of its own so that cargo does not unify axum's features with the root "
    "package's); measured for cold start and RSS only, for information: the targets compare with bare "
    "axum with `http2`, which serves HTTP/1 and HTTP/2 as ours does",
    "idle": "`#[idle_server(timeout = \"1s\")]` (`bench/idle.rs`, release build)",
    "seed": "the hand-written design `idle` replaces: FastAPI + uvicorn (uvloop, httptools, pinned in "
    "`bench/requirements.txt`), a middleware storing the time the last request started and a task "
    "that polls every `POLL_INTERVAL` s and sends SIGTERM to its own process (`bench/seed_app.py`)",
}


def arguments():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bare", required=True)
    parser.add_argument("--bare-h1", required=True, help="bare axum built without axum's http2 feature")
    parser.add_argument("--idle", required=True)
    parser.add_argument("--seed-python", required=True)
    parser.add_argument("--seed-app", required=True)
    parser.add_argument("--out", required=True, help="directory for RESULTS.md, results.json, chart.svg")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--cold-runs", type=int, default=30)
    parser.add_argument("--exit-runs", type=int, default=12)
    parser.add_argument("--fault-rounds", type=int, default=3)
    parser.add_argument("--hyperfine-runs", type=int, default=10)
    parser.add_argument("--callgrind", type=int, default=1, help="0 skips the callgrind measurement")
    parser.add_argument("--started", type=float, default=time.time(), help="epoch seconds the run began")
    return parser.parse_args()


def measure(args):
    """Runs every measurement in turn; returns the raw data of the run."""
    bare = Server("bare", "bare axum", [args.bare], {})
    bare_h1 = Server("bare_h1", "bare axum without http2", [args.bare_h1], {})
    idle = Server("idle", "#[idle_server]", [args.idle], {"IDLE_TIMEOUT": "1s"})
    seed = Server("seed", "seed design", [args.seed_python, args.seed_app], {"IDLE_TIMEOUT_SECONDS": "1", "POLL_INTERVAL": "1"})
    servers = [bare, idle, seed]
    load_start = loadavg()
    log(f"throughput: {args.rounds} rounds × {args.seconds} s per server")
    rounds, memory = throughput(servers, args.rounds, args.seconds)
    log(f"cold start: {args.cold_runs} runs per server")
    cold_ms, cold_rss = cold_start([bare, bare_h1, idle, seed], args.cold_runs)
    exit_configs = [
        ("idle", idle, {"IDLE_TIMEOUT": "1s"}),
        ("seed_1s", seed, {"IDLE_TIMEOUT_SECONDS": "1", "POLL_INTERVAL": "1"}),
        ("seed_05s", seed, {"IDLE_TIMEOUT_SECONDS": "1", "POLL_INTERVAL": "0.5"}),
    ]
    log(f"idle-exit lateness: {args.exit_runs} runs per configuration")
    lateness, codes, exit_lines = exit_lateness(exit_configs, args.exit_runs)
    log(f"in-flight fault: {args.fault_rounds} rounds per configuration")
    fault = in_flight_fault(exit_configs, args.fault_rounds)
    instructions = {}
    if args.callgrind:
        log("instructions per request under callgrind: bare and idle")
        instructions = instructions_per_request([bare, idle])
    hyper = {}
    if args.hyperfine_runs > 0:
        log(f"never-requested servers under hyperfine: {args.hyperfine_runs} runs each")
        commands = [("#[idle_server]", args.idle), ("seed design, poll 1 s", f"{args.seed_python} {args.seed_app}")]
        hyper = hyperfine_never_requested(commands, args.hyperfine_runs)
    return {
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "loadavg": [load_start, loadavg()],
        "elapsed_s": time.time() - args.started,
        "labels": LABELS,
        "descriptions": DESCRIPTIONS,
        "throughput": {"rounds": rounds, "memory": memory, "rounds_n": args.rounds, "seconds": args.seconds},
        "cold_start": {"ms": cold_ms, "rss_kib": cold_rss},
        "exit": {"lateness_ms": lateness, "codes": codes, "exit_lines": exit_lines},
        "fault": fault,
        "hyperfine": hyper,
        "instructions_per_request": instructions,
        "callgrind_counts": list(COUNTS),
        "hyperfine_runs": args.hyperfine_runs,
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
    args = arguments()
    for tool in ("wrk", "hyperfine"):
        if not shutil.which(tool):
            sys.exit(f"driver: {tool} not found on PATH")
    data = measure(args)
    data["figures"] = figures.compute(data)
    report.write(os.path.join(args.out, "RESULTS.md"), data, data["figures"])
    with open(os.path.join(args.out, "results.json"), "w") as out:
        json.dump(data, out, indent=1)
    chart(os.path.join(args.out, "chart.svg"), data)
    print()
    print(open(os.path.join(args.out, "RESULTS.md")).read().split("\n## ")[0])


if __name__ == "__main__":
    main()
