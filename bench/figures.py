"""The figures bench/RESULTS.md states, computed once from the raw
measurements in results.json: medians, ratios against bare axum, counts of
the in-flight outcomes, whether each target is met, and the line of ratios
that bench/run.sh prints last. report.py formats them; results.json keeps
them under "figures"."""

import statistics

# The bars of DESIGN.md, as ratios of ours to bare axum (with http2).
INSTRUCTIONS_AT_MOST = 1.03
THROUGHPUT_AT_LEAST = 0.97
COLD_START_AT_MOST = 1.10


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
    """The median over runs of ours / theirs within each run: the servers of
    a run start back to back, so a slow phase of other load hits both, and
    the ratio swings less from one whole measurement to the next than the
    ratio of the two medians does."""
    return statistics.median(o / t for o, t in zip(ours, theirs))


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
    ipr = data.get("instructions_per_request") or {}
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
        "instructions_per_request": ipr,
        "instructions_ratio": ipr["idle"] / ipr["bare"] if ipr else None,
    }
    f["met"] = targets_met(f)
    f["ratios_line"] = ratios_line(f)
    return f


def targets_met(f):
    """Whether each target is met; instructions is None when not measured.

    Throughput must hold both as the ratio of the medians and as the median
    of the per-round ratios; cold start also has to stay in single-digit ms."""
    late, fault = f["lateness"], f["fault"]
    return {
        "instructions": None if f["instructions_ratio"] is None else f["instructions_ratio"] <= INSTRUCTIONS_AT_MOST,
        "throughput": throughput_for_target(f) >= THROUGHPUT_AT_LEAST,
        "cold_start": f["cold_ratio"] <= COLD_START_AT_MOST and f["cold"]["idle"]["median"] < 10,
        "rss": abs(f["rss_delta_mib"]) <= 1.0,
        "exit": late["idle"]["max"] <= 50,
        "fault": fault["idle"]["both"] == fault["idle"]["n"],
    }


def throughput_for_target(f):
    """The lower of the two throughput ratios: the target needs both."""
    return min(f["throughput_ratio"], f["throughput_ratio_per_round_median"])


def ratios_line(f):
    """The three ratios against their targets, on one line (run.sh's last)."""
    met = {k: "met" if v else "missed" for k, v in f["met"].items()}
    if f["instructions_ratio"] is None:
        instructions = f"instructions/request not measured (--callgrind 0; target ≤ {INSTRUCTIONS_AT_MOST:.2f})"
    else:
        instructions = (
            f"instructions/request {f['instructions_ratio']:.3f} "
            f"(target ≤ {INSTRUCTIONS_AT_MOST:.2f}: {met['instructions']})"
        )
    return (
        f"ratios vs bare axum: {instructions} · "
        f"throughput {throughput_for_target(f):.3f} (≥ {THROUGHPUT_AT_LEAST:.2f}: {met['throughput']}) · "
        f"cold start {f['cold_ratio']:.2f} (≤ {COLD_START_AT_MOST:.2f}: {met['cold_start']})"
    )
