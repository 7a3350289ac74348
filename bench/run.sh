#!/usr/bin/env bash
# The benchmark, in one command:
#
#     bash bench/run.sh
#
# Builds the same router three ways (bare axum, #[idle_server], and the seed
# design as FastAPI + uvicorn), plus bare axum without axum's `http2` feature
# (bench/bare-h1/, for cold start and RSS only: ours serves HTTP/2 too, so the
# targets compare with bare axum with it), then measures them side by side,
# alternating between them: throughput and p99 (wrk), cold start, RSS, idle-exit
# lateness, the in-flight fault, never-requested exec→exit (hyperfine), and
# user-space instructions per request (valgrind's callgrind). Instructions per
# request are the headline figure: deterministic, so they still compare bare
# and idle when other load makes wrk noisy.
# Writes bench/RESULTS.md, bench/results.json and bench/chart.svg, and prints
# the three ratios against their targets (instructions per request, throughput,
# cold start) as its last line.
#
# Installs what it needs: wrk, hyperfine and valgrind with apt-get (Debian), the seed
# design's pinned Python packages (bench/requirements.txt) into a virtualenv
# under target/. Takes about 6 minutes on a 2-core machine, builds included.
# Only 127.0.0.1 is contacted, on free ports.
#
# Environment: PYTHON (default python3.11) for the virtualenv; BENCH_QUICK=1
# for a short smoke run (fewer rounds and runs; figures not meaningful).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s.%N)

export CARGO_TERM_COLOR=never

# --- tools -------------------------------------------------------------------
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v hyperfine >/dev/null || missing+=(hyperfine)
command -v valgrind >/dev/null || missing+=(valgrind)
if ((${#missing[@]})); then
    echo "== installing ${missing[*]} (apt-get)"
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- the seed design's virtualenv ---------------------------------------------
python=${PYTHON:-python3.11}
target_dir=${CARGO_TARGET_DIR:-target}
venv=$target_dir/bench-venv
stamp=$venv/requirements.txt
if ! cmp -s bench/requirements.txt "$stamp" 2>/dev/null; then
    echo "== creating $venv with $($python --version) and bench/requirements.txt"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-input -r bench/requirements.txt
    cp bench/requirements.txt "$stamp"
fi

# --- the Rust servers -----------------------------------------------------------
echo "== cargo build --release --example bench-bare --example bench-idle"
cargo build --release --quiet --example bench-bare --example bench-idle
# A workspace of its own (see its Cargo.toml), built into the same target dir.
echo "== cargo build --release --manifest-path bench/bare-h1/Cargo.toml"
cargo build --release --quiet --manifest-path bench/bare-h1/Cargo.toml --target-dir "$target_dir"

# --- measure --------------------------------------------------------------------
args=()
if [ "${BENCH_QUICK:-}" = 1 ]; then
    args=(--rounds 1 --seconds 1 --cold-runs 3 --exit-runs 2 --fault-rounds 1 --hyperfine-runs 2 --callgrind 0)
fi
echo "== measuring"
PYTHONDONTWRITEBYTECODE=1 "$venv/bin/python" bench/driver.py \
    --bare "$target_dir/release/examples/bench-bare" \
    --bare-h1 "$target_dir/release/bench-bare-h1" \
    --idle "$target_dir/release/examples/bench-idle" \
    --seed-python "$venv/bin/python" \
    --seed-app bench/seed_app.py \
    --out bench \
    --started "$started" \
    "${args[@]}"

elapsed=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.0f", e - s }')
echo "== done in ${elapsed} s: bench/RESULTS.md, bench/results.json, bench/chart.svg"
# Last: the three ratios against their targets, as driver.py wrote them.
"$venv/bin/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["figures"]["ratios_line"])' bench/results.json
