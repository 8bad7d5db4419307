#!/usr/bin/env bash
# Builds the deployable Lambda zips (arm64, provided.al2023) with cargo-lambda and zig, both
# from PyPI, and puts them where terraform/ looks: target/lambda/<binary>/bootstrap.zip.
#   scripts/build-lambdas.sh            # every Lambda binary that exists today
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/imglake/target}"
venv="$(scripts/python-env.sh lambda)"
export PATH="$venv/bin:$PATH"
rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
# Lambda binaries live in the exporter crate (and, later, the pipeline crate); the imglake CLI
# is not a Lambda and links DataFusion, so it is not built here.
cargo lambda build --release --arm64 --output-format zip -p imglake-exporter
mkdir -p target/lambda
for zip in "$CARGO_TARGET_DIR"/lambda/*/bootstrap.zip; do
  name="$(basename "$(dirname "$zip")")"
  mkdir -p "target/lambda/$name"
  cp "$zip" "target/lambda/$name/bootstrap.zip"
  echo "target/lambda/$name/bootstrap.zip ($(du -h "$zip" | cut -f1))"
done
