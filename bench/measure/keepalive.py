"""RSS per idle keep-alive connection: the server's VmRSS before and while
CONNECTIONS connections are open, each having had one `GET /` answered and
now idle, divided by CONNECTIONS. bench-client holds the connections (the
shell that runs this raises the file-descriptor limit for both processes)."""

import subprocess
import time

from .client import wait_200
from .load import CLIENT
from .servers import free_port, log, rotate, rss_kib, stop

CONNECTIONS = 5000


def rss_per_connection(servers, rounds, connections=CONNECTIONS):
    """Returns {server key: [bytes per connection, one per round]}."""
    results = {s.key: [] for s in servers}
    for round_ in range(rounds):
        for server in rotate(servers, round_):
            results[server.key].append(one_round(server, connections))
        log(f"keep-alive RSS round {round_ + 1}/{rounds}: "
            + ", ".join(f"{k} {v[-1]:,.0f} B/connection" for k, v in results.items()))
    return results


def one_round(server, connections):
    port = free_port()
    process = server.spawn(port, {"IDLE_TIMEOUT": "10m", "TOKIO_WORKER_THREADS": "1"})
    try:
        wait_200(process, port)
        hold(port, 100)  # warm up: the first connections' one-off allocations
        before = settled_rss(process.pid)
        holder = subprocess.Popen(
            [CLIENT["path"], "hold", str(port), str(connections)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            line = holder.stdout.readline()
            if line.strip() != f"open {connections}":
                raise RuntimeError(f"bench-client hold: {line!r} {holder.stderr.read()}")
            during = settled_rss(process.pid)
        finally:
            holder.stdin.close()
            holder.wait(timeout=60)
    finally:
        stop(process)
    return (during - before) * 1024 / connections


def hold(port, connections):
    holder = subprocess.run(
        [CLIENT["path"], "hold", str(port), str(connections)],
        input="", capture_output=True, text=True, timeout=60,
    )
    if holder.returncode != 0:
        raise RuntimeError(f"bench-client hold: {holder.stderr}")


def settled_rss(pid, limit_s=5.0):
    """VmRSS once two readings 50 ms apart agree (the server may still be
    finishing the last responses), at most limit_s."""
    deadline = time.monotonic() + limit_s
    last = rss_kib(pid)
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = rss_kib(pid)
        if now == last:
            return now
        last = now
    return last
