"""Idle-exit lateness: how long after `last response + timeout` each server
has exited, and with which exit status. The last request falls at a random
phase of the seed design's polling."""

import random
import time

from .client import get, wait_200
from .servers import TIMEOUT_S, free_port, log, rotate, stderr_of, wait_exit


def exit_lateness(configs, runs, seed=4):
    """Time from the last response to process exit, minus the timeout.

    configs: [(key, server, env)]. After the readiness request, the client
    keeps the server busy with a request every 0.25 s for a random 0-1.2 s
    (so that the last request falls at a random phase of the seed design's
    polling), sends the last request, and waits for the process to exit.

    Returns ({key: [ms late]}, {key: [exit status]}, {key: last "exiting" line})."""
    rng = random.Random(seed)
    lateness = {key: [] for key, _, _ in configs}
    codes = {key: [] for key, _, _ in configs}
    exit_lines = {}
    for run in range(runs):
        for key, server, env in rotate(configs, run):
            port = free_port()
            process = server.spawn(port, env)
            try:
                last, exited = run_until_exit(key, process, port, rng.uniform(0.0, 1.2))
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            lateness[key].append((exited - last - TIMEOUT_S) * 1e3)
            codes[key].append(process.returncode)
            lines = [line for line in stderr_of(process).splitlines() if "exiting" in line]
            if lines:
                exit_lines[key] = lines[-1]
            process.log.close()
        log(
            f"exit lateness {run + 1}/{runs}: "
            + ", ".join(f"{k} {v[-1]:+.1f} ms" for k, v in lateness.items())
        )
    return lateness, codes, exit_lines


def run_until_exit(key, process, port, busy_s):
    """Keeps the server busy for busy_s, then sends the last request and waits
    for the exit. Returns perf_counter() at the last response and at the exit."""
    wait_200(process, port)
    busy_until = time.perf_counter() + busy_s
    for _ in range(10):
        if time.perf_counter() >= busy_until:
            break
        time.sleep(min(0.25, max(0.0, busy_until - time.perf_counter())))
        if get(port) != 200:
            raise RuntimeError(f"{key}: request failed while busy")
    if get(port) != 200:
        raise RuntimeError(f"{key}: last request failed")
    last = time.perf_counter()
    wait_exit(process, TIMEOUT_S + 10)
    return last, time.perf_counter()
