"""Benchmark driver for bench/run.sh: measures the three servers side by side
in one run and writes bench/RESULTS.md, bench/results.json and
bench/chart.svg.

Servers (the same two routes each, see bench/router.rs):
  bare  - plain axum::serve, no idle tracking       (bench-bare example)
  idle  - #[idle_server]                            (bench-idle example)
  seed  - the seed design: FastAPI + uvicorn, a middleware that records the
          last request start and a task polling every POLL_INTERVAL s that
          SIGTERMs its own process                  (bench/seed_app.py)

Everything talks to 127.0.0.1 only, on free ports; every loop is bounded.
Standard library only, apart from wrk and hyperfine on PATH.
"""

import argparse
import datetime
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import svgchart

HOST = "127.0.0.1"
TIMEOUT_S = 1.0  # the idle timeout for the exit and fault measurements


# ---------------------------------------------------------------- servers


class Server:
    """How to start one design; env gets PORT added per spawn."""

    def __init__(self, key, label, argv, env):
        self.key, self.label, self.argv, self.env = key, label, argv, env

    def spawn(self, port, extra_env=None):
        env = dict(os.environ)
        env.update(self.env)
        env.update(extra_env or {})
        env["PORT"] = str(port)
        log = tempfile.TemporaryFile()
        process = subprocess.Popen(
            self.argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        process.log = log
        return process


def stderr_of(process):
    process.log.seek(0)
    return process.log.read().decode(errors="replace")


def stop(process):
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)
    process.log.close()


def wait_exit(process, limit_s):
    """Blocks in waitpid until the process exits, killing it after limit_s.

    (Popen.wait with a timeout polls with sleeps of up to 50 ms, which would
    blur the exit times measured here.)"""
    timer = threading.Timer(limit_s, process.kill)
    timer.start()
    try:
        process.wait()
    finally:
        timer.cancel()


def free_port():
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- HTTP


def get(port, path="/", timeout=10.0):
    """One GET on a new connection (Connection: close). Returns the status
    code, having read the whole response; raises OSError on failure."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n\r\n".encode()
        )
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    response = b"".join(chunks)
    match = re.match(rb"HTTP/1\.[01] (\d{3})", response)
    if not match:
        raise OSError(f"malformed response {response[:40]!r}")
    return int(match.group(1))


def wait_200(process, port, limit_s=30.0):
    """Polls connect+GET / until a 200; returns perf_counter() at that 200."""
    deadline = time.perf_counter() + limit_s
    while time.perf_counter() < deadline:
        try:
            if get(port) == 200:
                return time.perf_counter()
        except OSError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"server exited early ({process.returncode}): {stderr_of(process)}")
        time.sleep(0.0002)
    raise RuntimeError(f"no 200 on port {port} within {limit_s}s")


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


# ---------------------------------------------------------------- stats


def summary(values):
    values = sorted(values)
    return {
        "n": len(values),
        "median": statistics.median(values),
        "min": values[0],
        "max": values[-1],
        "p90": values[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))],
        "values": values,
    }


def rotate(items, shift):
    shift %= len(items)
    return items[shift:] + items[:shift]


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---------------------------------------------------------------- measurements


def parse_wrk(output):
    rps = float(re.search(r"Requests/sec:\s*([\d.]+)", output).group(1))
    value, unit = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
    p99_ms = float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
    errors = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", output)
    socket_errors = re.search(r"Socket errors:.*", output)
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    return {
        "requests": requests,
        "rps": rps,
        "p99_ms": p99_ms,
        "non2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(0) if socket_errors else "",
    }


def wrk(port, seconds):
    result = subprocess.run(
        ["wrk", "-t2", "-c50", f"-d{seconds}s", "--latency", f"http://{HOST}:{port}/"],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    )
    return parse_wrk(result.stdout)


def cpu_seconds(pid):
    """User + system CPU time the process has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput(servers, rounds, seconds):
    """One long-lived server per design, wrk rounds in alternating order."""
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
            for server in rotate(servers, round_):
                process, port = running[server.key]
                cpu_before = cpu_seconds(process.pid)
                result = wrk(port, seconds)
                result["server_cpu_us_per_request"] = (
                    (cpu_seconds(process.pid) - cpu_before) * 1e6 / max(1, result["requests"])
                )
                results[server.key].append(result)
                log(
                    f"throughput round {round_ + 1}/{rounds} {server.key:5}: "
                    f"{result['rps']:10.0f} req/s  p99 {result['p99_ms']:7.2f} ms  "
                    f"server CPU {result['server_cpu_us_per_request']:6.2f} µs/request"
                )
        for server in servers:
            pid = running[server.key][0].pid
            memory[server.key] = {"rss_kib": rss_kib(pid), "hwm_kib": rss_kib(pid, "VmHWM")}
    finally:
        for process, _ in running.values():
            stop(process)
    return results, memory


