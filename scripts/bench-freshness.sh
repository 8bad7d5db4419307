#!/usr/bin/env bash
# Benchmark: freshness of `imglake serve`'s lake, the time from an upload's 202 until its
# PROCESSED row can be queried from the lake, under a steady load of PUT /images, for a few
# flush settings side by side (bench/freshness.py; pyarrow reads the lake as it grows).
# Prints a Markdown table (BENCHMARKS.md, "Freshness", comes from here).
#   IMGLAKE_BIN=PATH                   the binary to measure (default: a release build, as
#                                      `cargo install --path .` makes)
#   IMGLAKE_FRESHNESS_RATE=5           uploads per second
#   IMGLAKE_FRESHNESS_SECONDS=60       how long each load lasts
#   IMGLAKE_FRESHNESS_FLUSH_AGES="default 1s 5s"   serve --flush-age values ("default": none given)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/imglake/target}"
venv="$(scripts/python-env.sh test)"
if [[ -z "${IMGLAKE_BIN:-}" ]]; then
  cargo build --release --locked --bin imglake
  IMGLAKE_BIN="$CARGO_TARGET_DIR/release/imglake"
fi
args=()
for age in ${IMGLAKE_FRESHNESS_FLUSH_AGES:-default 1s 5s}; do
  args+=(--flush-age "$age")
done
echo "imglake: $IMGLAKE_BIN; $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ)" >&2
"$venv/bin/python" bench/freshness.py --bin "$IMGLAKE_BIN" \
  --rate "${IMGLAKE_FRESHNESS_RATE:-5}" --seconds "${IMGLAKE_FRESHNESS_SECONDS:-60}" "${args[@]}"
