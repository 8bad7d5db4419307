#!/usr/bin/env bash
# Builds the deployable Lambda zips (arm64, provided.al2023) with cargo-lambda and zig, both
# from PyPI, and puts them where terraform/ looks: target/lambda/<binary>/bootstrap.zip.
#   scripts/build-lambdas.sh   # stream-export, compact, redrive, reconcile, upload, kafka-ingest, process
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/imglake/target}"
venv="$(scripts/python-env.sh lambda)"
export PATH="$venv/bin:$PATH"
rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
# Every Lambda binary lives in the lambdas crate; the imglake CLI is not a Lambda and links
# DataFusion, so it is not built here.
lambdas=(stream-export compact redrive reconcile upload kafka-ingest process)
cargo lambda build --release --arm64 --output-format zip -p imglake-lambdas
mkdir -p target/lambda
# Exactly the functions terraform/ deploys (modules/lambda_function: <dir>/<binary>/bootstrap.zip);
# a missing one fails here rather than at `terraform plan`.
for name in "${lambdas[@]}"; do
  zip="$CARGO_TARGET_DIR/lambda/$name/bootstrap.zip"
  if [[ ! -f "$zip" ]]; then
    echo "error: cargo lambda did not produce $zip" >&2
    exit 1
  fi
  mkdir -p "target/lambda/$name"
  cp "$zip" "target/lambda/$name/bootstrap.zip"
  echo "target/lambda/$name/bootstrap.zip ($(du -h "$zip" | cut -f1))"
done
