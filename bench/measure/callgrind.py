"""User-space instructions per request, counted by valgrind's callgrind:
deterministic, so unlike wrk's throughput it is not moved by other load on
the machine. Each server runs twice under callgrind, serving a small and a
large number of requests over 4 keep-alive connections; the difference of
the two totals divided by the difference of the counts is the cost of one
request, with startup and shutdown cancelled out.

Both servers run with one tokio worker (TOKIO_WORKER_THREADS=1; callgrind
runs one thread at a time anyway). With two workers, which of them picks up
a request, parks or steals depends on timing, and the figure of one binary
swung by ±140 instructions from run to run; with one it stays within ±25.
The code paths of a request are the same either way."""

import re
import signal
import tempfile

from .client import keep_alive_requests, wait_200
from .servers import Server, free_port, log, stop, wait_exit


COUNTS = (1000, 6000)  # requests served in the two runs of each server


def instructions_per_request(servers, counts=COUNTS):
    """Returns {key: instructions per request}."""
    totals = {s.key: {} for s in servers}
    for count in counts:
        for server in servers:
            totals[server.key][count] = total_instructions(server, count)
        log(f"callgrind: {count} requests: " + ", ".join(f"{k} {v[count]:,} instructions" for k, v in totals.items()))
    low, high = counts
    return {k: (v[high] - v[low]) / (high - low) for k, v in totals.items()}


def total_instructions(server, count):
    """Instructions the server executes, start to exit, serving count requests."""
    with tempfile.NamedTemporaryFile(suffix=".callgrind") as out:
        wrapped = Server(
            server.key,
            server.label,
            ["valgrind", "--tool=callgrind", "--fair-sched=yes", f"--callgrind-out-file={out.name}"]
            + server.argv,
            server.env,
        )
        port = free_port()
        process = wrapped.spawn(port, {"IDLE_TIMEOUT": "10m", "TOKIO_WORKER_THREADS": "1"})
        try:
            wait_200(process, port, limit_s=60)
            keep_alive_requests(port, count)
            process.send_signal(signal.SIGINT)
            wait_exit(process, 60)
        finally:
            stop(process)
        text = open(out.name).read()
    match = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
    return int(match.group(1))
