#!/usr/bin/env bash
# The whole test suite (slow tests included), after installing what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
LOWRANKGAN_EXTRAS=${LOWRANKGAN_EXTRAS:-test} bash scripts/setup.sh
bash scripts/install_browser.sh .venv/bin/python >/dev/null   # Debian chromium for the web page test
exec .venv/bin/python -m pytest "$@"
