"""Cold start: spawn → first 200 response (connect + GET polling), and the
server's VmRSS right after that response. Every run starts each server once,
in an order rotated from run to run, after warm-up runs that are not kept."""

import statistics
import time

from .client import wait_200
from .servers import free_port, log, rotate, rss_kib, stop


def cold_start(servers, runs, warmup=2):
    """Returns ({key: [ms per run]}, {key: [VmRSS KiB per run]})."""
    times = {s.key: [] for s in servers}
    rss = {s.key: [] for s in servers}
    for run in range(-warmup, runs):
        for server in rotate(servers, run):
            port = free_port()
            start = time.perf_counter()
            process = server.spawn(port)
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
