#!/usr/bin/env bash
# The main job on the embedded default model: fetch dcgan-faces, find directions for the mouth
# averaged over 20 faces, write an edit grid and a GIF of them applied to 6 other faces.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
out=${1:-out/demo}
lrg=.venv/bin/lowrankgan
$lrg models
$lrg directions --model dcgan-faces --seeds 100-119 --region mouth --out "$out/mouth"
$lrg edit --directions "$out/mouth" --seeds 0-5 --strengths=-3:3:7 --out "$out/mouth_grid.png"
$lrg edit --directions "$out/mouth" --seeds 0-5 --strengths=-3:3:7 --out "$out/mouth_sweep.gif"
$lrg edit --directions "$out/mouth" --seeds 0-2 --strengths=-3:3:7 --outline --out "$out/mouth_report.html"
echo "demo outputs in $out: mouth/ (directions), mouth_grid.png, mouth_sweep.gif, mouth_report.html"
