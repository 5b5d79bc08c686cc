#!/usr/bin/env bash
# The GPU check of the speed work: run it on a machine with a CUDA GPU and PyTorch already installed
# (never in CI; the tests never need a GPU). It prints the StyleGAN2 table (default path, chunk sweep,
# both precisions, the bound, reverse mode, W+, device Grams, TF32 vs strict directions) and the
# StyleGAN3 forward-mode cost, both on random weights, so nothing is downloaded; each log is also
# written to $OUT (default /tmp/lowrankgan-gpu). About 5-7 minutes on one H100/H200.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
out=${OUT:-/tmp/lowrankgan-gpu}
py=${PYTHON:-python3}
mkdir -p "$out"
"$py" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.__version__, torch.cuda.get_device_name(0))" || exit 2
status=0
timeout 330 "$py" benchmarks/bench_stylegan2.py --device cuda 2>&1 | tee "$out/bench_stylegan2.txt" || status=1
timeout 200 "$py" benchmarks/bench_stylegan3.py cost --device cuda 2>&1 | tee "$out/bench_stylegan3.txt" || status=1
exit $status
