#!/usr/bin/env bash
# The benchmark, in one command:
#
#     bash bench/run.sh [--quick] [--matrix-only] [--only PARTS] [--one-unit | --one-unit-both]
#
# Builds the bench servers in release (bench/Cargo.toml: the same router,
# bench/router.rs, served by bare `axum::serve` and by `#[idle_server]`,
# with the same socket options) and measures the matrix, bare against ours:
#
#   - instructions per unit of work under valgrind's callgrind, one tokio
#     worker, for HTTP/1.1 and HTTP/2 GETs, 1 MiB buffered bodies, streamed
#     bodies (256 x 4 KiB), WebSocket echo, a new connection per request;
#   - RSS per idle keep-alive connection (5,000 open);
#   - server CPU time per HTTP/1.1 and HTTP/2 GET natively (100,000 GETs,
#     one worker, alternating rounds), with bare axum without TCP_NODELAY
#     beside them for the socket-options decision;
#   - a flow-controlled HTTP/2 download (65,535-byte windows, a frame read
#     every 3 ms) of 1 MiB and of 20 MB, alternating rounds;
#
# then, unless --matrix-only, what the bench measured before against the
# seed design (FastAPI + uvicorn, bench/seed_app.py): throughput (wrk), cold
# start, idle-exit precision, the in-flight fault, exec -> exit (hyperfine).
#
# Prints the matrix; its LAST line gives the worst ratio against its target.
# Writes bench/RESULTS.md, bench/results.json, bench/chart.svg (a --quick or
# --only run writes them in target/bench/ instead), and keeps callgrind's
# output files in target/bench/callgrind/ for callgrind_annotate and
# bench/annotate.py.
# About 14 minutes on a 2-core machine, builds included (--matrix-only about
# 9, --quick about 3: figures not meaningful). --only PARTS measures only
# those parts of the matrix, for trying an idea: a comma-separated list of
# callgrind rows (h1_get, h2_get, h2_body, h1_body, h1_stream, h2_stream, ws,
# new_conn, new_conn_close), rss, cpu, download; e.g. --only h2_body,download.
# --one-unit builds idle-runtime as one codegen unit (the README's
# "Build settings"; bare axum's build is unchanged), --one-unit-both also
# the bench package, where bare axum's server is compiled; each in a target
# dir of its own (target/one-unit/, target/one-unit-both/), and a whole run
# writes its tables to bench/one-unit/ or bench/one-unit-both/. Only
# 127.0.0.1 is contacted, on free ports; every loop is bounded.
#
# Installs nothing system-wide: it needs h2load (Debian package
# nghttp2-client) and valgrind, and without --matrix-only also wrk and
# hyperfine, and says so if one is missing. The seed design runs in a
# virtualenv under target/ made from bench/requirements.txt (PyPI); if that
# cannot be made, the run goes on as --matrix-only. Environment: PYTHON
# (default python3.11, else python3) for that virtualenv; BENCH_QUICK=1,
# BENCH_MATRIX_ONLY=1 and BENCH_ONLY=PARTS as the options.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s.%N)
export CARGO_TERM_COLOR=never

quick=${BENCH_QUICK:-0}
one_unit=0
matrix_only=${BENCH_MATRIX_ONLY:-0}
only=${BENCH_ONLY:-}
while (($#)); do
    case $1 in
        --quick) quick=1 ;;
        --one-unit) one_unit=1 ;;
        --one-unit-both) one_unit=both ;;
        --matrix-only) matrix_only=1 ;;
        --only)
            if [ $# -lt 2 ]; then echo "bench/run.sh: --only needs a list, e.g. --only h2_body,download" >&2; exit 2; fi
            only=$2
            shift
            ;;
        *) echo "bench/run.sh: unknown option $1 (expected --quick, --matrix-only, --only PARTS, --one-unit or --one-unit-both)" >&2; exit 2 ;;
    esac
    shift
done
if [ -n "$only" ]; then matrix_only=1; fi

