#!/usr/bin/env bash
# Installs (once) what the console's browser tests need and prints the Python virtualenv to
# run them with:
#   - Debian's chromium (apt, when /usr/bin/chromium is missing; as root, no tty needed);
#   - Playwright for Python in ~/.cache/imglake/venv-browser (scripts/requirements-browser.txt,
#     through scripts/python-env.sh). Playwright drives the system chromium: its own browser
#     download (`playwright install`) is never run.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ ! -x /usr/bin/chromium ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "error: chromium is missing; run 'sudo apt-get install chromium' and retry" >&2
    exit 1
  fi
  echo "installing chromium with apt (once)" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-cache show chromium >/dev/null 2>&1; then
    apt-get update -qq >&2
  fi
  apt-get install -y -qq --no-install-recommends chromium >&2 \
    || { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends chromium >&2; }
fi
"$here/python-env.sh" browser
