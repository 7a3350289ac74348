"""Instructions per unit of work under valgrind's callgrind, for every row
of the matrix: deterministic, so other load on the machine does not move
them, as it moves throughput and CPU time.

Each server runs twice per row under callgrind, with one tokio worker
(TOKIO_WORKER_THREADS=1: callgrind runs one thread at a time anyway, and
with two workers which of them picks up a request, parks or steals depends
on timing), serving N1 and then N2 units of the row's work after one `GET /`
that says it is up; the difference of the two totals divided by N2 − N1 is
the cost of one unit, with startup, connection setup and shutdown cancelled
out. The output of both runs is kept (target/bench/callgrind/ROW.SERVER.N.out,
of the last pair for repeated rows) for `callgrind_annotate` and
bench/annotate.py."""

import glob
import os
import re
import signal
import statistics
import subprocess

from .client import wait_200
from .load import client, h2load
from .servers import Server, free_port, log, stop, wait_exit

MIB = 1 << 20


class Row:
    """One row: what a unit of work is and how the load sends N of them.

    repeat: how many times the pair of runs is made, the figure being the
    median: a new connection per request depends more on timing than
    keep-alive traffic (whether the client's FIN is already there when the
    server reads again, how often the worker parks). bench-client waits for
    the server's close before it opens the next connection; when it did not,
    one connection's end overlapped the next one's start and the figure swung
    by up to 20% from one pair of runs to the next; now by about 1%."""

    def __init__(self, key, label, counts, load, command, repeat=1):
        self.key, self.label, self.counts, self.load, self.command = key, label, counts, load, command
        self.repeat = repeat


ROWS = [
    Row("h1_get", "HTTP/1.1 GET `/`", (1000, 6000),
        lambda port, n: h2load(port, "/", n, 4, 1, h1=True), "h2load --h1 -c4 -m1 /"),
    Row("h2_get", "HTTP/2 GET `/`", (1000, 6000),
        lambda port, n: h2load(port, "/", n, 4, 10), "h2load -c4 -m10 /"),
    Row("h2_body", "HTTP/2, a 1 MiB buffered body (`Bytes`)", (100, 600),
        lambda port, n: h2load(port, f"/bytes/{MIB}", n, 1, 1), f"h2load -c1 -m1 /bytes/{MIB}"),
    Row("h1_body", "HTTP/1.1, a 1 MiB buffered body", (200, 1200),
        lambda port, n: h2load(port, f"/bytes/{MIB}", n, 1, 1, h1=True), f"h2load --h1 -c1 -m1 /bytes/{MIB}"),
    Row("h1_stream", "HTTP/1.1, a streamed body of 256 × 4 KiB", (100, 600),
        lambda port, n: h2load(port, "/stream/256/4096", n, 1, 1, h1=True), "h2load --h1 -c1 -m1 /stream/256/4096"),
    Row("h2_stream", "HTTP/2, the same streamed body", (40, 240),
        lambda port, n: h2load(port, "/stream/256/4096", n, 1, 1), "h2load -c1 -m1 /stream/256/4096"),
    Row("ws", "WebSocket echo, per 16-byte message", (500, 3000),
        lambda port, n: client("ws", port, n), "bench-client ws (one connection, one message at a time)"),
    Row("new_conn", "a new connection per request (HTTP/1.1 `GET /`; the client closes first)", (500, 3000),
        lambda port, n: client("connections", port, n), "bench-client connections (one after another)", repeat=3),
    Row("new_conn_close", "a new connection per request, `Connection: close` (the server closes)", (500, 3000),
        lambda port, n: client("connections-close", port, n), "bench-client connections-close", repeat=3),
]
QUICK_COUNTS = {"h2_stream": (5, 25), "h2_body": (10, 60)}


def instructions(servers, rows, out_dir, quick=False):
    """Returns {row key: {"per_unit": {server key: instructions}, "repeats": …, "counts": …}}."""
    os.makedirs(out_dir, exist_ok=True)
    results = {}
    for row in rows:
        counts = row.counts
        if quick:
            counts = QUICK_COUNTS.get(row.key, (counts[0] // 10, counts[1] // 10))
        low, high = counts
        # Only this run's files, so that bench/annotate.py finds the right two.
        for old in glob.glob(os.path.join(out_dir, f"{row.key}.*.out")):
            os.remove(old)
        repeats = {s.key: [] for s in servers}
        try:
            for _ in range(row.repeat):
                totals = {s.key: {} for s in servers}
                for count in counts:
                    for server in servers:
                        path = os.path.join(out_dir, f"{row.key}.{server.key}.{count}.out")
                        totals[server.key][count] = total_instructions(server, row, count, path)
                for key, total in totals.items():
                    repeats[key].append((total[high] - total[low]) / (high - low))
        except (RuntimeError, OSError, subprocess.SubprocessError) as error:
            # A server that fails a row fails that row, not the whole run.
            results[row.key] = {"error": str(error).strip()[-2000:], "counts": list(counts)}
            log(f"callgrind {row.key}: FAILED: {str(error).strip()[:500]}")
            continue
        per_unit = {k: statistics.median(v) for k, v in repeats.items()}
        results[row.key] = {"per_unit": per_unit, "repeats": repeats, "counts": list(counts)}
        log(f"callgrind {row.key}: " + ", ".join(f"{k} {v:,.0f}" for k, v in per_unit.items())
            + f" instructions per unit ({high} − {low} units"
            + (f", median of {row.repeat} pairs of runs)" if row.repeat > 1 else ")"))
    return results


def total_instructions(server, row, count, out_path):
    """Instructions the server executes, start to exit, serving count units."""
    wrapped = Server(
        server.key,
        server.label,
        ["valgrind", "--tool=callgrind", "--fair-sched=yes", f"--callgrind-out-file={out_path}"] + server.argv,
        server.env,
    )
    port = free_port()
    process = wrapped.spawn(port, {"IDLE_TIMEOUT": "10m", "TOKIO_WORKER_THREADS": "1"})
    try:
        wait_200(process, port, limit_s=60)
        row.load(port, count)
        process.send_signal(signal.SIGINT)
        wait_exit(process, 60)
    finally:
        stop(process)
    with open(out_path) as out:
        match = re.search(r"^(?:summary|totals): (\d+)", out.read(), re.M)
    if not match:
        raise RuntimeError(f"no totals in {out_path}")
    return int(match.group(1))
