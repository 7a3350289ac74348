"""For the socket-options decision: the latency of a small streamed
response (`GET /events/4`: four events of 12 bytes, the handler yielding
between two, so each goes out in a write of its own), one request at a time
(h2load -c1 -m1), with and without TCP_NODELAY. Without it, Nagle's
algorithm holds each event back until the client has acknowledged the one
before, and the client delays that acknowledgement."""

from .client import wait_200
from .load import h2load
from .servers import free_port, log, stop

PATH = "/events/4"


def event_latency(servers, requests):
    """Returns {protocol: {server key: mean µs per request}}."""
    results = {"h1": {}, "h2": {}}
    for server in servers:
        port = free_port()
        process = server.spawn(port, {"IDLE_TIMEOUT": "10m"})
        try:
            wait_200(process, port)
            for protocol in results:
                result = h2load(port, PATH, requests, 1, 1, h1=protocol == "h1", timeout=120)
                results[protocol][server.key] = result["seconds"] * 1e6 / requests
        finally:
            stop(process)
        log(f"small streamed responses ({PATH}) {server.key}: "
            + ", ".join(f"{p} {v[server.key]:,.0f} µs" for p, v in results.items()) + " per request")
    return results
