"""What the run ran on, for the report's first lines: CPU, kernel, rustc,
Python, wrk, h2load and valgrind versions, and the 1-minute load average."""

import os
import platform
import subprocess


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
        "wrk": first_line(["wrk", "-v"]),
        "h2load": first_line(["h2load", "--version"]),
        "valgrind": first_line(["valgrind", "--version"]),
    }


def first_line(argv):
    """The first line a tool prints about itself, or "NAME ?" without it."""
    try:
        return subprocess.run(argv, capture_output=True, text=True).stdout.split("\n")[0].strip()
    except OSError:
        return f"{argv[0]} ?"


def loadavg():
    """The 1-minute load average, as /proc/loadavg writes it."""
    with open("/proc/loadavg") as status:
        return status.read().split()[0]
