"""The in-flight fault: client A sends a request longer than the idle
timeout; client B sends a request on a new connection while A is still
running. A design that counts only request starts shuts down under A and
refuses B; ours serves both."""

import threading
import time

from .client import describe, get, wait_200
from .servers import TIMEOUT_S, free_port, log, rotate, wait_exit


def in_flight_fault(configs, rounds, slow_ms=3000, second_at_s=2.2):
    """A request longer than the timeout (A), and a second client (B) that
    sends a request on a new connection second_at_s after A started.

    configs: [(key, server, env)]. Returns {key: [{"a": outcome, "b": outcome}]},
    an outcome being the status code as a string or what went wrong."""
    outcomes = {key: [] for key, _, _ in configs}
    for round_ in range(rounds):
        for key, server, env in rotate(configs, round_):
            port = free_port()
            process = server.spawn(port, env)
            try:
                result = one_round(process, port, slow_ms, second_at_s)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                process.log.close()
            outcomes[key].append(result)
            log(f"in-flight round {round_ + 1}/{rounds} {key}: slow request {result['a']}, second request {result['b']}")
    return outcomes


def one_round(process, port, slow_ms, second_at_s):
    result = {}
    wait_200(process, port)
    started = time.perf_counter()

    def slow():
        try:
            result["a"] = str(get(port, f"/slow/{slow_ms}", timeout=slow_ms / 1e3 + 10))
        except OSError as error:
            result["a"] = describe(error)

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(max(0.0, started + second_at_s - time.perf_counter()))
    try:
        result["b"] = str(get(port, "/", timeout=5))
    except OSError as error:
        result["b"] = describe(error)
    thread.join(timeout=slow_ms / 1e3 + 15)
    wait_exit(process, slow_ms / 1e3 + TIMEOUT_S + 10)
    return result
