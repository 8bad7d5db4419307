#!/usr/bin/env bash
# The whole test suite. Installs what it needs once (Python virtualenvs with moto, boto3,
# pyarrow, duckdb, pytest, sqlglot, python-hcl2, and checkov), then runs every Rust test (unit
# and end to end, with nextest when present) and the Python tests of sql/ and terraform/.
# The cargo target directory defaults to ~/.cache/imglake/target so repeat runs are incremental.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/imglake/target}"
IMGLAKE_VENV="$(scripts/python-env.sh test)"
IMGLAKE_CHECKOV="$(scripts/python-env.sh checkov)/bin/checkov"
export IMGLAKE_VENV IMGLAKE_CHECKOV
IMGLAKE_TANSU="$(scripts/tansu.sh)"; export IMGLAKE_TANSU # Kafka broker of tests/kafka (built once)
eval "$(scripts/deploy-checks-setup.sh)"  # AWS provider schema + hadolint for tests/python (cached)
IMGLAKE_BROWSER_VENV="$(scripts/setup-browser.sh)"; export IMGLAKE_BROWSER_VENV  # chromium + Playwright (console tests)
export IMGLAKE_BIN="$CARGO_TARGET_DIR/debug/imglake"

# A shared target directory grows without bound: every clone path and dependency set leaves
# its own test executables and incremental caches. Drop those unchanged for a week (one still
# in use is rebuilt, which takes a minute at most).
if [[ -d "$CARGO_TARGET_DIR/debug/deps" ]]; then
  find "$CARGO_TARGET_DIR/debug/deps" -maxdepth 1 -type f ! -name '*.*' -mtime +7 -delete || true
fi
if [[ -d "$CARGO_TARGET_DIR/debug/incremental" ]]; then
  find "$CARGO_TARGET_DIR/debug/incremental" -mindepth 1 -maxdepth 1 -type d -mtime +7 \
    -exec rm -rf {} + || true
fi

echo "== Rust tests"
# The end-to-end tests run the CLI and the Lambda binaries of every package (stream-export,
# compact, upload, kafka-ingest, process); cargo builds a package's binaries only for that
# package's own tests, so build them all first.
cargo build --workspace --bins
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
# Doc tests (nextest does not run them).
cargo test --workspace --doc --quiet

echo "== Python tests (sql/ parsed by sqlglot, terraform/ by python-hcl2 and checkov)"
"$IMGLAKE_VENV/bin/python" -m pytest -q tests/python

echo "== Browser tests (the web console of imglake serve in Debian's chromium)"
"$IMGLAKE_BROWSER_VENV/bin/python" -m pytest -q tests/python/browser
