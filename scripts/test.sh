#!/usr/bin/env bash
# The whole test suite (slow tests included), after installing what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
LOWRANKGAN_EXTRAS=${LOWRANKGAN_EXTRAS:-test} bash scripts/setup.sh
bash scripts/install_browser.sh .venv/bin/python >/dev/null   # Debian chromium for the web page test
# One pytest worker per core (at most 4; one core: no workers), whole files to a worker: a file's
# module fixtures (a computed result, a browser) are built once, and Ray's tests share one cluster.
# Arguments given come after, so `-n 0` runs everything in this process.
workers=$(.venv/bin/python -c "import os; n = len(os.sched_getaffinity(0)); print(0 if n < 2 else min(n, 4))")
exec .venv/bin/python -m pytest -n "$workers" --dist loadfile "$@"
