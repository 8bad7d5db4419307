#!/usr/bin/env bash
# Benchmark: records → Parquet, imglake's exporter against the Python route (boto3
# TypeDeserializer + pyarrow), same input, same machine, one run, one core each.
# Prints a Markdown table (the one in BENCHMARKS.md comes from here).
# IMGLAKE_BENCH_REPEATS=N: timed runs per measurement (default 5).
# IMGLAKE_BENCH_COMPRESSION=snappy: both sides write Snappy instead of ZSTD (the default).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/imglake/target}"
IMGLAKE_VENV="$(scripts/python-env.sh)"
export IMGLAKE_VENV
cargo bench -p imglake-exporter --bench export "$@"
