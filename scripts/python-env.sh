#!/usr/bin/env bash
# Creates (once) a Python virtualenv from scripts/requirements-NAME.txt and prints its path.
#   scripts/python-env.sh [test|checkov]     (default: test)
# The venv lives in ~/.cache/imglake/ (IMGLAKE_VENV overrides the test one) and is reused
# while its requirements file is unchanged.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
name="${1:-test}"
req="$here/requirements-$name.txt"
[[ -f "$req" ]] || { echo "error: no $req" >&2; exit 2; }
case "$name" in
  test) venv="${IMGLAKE_VENV:-$HOME/.cache/imglake/venv}" ;;
  *) venv="$HOME/.cache/imglake/venv-$name" ;;
esac
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "$venv"; exit 0
fi
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  echo "python3 venv support is missing; installing python3-venv with apt" >&2
  if [[ $(id -u) -eq 0 ]]; then
    apt-get update -qq >&2 && apt-get install -y -qq python3-venv >&2
  else
    echo "error: run 'sudo apt-get install python3-venv' and retry" >&2; exit 1
  fi
fi
echo "creating the '$name' Python virtualenv in $venv (a few minutes, once)" >&2
rm -rf "$venv"
python3 -m venv "$venv" >&2
"$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip >&2
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
echo "$want" > "$stamp"
echo "$venv"
