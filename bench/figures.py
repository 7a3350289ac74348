"""The figures bench/RESULTS.md states, computed once from the raw
measurements in results.json: the matrix (bare axum against ours, each row
with its ratio and target), the socket-options comparison, and the figures
of the measurements against the seed design; whether each target is met,
and the line bench/run.sh prints last. report.py formats them; results.json
keeps them under "figures"."""

import statistics

# The bars of DESIGN.md, as ratios of ours to bare axum (with http2, with
# the same socket options).
INSTRUCTIONS_AT_MOST = 1.03
RSS_PER_CONNECTION_AT_MOST = 1.03
CPU_AT_MOST = 1.05
DOWNLOAD_AT_MOST = 1.10
THROUGHPUT_AT_LEAST = 0.97
COLD_START_AT_MOST = 1.10

DOWNLOAD_LABELS = {
    "1m": "flow-controlled HTTP/2 download, 1 MiB (65,535-byte windows, a frame every 3 ms)",
    "20m": "the same, 20 MB",
}
CPU_LABELS = {
    "h1": "server CPU per HTTP/1.1 GET `/`, natively (h2load --h1 -c4 -m1)",
    "h2": "server CPU per HTTP/2 GET `/`, natively (h2load -c4 -m10)",
}


def summary(values):
    values = sorted(values)
    return {
        "n": len(values),
        "median": statistics.median(values),
        "min": values[0],
        "max": values[-1],
        "p90": values[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))],
    }


def paired_ratio(ours, theirs):
    """The median over rounds of ours / theirs within each round: the
    servers of a round run back to back, so a slow phase of other load hits
    both, and the ratio swings less from one whole measurement to the next
    than the ratio of the two medians does."""
    return statistics.median(o / t for o, t in zip(ours, theirs))


def row(key, group, label, unit, bare, idle, ratio, target, at_most=True, note=""):
    met = ratio <= target if at_most else ratio >= target
    return {"key": key, "group": group, "label": label, "unit": unit, "bare": bare, "idle": idle,
            "ratio": ratio, "target": target, "at_most": at_most, "met": met, "note": note,
            # How far past its target: > 1 is missed, the worst row has the largest.
            "margin": ratio / target if at_most else target / ratio}


def failed(key, group, label, target, error):
    """A row whose measurement failed: missed, and the worst of all."""
    return {"key": key, "group": group, "label": label, "unit": "failed", "bare": None, "idle": None,
            "ratio": float("inf"), "target": target, "at_most": True, "met": False,
            "note": "FAILED: " + error.splitlines()[-1][:300] if error else "FAILED", "margin": float("inf")}


def matrix(data):
    """The rows of the matrix, in the order of the table."""
    rows = []
    for key, r in data.get("instructions", {}).items():
        low, high = r["counts"]
        if "error" in r:
            rows.append(failed(key, "instructions", data["rows"][key]["label"], INSTRUCTIONS_AT_MOST, r["error"]))
            continue
        bare, idle = r["per_unit"]["bare"], r["per_unit"]["idle"]
        note = f"{data['rows'][key]['command']}; {high:,} − {low:,} units"
        if len(r["repeats"]["bare"]) > 1:
            note += f"; median of {len(r['repeats']['bare'])} pairs of runs (" + ", ".join(
                f"{s} {min(v):,.0f}–{max(v):,.0f}" for s, v in (("bare", r["repeats"]["bare"]), ("ours", r["repeats"]["idle"]))
            ) + ")"
        rows.append(row(key, "instructions", data["rows"][key]["label"], "instructions", bare, idle, idle / bare,
                        INSTRUCTIONS_AT_MOST, note=note))
    if "keepalive_rss" in data:
        rss = data["keepalive_rss"]
        bare, idle = (statistics.median(rss["bytes"][k]) for k in ("bare", "idle"))
        rows.append(row("rss", "rss", f"RSS per idle keep-alive connection ({rss['connections']:,} open)",
                        "bytes", bare, idle, idle / bare, RSS_PER_CONNECTION_AT_MOST,
                        note=f"median of {len(rss['bytes']['bare'])} rounds"))
    for protocol, servers in data.get("cpu", {}).get("rounds", {}).items():
        bare = [r["cpu_us"] for r in servers["bare"]]
        idle = [r["cpu_us"] for r in servers["idle"]]
        rows.append(row(f"cpu_{protocol}", "cpu", CPU_LABELS[protocol], "µs", statistics.median(bare),
                        statistics.median(idle), paired_ratio(idle, bare), CPU_AT_MOST,
                        note=f"{data['cpu']['requests']:,} requests, median of {len(bare)} alternating rounds"))
    limit = data.get("downloads", {}).get("limit_s")
    for size, servers in data.get("downloads", {}).get("rounds", {}).items():
        bare = [r["seconds"] for r in servers["bare"]]
        idle = [r["seconds"] for r in servers["idle"]]
        unfinished = sum(not r["complete"] for r in servers["idle"] + servers["bare"])
        errors = [r["error"] for r in servers["idle"] + servers["bare"] if r.get("error")]
        note = f"median of {len(bare)} alternating rounds"
        if unfinished:
            note += f"; {unfinished} did not finish within {limit} s and count as {limit} s (a lower bound)"
        if errors:
            note += f"; {len(errors)} failed: {errors[0].splitlines()[-1][:200]}"
        rows.append(row(f"download_{size}", "download", DOWNLOAD_LABELS[size], "s", statistics.median(bare),
                        statistics.median(idle), paired_ratio(idle, bare), DOWNLOAD_AT_MOST, note=note))
    return rows


