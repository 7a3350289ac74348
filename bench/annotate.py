"""Where a row's instructions go: per function, the instructions per unit
of work of bare axum and of ours, and the difference, from the callgrind
files that bench/run.sh keeps (target/bench/callgrind/ROW.SERVER.N.out).

    python3 bench/annotate.py h2_body            # the 25 largest differences
    python3 bench/annotate.py h1_stream --top 40 --dir target/bench/callgrind

Each function's self cost (`callgrind_annotate --threshold=100`, so that no
function is left out) is taken in the runs serving N1 and N2 units, as the
matrix takes the totals: (cost at N2 − cost at N1) / (N2 − N1). Standard
library only, apart from callgrind_annotate (valgrind) on PATH.
"""

import argparse
import glob
import os
import re
import subprocess
import sys

LINE = re.compile(r"^\s*([\d,]+) \([ \d.]+%\)\s+(.*?)(?: \[(.*)\])?$")


def self_costs(path):
    """{function: instructions} for one callgrind file."""
    out = subprocess.run(
        ["callgrind_annotate", "--threshold=100", "--auto=no", path],
        capture_output=True, text=True, check=True,
    ).stdout
    body = out.split("file:function", 1)[1]
    costs = {}
    for line in body.splitlines()[2:]:
        match = LINE.match(line)
        if not match:
            continue
        name = match.group(2).split(":", 1)[-1] if match.group(2).startswith(("???:", ".", "/")) else match.group(2)
        costs[name] = costs.get(name, 0) + int(match.group(1).replace(",", ""))
    return costs


def per_unit(directory, row, server):
    """{function: instructions per unit}, and the two counts."""
    files = glob.glob(os.path.join(directory, f"{row}.{server}.*.out"))
    counts = sorted(int(f.rsplit(".", 2)[-2]) for f in files)
    if len(counts) < 2:
        sys.exit(f"annotate: need two runs of {row} for {server} in {directory}, found {counts}")
    low, high = counts[-2], counts[-1]
    a = self_costs(os.path.join(directory, f"{row}.{server}.{low}.out"))
    b = self_costs(os.path.join(directory, f"{row}.{server}.{high}.out"))
    return {k: (b.get(k, 0) - a.get(k, 0)) / (high - low) for k in set(a) | set(b)}, (low, high)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("row", help="a row key of the matrix: h1_get, h2_body, h1_stream, ...")
    parser.add_argument("--dir", default="target/bench/callgrind")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    bare, counts = per_unit(args.dir, args.row, "bare")
    idle, _ = per_unit(args.dir, args.row, "idle")
    total_bare, total_idle = sum(bare.values()), sum(idle.values())
    print(f"{args.row}: instructions per unit ({counts[1]} − {counts[0]} units): "
          f"bare {total_bare:,.0f}, ours {total_idle:,.0f}, difference {total_idle - total_bare:+,.0f}")
    print(f"{'bare':>10} {'ours':>10} {'ours−bare':>10}  function")
    names = sorted(set(bare) | set(idle), key=lambda k: -abs(idle.get(k, 0) - bare.get(k, 0)))
    for name in names[: args.top]:
        b, i = bare.get(name, 0), idle.get(name, 0)
        print(f"{b:>10,.0f} {i:>10,.0f} {i - b:>+10,.0f}  {name[:140]}")


if __name__ == "__main__":
    main()
