"""Benchmark of ``lowrankgan evaluate`` on dcgan-faces: 10 seeds x 3 regions x all methods.

Each seed's own directions (``--per-image``, the paper's setting), top-3 directions, leak at in-region
RMS targets 0.05 / 0.1 / 0.2, masked MSE at strength 3, and the path-following comparison of the top
lowrankgan direction (4 re-projections up to 3x the calibrated strength). Prints the wall time and the
comparison table (markdown, as pasted in docs/evaluate.md).

    LOWRANKGAN_HOME=... python benchmarks/bench_evaluate.py [--out DIR] [--seeds 0-9] [--path-steps 4]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from lowrankgan.maths.edit import parse_int_list
from lowrankgan.evaluation import DEFAULT_METHODS, evaluate, format_table


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/lowrankgan-bench-evaluate")
    ap.add_argument("--seeds", default="0-9")
    ap.add_argument("--regions", default="eyes,mouth,nose")
    ap.add_argument("--path-steps", type=int, default=4)
    ap.add_argument("--resume", action="store_true", help="keep results already in --out (default: start fresh)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    summary = evaluate("dcgan-faces", args.regions.split(","), parse_int_list(args.seeds), DEFAULT_METHODS,
                       per_image=True, top_k=3, targets=(0.05, 0.1, 0.2), mse_strength=3.0,
                       path_steps=args.path_steps, path_methods=("lowrankgan",), out=args.out,
                       fresh=not args.resume, device="cpu", progress=True)
    elapsed = time.perf_counter() - t0
    print(f"\nevaluate dcgan-faces: {len(summary['seeds'])} seeds x {len(summary['regions'])} regions x "
          f"{len(summary['methods'])} methods, {summary['records']} records: {elapsed:.1f} s "
          f"(torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"{platform.processor() or platform.machine()})\n")
    print(format_table(summary))
    print(f"\nreport: {args.out}/report.html")


if __name__ == "__main__":
    main()
