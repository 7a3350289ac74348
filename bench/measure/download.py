"""A flow-controlled HTTP/2 download: bench-client asks for a buffered body
over HTTP/2 with the protocol's default 65,535-byte windows (stream and
connection) and reads one frame every 3 ms, as a slow client on a slow link
would; the time from request to last byte. One long-lived process per
server; rounds alternate which server goes first. A download that has not
finished after the time limit, or that failed, counts as the limit (a lower
bound)."""

import json
import subprocess

from .client import wait_200
from .load import client
from .servers import free_port, log, rotate, stop

SIZES = {"1m": 1 << 20, "20m": 20_000_000}


def downloads(servers, rounds, limit_s):
    """rounds: {size key: rounds}. Returns {size key: {server key: [{seconds, complete}]}}."""
    running = {}
    results = {size: {s.key: [] for s in servers} for size in rounds}
    try:
        for server in servers:
            port = free_port()
            process = server.spawn(port, {"IDLE_TIMEOUT": "10m"})
            wait_200(process, port)
            running[server.key] = (process, port)
        for size, n in rounds.items():
            for round_ in range(n):
                for server in rotate(servers, round_):
                    port = running[server.key][1]
                    try:
                        out = client("download", port, SIZES[size], limit_s, timeout=limit_s + 30)
                        result = json.loads(out.strip().splitlines()[-1])
                    except (RuntimeError, subprocess.SubprocessError) as error:
                        # A download the server broke counts as unfinished.
                        result = {"seconds": limit_s, "received": 0, "complete": False, "error": str(error)[:500]}
                    results[size][server.key].append(result)
                log(f"download {size} round {round_ + 1}/{n}: " + ", ".join(
                    f"{k} {v[-1]['seconds']:.2f} s{'' if v[-1]['complete'] else ' (not finished)'}"
                    for k, v in results[size].items()))
    finally:
        for process, _ in running.values():
            stop(process)
    return results
