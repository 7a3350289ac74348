"""The load generators of the matrix: h2load (nghttp2's benchmarking client,
HTTP/1.1 with `--h1`, HTTP/2 with prior knowledge otherwise) and the
subcommands of bench-client (bench/client.rs). Each runs to completion and
raises if any request failed, so that a figure never counts a server that
answered nothing."""

import re
import subprocess

from .servers import HOST

# Set by driver.py: the bench-client binary.
CLIENT = {"path": None}


def h2load(port, path, n, clients, streams, h1=False, timeout=600):
    """Sends n requests `GET path`; returns h2load's figures:
    {"seconds", "rps", "mean_request_us"}."""
    argv = ["h2load", "-n", str(n), "-c", str(clients), "-m", str(streams)]
    if h1:
        argv.append("--h1")
    argv.append(f"http://{HOST}:{port}{path}")
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    out = result.stdout
    done = re.search(r"requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed", out)
    status = re.search(r"status codes: (\d+) 2xx", out)
    if result.returncode != 0 or not done or int(done.group(2)) != n or not status or int(status.group(1)) != n:
        raise RuntimeError(f"h2load {' '.join(argv[1:])} failed:\n{out}\n{result.stderr}")
    finished = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", out)
    seconds = float(finished.group(1)) / (1000 if finished.group(2) == "ms" else 1)
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 1, "ms": 1e3, "s": 1e6}
    return {
        "seconds": seconds,
        "rps": float(finished.group(3)),
        "mean_request_us": float(mean.group(1)) * scale[mean.group(2)] if mean else None,
    }


def client(*args, timeout=600):
    """Runs bench-client with args; returns its stdout."""
    argv = [CLIENT["path"], *map(str, args)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout
