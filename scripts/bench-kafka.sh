#!/usr/bin/env bash
# Benchmark: Kafka throughput on this machine, one run, everything on 127.0.0.1: a tansu
# broker (scripts/tansu.sh), a topic of 2 partitions, photograph-like JPEGs (about 150 KB,
# every 20th one 2400x1800 and above 1 MB, so a claim-check) sent by `imglake kafka-send`,
# then read four ways from the same topic:
#   - a plain consumer (kafka-python) that only reads: the broker's pace, for reference;
#   - `imglake serve --workers 0`: Kafka ingest alone (the kafka-ingest handler: validate,
#     store raw, write the item; commit);
#   - the same images by HTTP `PUT /images` (4 connections) to `serve --workers 0`: the upload
#     API's ingest, the other door, side by side;
#   - `imglake serve` with 2 workers: end to end, from the topic to processed images and the
#     lake (timed to the exit after Ctrl-C, which drains the queue and flushes the lake).
# Prints a Markdown table (the one in BENCHMARKS.md comes from here).
#   scripts/bench-kafka.sh          # IMGLAKE_BENCH_RECORDS=N records (a multiple of 100; default 1000)
#   IMGLAKE_BENCH_BIN=target/release/imglake scripts/bench-kafka.sh   # that binary, no build
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/imglake/target}"
records="${IMGLAKE_BENCH_RECORDS:-1000}"
distinct=100
(( records % distinct == 0 )) || { echo "error: IMGLAKE_BENCH_RECORDS must be a multiple of $distinct" >&2; exit 2; }
rounds=$(( records / distinct ))

tansu="$(scripts/tansu.sh)"
venv="$(scripts/python-env.sh bench-kafka)"
if [[ -n "${IMGLAKE_BENCH_BIN:-}" ]]; then
  bin="$IMGLAKE_BENCH_BIN" # a release binary built before (the build is ~40 minutes cold)
else
  echo "building the release binary" >&2
  cargo build --release --locked --bin imglake >&2
  bin="$CARGO_TARGET_DIR/release/imglake"
fi
py() { "$venv/bin/python" bench/kafka_bench.py "$@"; }

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() {
  "$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() {
  for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "error: nothing listens on 127.0.0.1:$1 after 30 s" >&2; exit 1
}
now() { date +%s.%N; }
elapsed() { "$venv/bin/python" -c "print(f'{$2 - $1:.2f}')"; }
rate() { "$venv/bin/python" -c "print(f'{$1 / $2:,.0f}' if $1 / $2 >= 100 else f'{$1 / $2:,.1f}')"; }

kafka_port="$(free_port)"
"$tansu" broker --silent --storage-engine memory://tansu/ \
  --listener-url "tcp://127.0.0.1:$kafka_port" --advertised-listener-url "tcp://127.0.0.1:$kafka_port" \
  >"$work/tansu.log" 2>&1 &
pids+=($!)
wait_port "$kafka_port"
brokers="127.0.0.1:$kafka_port"

echo "making $distinct images" >&2
py images "$work/images" "$distinct" 20
megabytes="$("$venv/bin/python" -c "import os; d='$work/images'; print(sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)) * $rounds / 1e6)")"

echo "sending $records records" >&2
start="$(now)"
for ((round = 0; round < rounds; round++)); do
  "$bin" kafka-send "$work/images" --kafka-brokers "$brokers" --kafka-topic bench \
    --create-topic 2 --data-dir "$work/claims" >/dev/null 2>"$work/send.log"
done
produce_s="$(elapsed "$start" "$(now)")"

echo "reading them with kafka-python" >&2
read_s="$(py consume "$brokers" bench "$records")"

# serve_run DIR WORKERS QUEUE_EMPTY: serve consumes the topic; sets `seconds` to the time
# until all is committed (with QUEUE_EMPTY=1: until its exit after Ctrl-C, queue drained).
serve_run() {
  local dir="$1" workers="$2" drain="$3" port pid start done_at
  mkdir -p "$dir" && cp -r "$work/claims/claims" "$dir/claims"
  port="$(free_port)"
  start="$(now)"
  "$bin" serve --addr "127.0.0.1:$port" --data-dir "$dir" --workers "$workers" \
    --kafka-brokers "$brokers" --kafka-topic bench --flush-age 5s 2>"$dir.log" &
  pid=$!
  pids+=("$pid")
  done_at="$(py wait "127.0.0.1:$port" "$records" "$drain")"
  kill -INT "$pid"
  wait "$pid"
  if [[ "$drain" == 1 ]]; then done_at="$(now)"; fi
  seconds="$(elapsed "$start" "$done_at")"
}

echo "Kafka ingest alone (serve --workers 0)" >&2
serve_run "$work/ingest" 0 0
ingest_s="$seconds"

echo "HTTP ingest alone (PUT /images to serve --workers 0)" >&2
http_port="$(free_port)"
"$bin" serve --addr "127.0.0.1:$http_port" --data-dir "$work/http" --workers 0 2>"$work/http.log" &
http_pid=$!
pids+=("$http_pid")
wait_port "$http_port"
http_s="$(py put "127.0.0.1:$http_port" "$work/images" "$rounds" 4)"
kill -INT "$http_pid"
wait "$http_pid"

echo "end to end (serve, 2 workers)" >&2
serve_run "$work/e2e" 2 1
e2e_s="$seconds"
processed="$("$bin" query --lake "$work/e2e/lake" --format csv \
  "select count(*) as n from images_current where status = 'PROCESSED'" | tail -n 1)"
[[ "$processed" == "$records" ]] || { echo "error: $processed of $records images PROCESSED in the lake" >&2; exit 1; }

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo
echo "$records records ($(printf '%.0f' "$megabytes") MB; 95 inline, 5 claim-checks per 100), topic of 2 partitions, tansu in memory, $(nproc) cores ($cpu):"
echo
echo "| what | seconds | records/s | MB/s |"
echo "| --- | ---: | ---: | ---: |"
row() { echo "| $1 | $2 | $(rate "$records" "$2") | $(rate "$megabytes" "$2") |"; }
row "produce: \`imglake kafka-send\`" "$produce_s"
row "read only: kafka-python consumer (reference)" "$read_s"
row "Kafka ingest alone: \`serve --workers 0\`" "$ingest_s"
row "HTTP ingest alone: \`PUT /images\`, 4 connections, \`serve --workers 0\`" "$http_s"
row "end to end: \`serve\` (2 workers), topic → processed images → lake" "$e2e_s"
