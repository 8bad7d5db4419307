#!/usr/bin/env bash
# Builds (once) the tansu Kafka-protocol broker the Kafka end-to-end tests run against, and
# prints the path of its binary.
#   scripts/tansu.sh
# The binary lives in ~/.cache/imglake/tansu-<version>/bin/tansu, outside the clone, and is
# reused while its version and features are unchanged (the cold build compiles ~700 crates:
# about 18 minutes on 2 cores: 1072 s measured). IMGLAKE_TANSU=/path/to/tansu skips all of this.
# Features: dynostore (in-memory storage), libsql (sqlite:// storage that survives a
# restart, and the SCRAM credentials that SASL/SCRAM authentication checks).
set -euo pipefail
version="0.6.0"
features="dynostore,libsql"
if [[ -n "${IMGLAKE_TANSU:-}" ]]; then
  [[ -x "$IMGLAKE_TANSU" ]] || { echo "error: IMGLAKE_TANSU=$IMGLAKE_TANSU is not executable" >&2; exit 2; }
  echo "$IMGLAKE_TANSU"; exit 0
fi
root="$HOME/.cache/imglake/tansu-$version"
bin="$root/bin/tansu"
stamp="$root/features"
built() { [[ -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$features" ]]; }
if built; then echo "$bin"; exit 0; fi
mkdir -p "$HOME/.cache/imglake"
# Two test runs starting at once build it once: the second waits for the first.
exec 9>"$HOME/.cache/imglake/tansu-$version.lock"
flock 9
if built; then echo "$bin"; exit 0; fi
echo "building the tansu $version Kafka broker ($features) into $root (about 18 minutes on 2 cores, once)" >&2
# Its own target directory, not the workspace's: the broker's ~700 crates must not evict the
# workspace's build. Installed beside the old one and moved into place when complete, so a
# failed build leaves no half-installed binary.
build="$HOME/.cache/imglake/tansu-$version.build"
staging="$root.tmp"
rm -rf "$staging"
env -u CARGO_TARGET_DIR -u RUSTFLAGS CARGO_TARGET_DIR="$build" \
  nice -n 10 cargo install tansu --version "=$version" --features "$features" --locked \
  --root "$staging" --quiet >&2
echo "$features" > "$staging/features"
rm -rf "$root"
mv "$staging" "$root"
rm -rf "$build"
echo "$bin"
