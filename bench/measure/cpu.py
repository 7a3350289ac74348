"""Server CPU time per request, natively: user + system time from
/proc/<pid>/stat over REQUESTS `GET /` sent by h2load, one tokio worker per
server (TOKIO_WORKER_THREADS=1). One long-lived process per server; every
round measures each server back to back, in an order rotated from round to
round, so that a change in other load between rounds hits all alike; the
figure is the median over rounds, the ratio the median of per-round ratios."""

from .client import wait_200
from .load import h2load
from .servers import cpu_seconds, free_port, log, rotate, stop

REQUESTS = 100_000
PROTOCOLS = {
    # key: (label, h2load arguments)
    "h1": ("HTTP/1.1 GET `/` (h2load --h1 -c4 -m1)", {"clients": 4, "streams": 1, "h1": True}),
    "h2": ("HTTP/2 GET `/` (h2load -c4 -m10)", {"clients": 4, "streams": 10, "h1": False}),
}


def cpu_per_request(servers, rounds, requests=REQUESTS):
    """Returns {protocol: {server key: [one h2load result + "cpu_us" per round]}}."""
    running = {}
    results = {p: {s.key: [] for s in servers} for p in PROTOCOLS}
    try:
        for server in servers:
            port = free_port()
            process = server.spawn(port, {"IDLE_TIMEOUT": "10m", "TOKIO_WORKER_THREADS": "1"})
            wait_200(process, port)
            running[server.key] = (process, port)
        for server in servers:  # warm up
            for args in (a for _, a in PROTOCOLS.values()):
                h2load(running[server.key][1], "/", requests // 10, **args)
        for round_ in range(rounds):
            for protocol, (_, args) in PROTOCOLS.items():
                for server in rotate(servers, round_):
                    process, port = running[server.key]
                    before = cpu_seconds(process.pid)
                    result = h2load(port, "/", requests, **args)
                    result["cpu_us"] = (cpu_seconds(process.pid) - before) * 1e6 / requests
                    results[protocol][server.key].append(result)
                log(f"CPU round {round_ + 1}/{rounds} {protocol}: "
                    + ", ".join(f"{k} {v[-1]['cpu_us']:.2f} µs" for k, v in results[protocol].items())
                    + " per request")
    finally:
        for process, _ in running.values():
            stop(process)
    return results
