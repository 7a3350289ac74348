"""Cold start: exec → first 200 response, and the server's VmRSS right after
that response.

Each run starts every server once, back to back, in an order rotated from run
to run, after warm-up runs that are not kept; so a run's servers meet the
same load from other processes, and report.py compares them run by run.

The clock starts when subprocess.Popen returns, which it does once the child
has exec'd (Popen waits for the exec on a close-on-exec pipe). Python's own
fork and Popen bookkeeping (about 0.3 ms on a 2-core VM, the same for every
server) is therefore not counted: counted, it added a constant that pulled
the ratio of two servers towards 1. The other way round, when other load
keeps both cores busy, Python may run again only a while after the exec, and
that run reads short (0.5-0.9 ms where most read 1.5-2 ms); the medians and
the per-run ratio are not moved by a few such runs. The first 200 is found
by polling with connect + `GET /` every 0.2 ms (about 0.3 ms per attempt with
Python's overhead); the polling error is the same for every server and
averages out over the runs."""

import statistics
import time

from .client import wait_200
from .servers import free_port, log, rotate, rss_kib, stop


def cold_start(servers, runs, warmup=2):
    """Returns ({key: [ms per run]}, {key: [VmRSS KiB per run]}); the i-th
    value of every server comes from the same run."""
    times = {s.key: [] for s in servers}
    rss = {s.key: [] for s in servers}
    for run in range(-warmup, runs):
        for server in rotate(servers, run):
            port = free_port()
            process = server.spawn(port)
            start = time.perf_counter()  # the exec has succeeded
            try:
                ready = wait_200(process, port)
                memory = rss_kib(process.pid)
            finally:
                stop(process)
            if run >= 0:
                times[server.key].append((ready - start) * 1e3)
                rss[server.key].append(memory)
        if run >= 0 and (run + 1) % 5 == 0:
            log(
                f"cold start {run + 1}/{runs}: "
                + ", ".join(f"{k} {statistics.median(v):.2f} ms" for k, v in times.items())
            )
    return times, rss
