#!/usr/bin/env bash
# Benchmark: image processing (decode → orient → thumb + display → JPEG), imglake against
# libvips (pyvips, shrink-on-load) and Pillow (draft + exif_transpose + thumbnail), on real
# 8–16 MP photographs, one run, one core each, plus the `djpeg -scale 1/4` floor.
# Prints a Markdown table (the one in BENCHMARKS.md comes from here).
#   scripts/bench-process.sh            # IMGLAKE_BENCH_REPEATS=N for N timed runs (default 7)
#
# The photographs are the five 8–16 MP camera photographs of Debian's lomiri-wallpapers-16.04
# package (CC-BY / CC-BY-SA, all progressive JPEG): fetched with `apt-get download`, extracted
# into ~/.cache/imglake/bench-images, then a baseline copy of each is made losslessly with
# jpegtran and one gets EXIF orientation 6 (a portrait camera shot) with exiftool.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/imglake/target}"
images="${IMGLAKE_BENCH_IMAGES:-$HOME/.cache/imglake/bench-images}"

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "error: run as root or install sudo to get: ${*: -1}" >&2; exit 1
  fi
}

# djpeg/jpegtran (libjpeg-turbo-progs), exiftool (libimage-exiftool-perl), taskset (util-linux).
missing=()
command -v djpeg >/dev/null && command -v jpegtran >/dev/null || missing+=(libjpeg-turbo-progs)
command -v exiftool >/dev/null || missing+=(libimage-exiftool-perl)
command -v taskset >/dev/null || missing+=(util-linux)
if ((${#missing[@]})); then
  echo "installing ${missing[*]} with apt-get" >&2
  as_root apt-get update -qq >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi

# name  package  path inside the package
photos=(
  "bridge       lomiri-wallpapers-16.04 usr/share/backgrounds/Bridge_by_Sander_Klootwijk.jpg"
  "dragonfly    lomiri-wallpapers-16.04 usr/share/backgrounds/Dragonfly_by_Bolly.jpg"
  "picos        lomiri-wallpapers-16.04 usr/share/backgrounds/picosdeeuropa_by_Aitzol_Berasategi.jpg"
  "seeding      lomiri-wallpapers-16.04 usr/share/backgrounds/seeding_by_Clements_Engelhardt.jpg"
  "sunset       lomiri-wallpapers-16.04 usr/share/backgrounds/sunset_by_Aitzol_Berasategi.jpg"
)
if [[ ! -f "$images/.complete" ]]; then
  echo "fetching the benchmark photographs into $images" >&2
  rm -rf "$images" && mkdir -p "$images/debs"
  (cd "$images/debs" && apt-get download lomiri-wallpapers-16.04 >&2 ||
    { as_root apt-get update -qq >&2 && apt-get download lomiri-wallpapers-16.04 >&2; })
  for deb in "$images"/debs/*.deb; do dpkg-deb -x "$deb" "$images/pkg"; done
  for line in "${photos[@]}"; do
    read -r name _ path <<<"$line"
    cp "$images/pkg/$path" "$images/$name-progressive.jpg"
    # Same coefficients, sequential (baseline) coding; metadata kept.
    jpegtran -copy all -optimize -outfile "$images/$name-baseline.jpg" "$images/pkg/$path"
  done
  # A portrait shot as a camera writes it: pixels stored landscape, EXIF Orientation 6.
  exiftool -q -n -Orientation=6 -o "$images/dragonfly-baseline-orient6.jpg" \
    "$images/dragonfly-baseline.jpg"
  rm -rf "$images/pkg" "$images/debs"
  touch "$images/.complete"
fi

IMGLAKE_BENCH_VENV="$(scripts/python-env.sh bench-image)"
export IMGLAKE_BENCH_IMAGES="$images" IMGLAKE_BENCH_VENV
nice -n 5 cargo bench -p imglake-pipeline --bench process "$@"