def cold_start(servers, runs, warmup=2):
    """Spawn → first 200 (connect+GET polling), and VmRSS right after it."""
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


def exit_lateness(configs, runs, seed=4):
    """Time from the last response to process exit, minus the timeout.

    After the readiness request, the client keeps the server busy with a
    request every 0.25 s for a random 0-1.2 s (so that the last request falls
    at a random phase of the seed design's polling), sends the last request,
    and waits for the process to exit."""
    rng = random.Random(seed)
    lateness = {key: [] for key, _, _ in configs}
    codes = {key: [] for key, _, _ in configs}
    exit_lines = {}
    for run in range(runs):
        for key, server, env in rotate(configs, run):
            port = free_port()
            process = server.spawn(port, env)
            try:
                wait_200(process, port)
                busy_until = time.perf_counter() + rng.uniform(0.0, 1.2)
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
                exited = time.perf_counter()
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


def in_flight_fault(configs, rounds, slow_ms=3000, second_at_s=2.2):
    """A request longer than the timeout (A), and a second client (B) that
    sends a request on a new connection second_at_s after A started."""
    outcomes = {key: [] for key, _, _ in configs}
    for round_ in range(rounds):
        for key, server, env in rotate(configs, round_):
            port = free_port()
            process = server.spawn(port, env)
            result = {}
            try:
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
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                process.log.close()
            outcomes[key].append(result)
            log(f"in-flight round {round_ + 1}/{rounds} {key}: slow request {result['a']}, second request {result['b']}")
    return outcomes


def describe(error):
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, ConnectionResetError):
        return "connection reset"
    if isinstance(error, socket.timeout):
        return "timed out"
    return type(error).__name__


def keep_alive_requests(port, count, connections=4):
    """count sequential GET / spread over keep-alive connections."""
    import http.client

    clients = [http.client.HTTPConnection(HOST, port, timeout=30) for _ in range(connections)]
    try:
        for i in range(count):
            client = clients[i % connections]
            client.request("GET", "/")
            response = client.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"status {response.status}")
    finally:
        for client in clients:
            client.close()


def instructions_per_request(servers, counts=(1000, 6000)):
    """User-space instructions per request under callgrind: the difference
    between a run serving counts[1] requests and one serving counts[0],
    divided by the difference. Deterministic, so unaffected by other load
    on the machine (unlike throughput)."""
    totals = {s.key: {} for s in servers}
    for count in counts:
        for server in servers:
            with tempfile.NamedTemporaryFile(suffix=".callgrind") as out:
                wrapped = Server(
                    server.key,
                    server.label,
                    ["valgrind", "--tool=callgrind", "--fair-sched=yes", f"--callgrind-out-file={out.name}"]
                    + server.argv,
                    server.env,
                )
                port = free_port()
                process = wrapped.spawn(port, {"IDLE_TIMEOUT": "10m"})
                try:
                    wait_200(process, port, limit_s=60)
                    keep_alive_requests(port, count)
                    process.send_signal(signal.SIGINT)
                    wait_exit(process, 60)
                finally:
                    stop(process)
                text = open(out.name).read()
            match = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
            totals[server.key][count] = int(match.group(1))
        log(f"callgrind: {count} requests: " + ", ".join(f"{k} {v[count]:,} instructions" for k, v in totals.items()))
    low, high = counts
    return {k: (v[high] - v[low]) / (high - low) for k, v in totals.items()}


def hyperfine_never_requested(commands, runs):
    """exec → exit of a server that never gets a request, timeout 1 s."""
    with tempfile.NamedTemporaryFile(suffix=".json") as export:
        argv = ["hyperfine", "-N", "-i", "--style", "basic", "--warmup", "1", "--runs", str(runs)]
        argv += ["--export-json", export.name]
        for name, command in commands:
            argv += ["-n", name, command]
        env = dict(os.environ)
        env.update({"PORT": "0", "IDLE_TIMEOUT": "1s", "IDLE_TIMEOUT_SECONDS": "1", "POLL_INTERVAL": "1"})
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"hyperfine failed: {result.stderr}")
        data = json.load(open(export.name))
    return {
        r["command"]: {
            "median_ms": r["median"] * 1e3,
            "min_ms": r["min"] * 1e3,
            "max_ms": r["max"] * 1e3,
        }
        for r in data["results"]
    }