# --- tools -------------------------------------------------------------------
missing=()
command -v h2load >/dev/null || missing+=("h2load (apt package nghttp2-client)")
command -v valgrind >/dev/null || missing+=("valgrind (apt package valgrind)")
command -v python3 >/dev/null || missing+=("python3 (apt package python3)")
if [ "$matrix_only" != 1 ]; then
    command -v wrk >/dev/null || missing+=("wrk (apt package wrk)")
    command -v hyperfine >/dev/null || missing+=("hyperfine (apt package hyperfine)")
fi
if ((${#missing[@]})); then
    echo "bench/run.sh: missing: ${missing[*]}" >&2
    exit 1
fi

# 5,000 idle keep-alive connections: the server and bench-client hold one
# descriptor each per connection.
if [ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt 6000 ]; then
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fi
if [ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt 6000 ]; then
    echo "bench/run.sh: need at least 6000 open files per process (ulimit -n is $(ulimit -Sn), hard $(ulimit -Hn))" >&2
    exit 1
fi

# --- the Rust servers and the client --------------------------------------------
target_dir=${CARGO_TARGET_DIR:-target}
build_config=()
results=bench
if [ "$one_unit" != 0 ]; then
    # A target dir of its own: the binaries of every build keep their names.
    variant=one-unit
    build_config=(--config 'profile.release.package.idle-runtime.codegen-units=1')
    if [ "$one_unit" = both ]; then
        variant=one-unit-both
        build_config+=(--config 'profile.release.package.idle-bench.codegen-units=1')
    fi
    target_dir=${CARGO_TARGET_DIR:-target/$variant}
    build_config+=(--target-dir "$target_dir")
    results=bench/$variant
fi
echo "== cargo build --release -p idle-bench ${build_config[*]}"
cargo build --release --quiet -p idle-bench --bins "${build_config[@]}"

# --- what the seed-design comparison needs ------------------------------------------
if [ "$matrix_only" != 1 ]; then
    # A workspace of its own (see its Cargo.toml), built into the same target dir.
    echo "== cargo build --release --manifest-path bench/bare-h1/Cargo.toml"
    cargo build --release --quiet --manifest-path bench/bare-h1/Cargo.toml --target-dir "$target_dir"
    python=${PYTHON:-python3.11}
    command -v "$python" >/dev/null || python=python3
    venv=$target_dir/bench-venv
    stamp=$venv/requirements.txt
    if ! cmp -s bench/requirements.txt "$stamp" 2>/dev/null; then
        echo "== creating $venv with $($python --version) and bench/requirements.txt"
        rm -rf "$venv"
        if "$python" -m venv "$venv" &&
            "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-input -r bench/requirements.txt; then
            cp bench/requirements.txt "$stamp"
        else
            echo "== no virtualenv for the seed design: measuring the matrix only"
            matrix_only=1
        fi
    fi
fi

# --- measure --------------------------------------------------------------------
# A quick or partial run does not replace the results of a whole one.
out=$results
if [ "$quick" = 1 ] || [ -n "$only" ]; then out=$target_dir/bench; fi
mkdir -p "$out"
args=(
    --bare "$target_dir/release/bench-bare"
    --idle "$target_dir/release/bench-idle"
    --client "$target_dir/release/bench-client"
    --out "$out"
    --work "$target_dir/bench"
    --started "$started"
)
driver_python=python3
if [ "$quick" = 1 ]; then args+=(--quick); fi
case $one_unit in
    1) args+=(--build=--one-unit) ;;
    both) args+=(--build=--one-unit-both) ;;
esac
if [ -n "$only" ]; then args+=(--only "$only"); fi
if [ "$matrix_only" = 1 ]; then
    args+=(--matrix-only)
else
    args+=(--bare-h1 "$target_dir/release/bench-bare-h1" --seed-python "$venv/bin/python" --seed-app bench/seed_app.py)
    driver_python=$venv/bin/python
fi
echo "== measuring"
# The driver prints the matrix and, last, the worst ratio against its target.
PYTHONDONTWRITEBYTECODE=1 "$driver_python" bench/driver.py "${args[@]}"
