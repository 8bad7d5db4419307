#!/usr/bin/env bash
# The exporter at two commits, side by side, for changes that should not change its speed:
#   scripts/bench-export-compare.sh BEFORE [AFTER]        (AFTER defaults to HEAD)
# Builds `exporter/benches/export.rs` at each commit (a git worktree and a target dir each,
# under ~/.cache/imglake/compare/), then for 1 000 and 10 000 generated records:
#   - instructions executed by one export (valgrind cachegrind): the steady measure;
#   - IMGLAKE_BENCH_REPEATS (default 21) timed runs of each, alternating BEFORE and AFTER,
#     each run right after one run of the Python route (as in bench-export.sh, so both
#     start with caches as cold), all pinned to core 0; median and spread.
# Prints a Markdown table. Needs valgrind (apt-get install valgrind) and taskset.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ $# -ge 1 ]] || { echo "usage: $0 BEFORE [AFTER]" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "error: valgrind is missing: apt-get install valgrind" >&2; exit 1; }
command -v taskset >/dev/null || { echo "error: taskset is missing: apt-get install util-linux" >&2; exit 1; }
repeats="${IMGLAKE_BENCH_REPEATS:-21}"
cache="$HOME/.cache/imglake/compare"
mkdir -p "$cache"
python="$(scripts/python-env.sh)/bin/python"
script="$PWD/bench/python_export.py"

# Prints the path of the export bench binary built at commit $1.
build() {
  local rev tree
  rev="$(git rev-parse --short "$1")"
  tree="$cache/tree-$rev"
  if [[ ! -d "$tree" ]]; then
    git worktree add --detach -f "$tree" "$rev" >&2
  fi
  echo "building the export bench at $rev (once per commit)" >&2
  (cd "$tree" && CARGO_TARGET_DIR="$cache/target-$rev" cargo bench -p imglake-exporter \
    --bench export --no-run --message-format=json 2>/dev/null) |
    "$python" -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "export":
        print(m["executable"])'
}

before_rev="$(git rev-parse --short "$1")"
after_rev="$(git rev-parse --short "${2:-HEAD}")"
before="$(build "$before_rev")"
after="$(build "$after_rev")"
[[ -x "$before" && -x "$after" ]] || { echo "error: a bench binary did not build" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# One timed export: seconds, as the child prints them.
timed() {
  rm -rf "$work/out" "$work/py"
  taskset -c 0 "$python" "$script" "$2" "$work/py" zstd >/dev/null
  taskset -c 0 "$1" --child "$2" "$work/out" zstd |
    "$python" -c 'import json,sys; print(json.load(sys.stdin)["seconds"])'
}

instructions() {
  rm -rf "$work/out"
  valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
    "$1" --child "$2" "$work/out" zstd 2>&1 >/dev/null |
    sed -n 's/.*I *refs: *\([0-9,]*\).*/\1/p' | tr -d ,
}

echo "exporter, $before_rev (before) and $after_rev (after): $repeats alternating runs each, pinned to core 0"
echo
echo "| records | instructions before | instructions after | change | median before | median after | change | min–max before | min–max after |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for n in 1000 10000; do
  input="$work/in-$n.json"
  "$after" --generate "$n" "$input" lambda
  ib="$(instructions "$before" "$input")"
  ia="$(instructions "$after" "$input")"
  : >"$work/times"
  for _ in $(seq "$repeats"); do
    echo "b $(timed "$before" "$input")" >>"$work/times"
    echo "a $(timed "$after" "$input")" >>"$work/times"
  done
  "$python" - "$n" "$ib" "$ia" "$work/times" <<'EOF'
import statistics, sys
n, ib, ia, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
t = {"a": [], "b": []}
for line in open(path):
    side, secs = line.split()
    t[side].append(float(secs) * 1e3)
mb, ma = statistics.median(t["b"]), statistics.median(t["a"])
print(f"| {n} | {ib:,} | {ia:,} | {100 * (ia - ib) / ib:+.1f}% | {mb:.2f} ms | {ma:.2f} ms "
      f"| {100 * (ma - mb) / mb:+.1f}% | {min(t['b']):.2f}–{max(t['b']):.2f} ms "
      f"| {min(t['a']):.2f}–{max(t['a']):.2f} ms |")
EOF
done