# ---------------------------------------------------------------- report


def machine():
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        rustc = "rustc ?"
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "rustc": rustc,
        "python": platform.python_version(),
        "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0].strip(),
    }


def fmt_ms(value):
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"


def fmt_range(s):
    return f"{fmt_ms(s['median'])} ms ({fmt_ms(s['min'])}–{fmt_ms(s['max'])})"


def verdict(ok):
    return "met" if ok else "**missed**"


def write_report(path, data):
    m, t, c, e, f = data["machine"], data["throughput"], data["cold_start"], data["exit"], data["fault"]
    rps = {k: statistics.median(r["rps"] for r in v) for k, v in t["rounds"].items()}
    p99 = {k: statistics.median(r["p99_ms"] for r in v) for k, v in t["rounds"].items()}
    round_ratios = [
        i["rps"] / b["rps"] for i, b in zip(t["rounds"]["idle"], t["rounds"]["bare"])
    ]
    tp_ratio = rps["idle"] / rps["bare"]
    paired_ratio = statistics.median(round_ratios)
    cpu = {k: statistics.median(r["server_cpu_us_per_request"] for r in v) for k, v in t["rounds"].items()}
    cold = {k: summary(v) for k, v in c["ms"].items()}
    cold_ratio = cold["idle"]["median"] / cold["bare"]["median"]
    rss = {k: statistics.median(v) / 1024 for k, v in c["rss_kib"].items()}
    rss_delta = rss["idle"] - rss["bare"]
    late = {k: summary(v) for k, v in e["lateness_ms"].items()}
    labels = data["labels"]
    lines = []
    add = lines.append
    add("# Benchmark results")
    add("")
    add(
        f"{data['date']} · {m['cores']} cores ({m['cpu']}), Linux {m['kernel']} · {m['rustc']} · "
        f"Python {m['python']} · {m['wrk']}"
    )
    add("")
    add(
        f"Produced by `bash bench/run.sh` in {data['elapsed_s']:.0f} s (1-minute load average "
        f"{data['loadavg'][0]} before the measurements, {data['loadavg'][1]} after); "
        "every figure below comes from that one run,"
    )
    add("the servers measured alternately. Raw numbers: `bench/results.json`; chart: `bench/chart.svg`.")
    if max(float(x) for x in data["loadavg"]) > 0.7:
        add("")
        add(
            "**Other processes were using the CPU during this run** (load average above): wrk's throughput "
            "and p99 swing between rounds by more than the difference being measured, so read the "
            "throughput ratio together with the CPU-time and callgrind rows, which depend far less on "
            "other load."
        )
    add("")
    add("Servers, all serving the same router (`GET /` → `hello`, `GET /slow/{ms}`), all on 127.0.0.1:")
    add("")
    for key in ("bare", "idle", "seed"):
        add(f"- **{labels[key]}**: {data['descriptions'][key]}")
    add("")
    add("| measurement | bare axum | `#[idle_server]` | seed design | idle / bare | target | |")
    add("|---|---:|---:|---:|---:|---|---|")
    add(
        f"| throughput, `wrk -t2 -c50 -d{t['seconds']}s`, median of {t['rounds_n']} rounds | "
        f"{rps['bare']:,.0f} req/s | {rps['idle']:,.0f} req/s | {rps['seed']:,.0f} req/s | "
        f"{tp_ratio:.1%} (per round: median {paired_ratio:.1%}, {min(round_ratios):.1%}–{max(round_ratios):.1%}) "
        f"| ≥ 97% | {verdict(tp_ratio >= 0.97 and paired_ratio >= 0.97)} |"
    )
    add(
        f"| server CPU time per request under that load (median of rounds) | {cpu['bare']:.2f} µs | "
        f"{cpu['idle']:.2f} µs | {cpu['seed']:.0f} µs | {cpu['idle'] / cpu['bare']:.1%} | | |"
    )
    add(
        f"| p99 latency under that load | {p99['bare']:.2f} ms | {p99['idle']:.2f} ms | {p99['seed']:.2f} ms | "
        f"{p99['idle'] / p99['bare']:.2f}× | | |"
    )
    add(
        f"| cold start, spawn → first 200, median (min–max) of {cold['bare']['n']} | {fmt_range(cold['bare'])} | "
        f"{fmt_range(cold['idle'])} | {fmt_range(cold['seed'])} | {cold_ratio:.1%} | ≤ 110%, single-digit ms | "
        f"{verdict(cold_ratio <= 1.10 and cold['idle']['median'] < 10)} |"
    )
    add(
        f"| RSS after the first request (VmRSS, median) | {rss['bare']:.1f} MiB | {rss['idle']:.1f} MiB | "
        f"{rss['seed']:.1f} MiB | {rss_delta:+.2f} MiB | within 1 MiB | {verdict(abs(rss_delta) <= 1.0)} |"
    )
    ipr = data.get("instructions_per_request") or {}
    if ipr:
        add(
            f"| user-space instructions per request (callgrind, 4 keep-alive connections) | {ipr['bare']:,.0f} | "
            f"{ipr['idle']:,.0f} | | {ipr['idle'] / ipr['bare']:.1%} (+{ipr['idle'] - ipr['bare']:,.0f}) | | |"
        )
    hwm = {k: v["hwm_kib"] / 1024 for k, v in t["memory"].items()}
    add(
        f"| peak RSS after the throughput rounds (VmHWM) | {hwm['bare']:.1f} MiB | {hwm['idle']:.1f} MiB | "
        f"{hwm['seed']:.1f} MiB | {hwm['idle'] - hwm['bare']:+.2f} MiB | | |"
    )
    seed1 = late["seed_1s"]
    add(
        f"| idle exit after `last response + 1 s`, median (min–max) of {late['idle']['n']} | never exits | "
        f"{fmt_range(late['idle'])} late | {fmt_range(seed1)} late (poll 1 s) | | ≤ 50 ms | "
        f"{verdict(late['idle']['max'] <= 50)} |"
    )
    fault = {k: fault_counts(v) for k, v in f.items()}
    add(
        f"| slow request (3 s, timeout 1 s) + a second request at 2.2 s: both served | no idle exit | "
        f"{fault['idle']['both']}/{fault['idle']['n']} | {fault['seed_1s']['both']}/{fault['seed_1s']['n']} "
        f"(poll 1 s) | | both, always | {verdict(fault['idle']['both'] == fault['idle']['n'])} |"
    )
    add("")
    add("## Idle-exit lateness")
    add("")
    add(
        "Time from the client receiving the last response to the process having exited, minus the 1 s "
        "timeout. The last request falls at a random moment relative to the seed design's polling."
    )
    add("")
    add("| server | runs | median | p90 | min | max | exit status |")
    add("|---|---:|---:|---:|---:|---:|---|")
    for key, s in late.items():
        codes = sorted(set(e["codes"][key]))
        add(
            f"| {labels[key]} | {s['n']} | {fmt_ms(s['median'])} ms | {fmt_ms(s['p90'])} ms | "
            f"{fmt_ms(s['min'])} ms | {fmt_ms(s['max'])} ms | {', '.join(describe_code(x) for x in codes)} |"
        )
    if "idle" in e["exit_lines"]:
        add("")
        add(f"Last exit line of ours: `{e['exit_lines']['idle']}`")
    if data.get("hyperfine"):
        add("")
        add("A server that never gets a request, exec → exit with a 1 s timeout (`hyperfine -N`, "
            f"{data['hyperfine_runs']} runs):")
        add("")
        add("| server | median | min | max |")
        add("|---|---:|---:|---:|")
        for name, h in data["hyperfine"].items():
            add(f"| {name} | {h['median_ms']:.0f} ms | {h['min_ms']:.0f} ms | {h['max_ms']:.0f} ms |")
    add("")
    add("## In-flight requests")
    add("")
    add(
        "Client A sends `GET /slow/3000` (longer than the 1 s timeout); client B sends `GET /` on a new "
        "connection 2.2 s after A started. The seed design's middleware saw A *start*, so its poller "
        "decides the server is idle while A is still running and sends SIGTERM: uvicorn closes the "
        "listening socket (B is refused) and waits for A. Ours counts A as active until its body is "
        "sent, so it serves both and exits 1 s after A ends."
    )
    add("")
    add("| server | rounds | A (slow) served | B (second) served | B outcomes |")
    add("|---|---:|---:|---:|---|")
    for key, counts in fault.items():
        add(
            f"| {labels[key]} | {counts['n']} | {counts['a']}/{counts['n']} | {counts['b']}/{counts['n']} | "
            f"{', '.join(f'{v}× {k}' for k, v in counts['b_outcomes'].items())} |"
        )
    add("")
    add("## Throughput rounds")
    add("")
    add("| round | " + " | ".join(f"{labels[k]} req/s (p99, server CPU/request)" for k in t["rounds"]) + " | idle / bare |")
    add("|---:|" + "---:|" * (len(t["rounds"]) + 1))
    for i in range(t["rounds_n"]):
        cells = [
            f"{t['rounds'][k][i]['rps']:,.0f} ({t['rounds'][k][i]['p99_ms']:.2f} ms, "
            f"{t['rounds'][k][i]['server_cpu_us_per_request']:.1f} µs CPU)"
            for k in t["rounds"]
        ]
        add(f"| {i + 1} | " + " | ".join(cells) + f" | {round_ratios[i]:.1%} |")
    errors = {k: [r for r in v if r["non2xx"] or r["socket_errors"]] for k, v in t["rounds"].items()}
    if any(errors.values()):
        add("")
        add("wrk reported errors: " + json.dumps({k: v for k, v in errors.items() if v}))
    add("")
    add("## Cold start")
    add("")
    add(
        "Spawn (`subprocess.Popen`) to the first 200 response, polling with connect + `GET /` every 0.2 ms, "
        f"{cold['bare']['n']} runs each after 2 warm-up runs, order rotated each run; `PORT` set to a free port."
    )
    add("")
    add("| server | median | p90 | min | max | RSS after the first request |")
    add("|---|---:|---:|---:|---:|---:|")
    for key, s in cold.items():
        add(
            f"| {labels[key]} | {fmt_ms(s['median'])} ms | {fmt_ms(s['p90'])} ms | {fmt_ms(s['min'])} ms | "
            f"{fmt_ms(s['max'])} ms | {rss[key]:.2f} MiB |"
        )
    add("")
    add("![cold start and idle-exit lateness](chart.svg)")
    add("")
    with open(path, "w") as out:
        out.write("\n".join(lines))
    return {
        "throughput_ratio": tp_ratio,
        "throughput_ratio_per_round_median": paired_ratio,
        "server_cpu_us_per_request": cpu,
        "rps": rps,
        "p99": p99,
        "cold": {k: {x: v[x] for x in ("median", "min", "max")} for k, v in cold.items()},
        "cold_ratio": cold_ratio,
        "rss_mib": rss,
        "lateness": {k: {x: v[x] for x in ("median", "min", "max", "p90")} for k, v in late.items()},
        "fault": fault,
        "instructions_per_request": ipr,
    }


