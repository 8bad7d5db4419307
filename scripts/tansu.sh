#!/usr/bin/env bash
# Builds (once) the tansu Kafka-protocol broker the Kafka end-to-end tests run against, and
# prints the path of its binary.
#   scripts/tansu.sh
# The binary lives in ~/.cache/imglake/tansu-<version>/bin/tansu, outside the clone, and is
# reused on every later run (the cold build compiles ~700 crates: ~16 minutes on 2 cores).
# IMGLAKE_TANSU=/path/to/tansu skips all of this.
set -euo pipefail
version="0.6.0"
if [[ -n "${IMGLAKE_TANSU:-}" ]]; then
  [[ -x "$IMGLAKE_TANSU" ]] || { echo "error: IMGLAKE_TANSU=$IMGLAKE_TANSU is not executable" >&2; exit 2; }
  echo "$IMGLAKE_TANSU"; exit 0
fi
root="$HOME/.cache/imglake/tansu-$version"
bin="$root/bin/tansu"
if [[ -x "$bin" ]]; then echo "$bin"; exit 0; fi
mkdir -p "$HOME/.cache/imglake"
# Two test runs starting at once build it once: the second waits for the first.
exec 9>"$HOME/.cache/imglake/tansu-$version.lock"
flock 9
if [[ -x "$bin" ]]; then echo "$bin"; exit 0; fi
echo "building the tansu $version Kafka broker into $root (~16 minutes on 2 cores, once)" >&2
# Its own target directory, not the workspace's: the broker's ~700 crates must not evict the
# workspace's build, and a failed build leaves no half-installed binary behind.
build="$HOME/.cache/imglake/tansu-$version.build"
staging="$root.tmp"
rm -rf "$staging"
env -u CARGO_TARGET_DIR -u RUSTFLAGS CARGO_TARGET_DIR="$build" \
  nice -n 10 cargo install tansu --version "=$version" --features dynostore --locked \
  --root "$staging" --quiet >&2
rm -rf "$root"
mv "$staging" "$root"
rm -rf "$build"
echo "$bin"
