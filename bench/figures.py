"""The figures bench/RESULTS.md states, computed once from the raw
measurements in results.json: medians, ratios against bare axum, counts of
the in-flight outcomes. report.py formats them; results.json keeps them
under "figures"."""

import statistics


def summary(values):
    values = sorted(values)
    return {
        "n": len(values),
        "median": statistics.median(values),
        "min": values[0],
        "max": values[-1],
        "p90": values[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))],
    }


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


def compute(data):
    """Everything the report states, from the raw data of one run."""
    t, c = data["throughput"], data["cold_start"]
    rounds = t["rounds"]
    round_ratios = [i["rps"] / b["rps"] for i, b in zip(rounds["idle"], rounds["bare"])]
    rps = {k: statistics.median(r["rps"] for r in v) for k, v in rounds.items()}
    cold = {k: summary(v) for k, v in c["ms"].items()}
    rss = {k: statistics.median(v) / 1024 for k, v in c["rss_kib"].items()}
    return {
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
        "cold_ratio": cold["idle"]["median"] / cold["bare"]["median"],
        "rss_mib": rss,
        "rss_delta_mib": rss["idle"] - rss["bare"],
        "lateness": {k: summary(v) for k, v in data["exit"]["lateness_ms"].items()},
        "fault": {k: fault_counts(v) for k, v in data["fault"].items()},
        "instructions_per_request": data.get("instructions_per_request") or {},
    }
