"""Throughput and p99 latency under wrk (`wrk -t2 -c50`), one long-lived
server per design; in each round bare and idle back to back, in alternating
order, then the seed design. With each round, the CPU time the server used
per request, and the memory it holds at the end."""

import json
import os
import subprocess

from .client import wait_200
from .servers import HOST, cpu_seconds, free_port, log, rss_kib, stop

WRK_DONE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wrk_done.lua")


def wrk(port, seconds):
    """One wrk run; its figures come from the `done` hook in wrk_done.lua."""
    result = subprocess.run(
        ["wrk", "-t2", "-c50", f"-d{seconds}s", "-s", WRK_DONE, f"http://{HOST}:{port}/"],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    )
    done = json.loads(result.stdout.strip().splitlines()[-1])
    socket_errors = {k: done[k] for k in ("connect", "read", "write", "timeout") if done[k]}
    return {
        "requests": done["requests"],
        "rps": done["requests"] / (done["duration_us"] / 1e6),
        "p99_ms": done["p99_us"] / 1e3,
        "non2xx": done["non2xx"],
        "socket_errors": socket_errors,
    }


def throughput(servers, rounds, seconds):
    """One long-lived server per design, wrk rounds in alternating order.

    Returns ({key: [one wrk result per round]}, {key: {rss_kib, hwm_kib}})."""
    long_env = {"IDLE_TIMEOUT": "10m", "IDLE_TIMEOUT_SECONDS": "600", "POLL_INTERVAL": "600"}
    running = {}
    results = {s.key: [] for s in servers}
    memory = {}
    try:
        for server in servers:
            port = free_port()
            process = server.spawn(port, long_env)
            wait_200(process, port)
            running[server.key] = (process, port)
        for server in servers:  # warm up
            wrk(running[server.key][1], 1)
        for round_ in range(rounds):
            for server in round_order(servers, round_):
                process, port = running[server.key]
                results[server.key].append(measured_round(process, port, seconds))
                log_round(round_, rounds, server.key, results[server.key][-1])
        for server in servers:
            pid = running[server.key][0].pid
            memory[server.key] = {"rss_kib": rss_kib(pid), "hwm_kib": rss_kib(pid, "VmHWM")}
    finally:
        for process, _ in running.values():
            stop(process)
    return results, memory


def round_order(servers, round_):
    """bare and idle back to back, in alternating order (bare first in even
    rounds), then the others: the pair whose ratio is the target is
    measured as close in time as possible, so that a change in other load
    on the machine between rounds hits both alike."""
    pair = [s for s in servers if s.key in ("bare", "idle")]
    if round_ % 2:
        pair.reverse()
    return pair + [s for s in servers if s.key not in ("bare", "idle")]


def measured_round(process, port, seconds):
    """One wrk run, with the server's CPU time per request during it."""
    cpu_before = cpu_seconds(process.pid)
    result = wrk(port, seconds)
    result["server_cpu_us_per_request"] = (
        (cpu_seconds(process.pid) - cpu_before) * 1e6 / max(1, result["requests"])
    )
    return result


def log_round(round_, rounds, key, result):
    log(
        f"throughput round {round_ + 1}/{rounds} {key:5}: "
        f"{result['rps']:10.0f} req/s  p99 {result['p99_ms']:7.2f} ms  "
        f"server CPU {result['server_cpu_us_per_request']:6.2f} µs/request"
    )
