"""A server that never gets a request: exec → exit with a 1 s idle timeout,
timed by hyperfine (`-N`, no shell) and read from its JSON export."""

import json
import os
import subprocess
import tempfile


def hyperfine_never_requested(commands, runs):
    """commands: [(name, command line)]. Returns {name: {median_ms, min_ms, max_ms}}."""
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
