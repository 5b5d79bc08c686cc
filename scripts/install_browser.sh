#!/usr/bin/env bash
# Install what the browser test of `lowrankgan serve` needs: Debian's Chromium (system package) and,
# when a Python interpreter is given, the `playwright` driver from PyPI. Never runs
# `playwright install`: Playwright drives the system browser at /usr/bin/chromium.
# Idempotent: does nothing that is already done.
#   usage: scripts/install_browser.sh [PYTHON]     e.g. scripts/install_browser.sh .venv/bin/python
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ ! -x "$CHROMIUM" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
            echo "install_browser.sh: $CHROMIUM is missing and this is not root (no sudo); install the Debian package 'chromium'" >&2
            exit 1
        fi
    else
        SUDO=
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
fi
"$CHROMIUM" --version

if [ "$#" -ge 1 ]; then
    PY="$1"
    if ! "$PY" -c "import playwright" >/dev/null 2>&1; then
        "$PY" -m pip install -q "playwright>=1.40"
    fi
    "$PY" -c "import playwright, importlib.metadata as m; print('playwright', m.version('playwright'))"
fi