def describe_code(code):
    if code is None:
        return "?"
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit {code}"


def fault_counts(results):
    outcomes = {}
    for r in results:
        if r["b"] != "200":
            outcomes[r["b"]] = outcomes.get(r["b"], 0) + 1
    served_b = sum(r["b"] == "200" for r in results)
    if served_b:
        outcomes = {"200": served_b, **outcomes}
    return {
        "n": len(results),
        "a": sum(r["a"] == "200" for r in results),
        "b": served_b,
        "both": sum(r["a"] == "200" and r["b"] == "200" for r in results),
        "b_outcomes": outcomes,
    }


# ---------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bare", required=True)
    parser.add_argument("--idle", required=True)
    parser.add_argument("--seed-python", required=True)
    parser.add_argument("--seed-app", required=True)
    parser.add_argument("--out", required=True, help="directory for RESULTS.md, results.json, chart.svg")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--cold-runs", type=int, default=25)
    parser.add_argument("--exit-runs", type=int, default=12)
    parser.add_argument("--fault-rounds", type=int, default=3)
    parser.add_argument("--hyperfine-runs", type=int, default=10)
    parser.add_argument("--callgrind", type=int, default=1, help="0 skips the callgrind measurement")
    parser.add_argument("--started", type=float, default=time.time(), help="epoch seconds the run began")
    args = parser.parse_args()
    for tool in ("wrk", "hyperfine"):
        if not shutil.which(tool):
            sys.exit(f"driver: {tool} not found on PATH")

    bare = Server("bare", "bare axum", [args.bare], {})
    idle = Server("idle", "#[idle_server]", [args.idle], {"IDLE_TIMEOUT": "1s"})
    seed = Server(
        "seed",
        "seed design",
        [args.seed_python, args.seed_app],
        {"IDLE_TIMEOUT_SECONDS": "1", "POLL_INTERVAL": "1"},
    )
    servers = [bare, idle, seed]
    labels = {
        "bare": "bare axum",
        "idle": "`#[idle_server]`",
        "seed": "seed design",
        "seed_1s": "seed design, poll 1 s",
        "seed_05s": "seed design, poll 0.5 s",
    }
    descriptions = {
        "bare": "`axum::serve` with no idle tracking (`bench/bare.rs`, release build); it never exits by itself",
        "idle": "`#[idle_server(timeout = \"1s\")]` (`bench/idle.rs`, release build)",
        "seed": "the hand-written design `idle` replaces: FastAPI + uvicorn (uvloop, httptools, pinned in "
        "`bench/requirements.txt`), a middleware storing the time the last request started and a task "
        "that polls every `POLL_INTERVAL` s and sends SIGTERM to its own process (`bench/seed_app.py`)",
    }

    load_start = open("/proc/loadavg").read().split()[0]
    log(f"throughput: {args.rounds} rounds × {args.seconds} s per server")
    rounds, memory = throughput(servers, args.rounds, args.seconds)
    log(f"cold start: {args.cold_runs} runs per server")
    cold_ms, cold_rss = cold_start(servers, args.cold_runs)
    exit_configs = [
        ("idle", idle, {"IDLE_TIMEOUT": "1s"}),
        ("seed_1s", seed, {"IDLE_TIMEOUT_SECONDS": "1", "POLL_INTERVAL": "1"}),
        ("seed_05s", seed, {"IDLE_TIMEOUT_SECONDS": "1", "POLL_INTERVAL": "0.5"}),
    ]
    log(f"idle-exit lateness: {args.exit_runs} runs per configuration")
    lateness, codes, exit_lines = exit_lateness(exit_configs, args.exit_runs)
    log(f"in-flight fault: {args.fault_rounds} rounds per configuration")
    fault = in_flight_fault(exit_configs, args.fault_rounds)
    instructions = {}
    if args.callgrind:
        log("instructions per request under callgrind: bare and idle")
        instructions = instructions_per_request([bare, idle])
    hyper = {}
    if args.hyperfine_runs > 0:
        log(f"never-requested servers under hyperfine: {args.hyperfine_runs} runs each")
        hyper = hyperfine_never_requested(
            [
                ("#[idle_server]", args.idle),
                ("seed design, poll 1 s", f"{args.seed_python} {args.seed_app}"),
            ],
            args.hyperfine_runs,
        )

    data = {
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "loadavg": [load_start, open("/proc/loadavg").read().split()[0]],
        "elapsed_s": time.time() - args.started,
        "labels": labels,
        "descriptions": descriptions,
        "throughput": {"rounds": rounds, "memory": memory, "rounds_n": args.rounds, "seconds": args.seconds},
        "cold_start": {"ms": cold_ms, "rss_kib": cold_rss},
        "exit": {"lateness_ms": lateness, "codes": codes, "exit_lines": exit_lines},
        "fault": fault,
        "hyperfine": hyper,
        "instructions_per_request": instructions,
        "hyperfine_runs": args.hyperfine_runs,
    }
    figures = write_report(os.path.join(args.out, "RESULTS.md"), data)
    data["figures"] = figures
    with open(os.path.join(args.out, "results.json"), "w") as out:
        json.dump(data, out, indent=1)
    svgchart.write(
        os.path.join(args.out, "chart.svg"),
        [
            (
                "Cold start: spawn → first 200 (ms, log scale)",
                [("bare axum", cold_ms["bare"]), ("#[idle_server]", cold_ms["idle"]), ("seed design", cold_ms["seed"])],
            ),
            (
                "Idle exit: ms after last response + 1 s timeout (log scale)",
                [
                    ("#[idle_server]", lateness["idle"]),
                    ("seed, poll 1 s", lateness["seed_1s"]),
                    ("seed, poll 0.5 s", lateness["seed_05s"]),
                ],
            ),
        ],
    )
    print()
    print(open(os.path.join(args.out, "RESULTS.md")).read().split("\n## ")[0])


if __name__ == "__main__":
    main()
