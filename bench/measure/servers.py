"""Starting, stopping and observing the server processes that every
measurement runs: a free port per spawn, stderr kept in a temporary file,
exit waited for without polling, and readings from /proc."""

import os
import socket
import subprocess
import tempfile
import threading
import time

HOST = "127.0.0.1"
TIMEOUT_S = 1.0  # the idle timeout for the exit and fault measurements


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


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def cpu_seconds(pid):
    """User + system CPU time the process has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rotate(items, shift):
    """items starting at index shift: each round starts with another server."""
    shift %= len(items)
    return items[shift:] + items[:shift]


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)