def socket_options(data):
    """Bare axum with and without TCP_NODELAY, and ours: CPU per GET and the
    latency of a small streamed response."""
    cpu = {
        protocol: {k: statistics.median(r["cpu_us"] for r in v) for k, v in servers.items()}
        for protocol, servers in data["cpu"]["rounds"].items()
    }
    rps = {
        protocol: {k: statistics.median(r["rps"] for r in v) for k, v in servers.items()}
        for protocol, servers in data["cpu"]["rounds"].items()
    }
    return {"cpu_us": cpu, "rps": rps, "events_us": data["events"]["us"]}


def fault_counts(results):
    """How often A and B were served, and what happened to B otherwise."""
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


def classic(data):
    """The figures of the measurements against the seed design."""
    t, c = data["throughput"], data["cold_start"]
    rounds = t["rounds"]
    round_ratios = [i["rps"] / b["rps"] for i, b in zip(rounds["idle"], rounds["bare"])]
    rps = {k: statistics.median(r["rps"] for r in v) for k, v in rounds.items()}
    cold = {k: summary(v) for k, v in c["ms"].items()}
    rss = {k: statistics.median(v) / 1024 for k, v in c["rss_kib"].items()}
    f = {
        "throughput_ratio": rps["idle"] / rps["bare"],
        "throughput_ratio_per_round_median": statistics.median(round_ratios),
        "throughput_round_ratios": round_ratios,
        "server_cpu_us_per_request": {
            k: statistics.median(r["server_cpu_us_per_request"] for r in v) for k, v in rounds.items()
        },
        "rps": rps,
        "p99": {k: statistics.median(r["p99_ms"] for r in v) for k, v in rounds.items()},
        "hwm_mib": {k: v["hwm_kib"] / 1024 for k, v in t["memory"].items()},
        "cold": cold,
        "cold_ratio": paired_ratio(c["ms"]["idle"], c["ms"]["bare"]),
        "cold_ratio_of_medians": cold["idle"]["median"] / cold["bare"]["median"],
        "cold_ratio_no_http2": paired_ratio(c["ms"]["idle"], c["ms"]["bare_h1"]),
        "rss_mib": rss,
        "rss_delta_mib": rss["idle"] - rss["bare"],
        "lateness": {k: summary(v) for k, v in data["exit"]["lateness_ms"].items()},
        "fault": {k: fault_counts(v) for k, v in data["fault"].items()},
    }
    late, fault = f["lateness"], f["fault"]
    f["met"] = {
        "throughput": throughput_for_target(f) >= THROUGHPUT_AT_LEAST,
        "cold_start": f["cold_ratio"] <= COLD_START_AT_MOST and f["cold"]["idle"]["median"] < 10,
        "rss": abs(f["rss_delta_mib"]) <= 1.0,
        "exit": late["idle"]["max"] <= 50,
        "fault": fault["idle"]["both"] == fault["idle"]["n"],
    }
    f["rows"] = [
        row("throughput", "classic", "throughput, wrk -t2 -c50 (the lower of the ratio of medians and the median "
            "of per-round ratios)", "req/s", rps["bare"], rps["idle"], throughput_for_target(f),
            THROUGHPUT_AT_LEAST, at_most=False),
        row("cold_start", "classic", "cold start, exec → first 200 (median of per-run ratios)", "ms",
            cold["bare"]["median"], cold["idle"]["median"], f["cold_ratio"], COLD_START_AT_MOST),
    ]
    return f


def throughput_for_target(f):
    """The lower of the two throughput ratios: the target needs both."""
    return min(f["throughput_ratio"], f["throughput_ratio_per_round_median"])


def compute(data):
    """Everything the report states, from the raw data of one run."""
    f = {"matrix": matrix(data)}
    if "cpu" in data:
        f["socket_options"] = socket_options(data)
    checks = [r["met"] for r in f["matrix"]]
    ratio_rows = list(f["matrix"])
    if "throughput" in data:
        f["classic"] = classic(data)
        ratio_rows += f["classic"]["rows"]
        checks += list(f["classic"]["met"].values())
    f["worst"] = max(ratio_rows, key=lambda r: r["margin"])
    f["targets"] = {"met": sum(checks), "n": len(checks)}
    f["worst_line"] = worst_line(f, data.get("quick"))
    return f


def worst_line(f, quick):
    """The worst ratio against its target, on one line (run.sh's last)."""
    w, t = f["worst"], f["targets"]
    sign = "≤" if w["at_most"] else "≥"
    verdict = "met" if w["met"] else "missed"
    if w["unit"] == "failed":
        return f"worst ratio against its target: {w['label']}: the measurement FAILED · {t['met']} of {t['n']} targets met"
    line = (
        f"worst ratio against its target: {w['label']}: {w['ratio']:.3f}× bare axum "
        f"(target {sign} {w['target']:.2f}×: {verdict}) · {t['met']} of {t['n']} targets met"
    )
    if quick:
        line += " · BENCH_QUICK run: figures not meaningful"
    return line
