#!/usr/bin/env bash
# Create .venv and install lowrankgan with what the tests and demo need. Idempotent.
# PyTorch: the CPU build when the machine offers it (pip's find-links on this kind of machine);
# otherwise whatever pip resolves for `torch`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    "${pip[@]}" install "torch==2.13.0" 2>/dev/null || "${pip[@]}" install "torch>=2.1"
fi
extras=${LOWRANKGAN_EXTRAS:-test}
"${pip[@]}" install -e ".[${extras}]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import lowrankgan" # fail loudly if the install did not work
