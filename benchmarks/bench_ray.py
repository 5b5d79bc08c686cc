"""Benchmark of ``find_directions(..., ray=...)`` against one process: the Jacobians and region Grams
of N images of dcgan-faces (no Jacobian cache), side by side in one run.

Rows: one process with 1 torch thread, one process with all CPUs' threads, then a local Ray cluster
with 1 worker and with one worker per CPU (each worker one thread). Ray's start-up (``ray.init``) is
timed apart; each Ray row includes its workers' start (import torch, load the model), which a long
run pays once. Prints seconds, images/s and each row's speed-up over the 1-thread process.

    LOWRANKGAN_HOME=... python benchmarks/bench_ray.py [--images 12] [--model dcgan-faces]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import ray
import torch

from lowrankgan import api
from lowrankgan.distributed import ray_region_grams
from lowrankgan.maths.jacobian import region_gram_pair


def one_process(gen, seeds, region, threads: int):
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    grams = region_gram_pair(gen, gen.sample(seeds, "z"), region, "z", None, api.analysis_size(gen), cache=False,
                             progress=False)
    return time.perf_counter() - t0, grams


def on_ray(model, gen, seeds, region, workers: int):
    """Total seconds, seconds from the first task handed out (a worker is ready) to the end, Grams."""
    t0 = time.perf_counter()
    first: list[float] = []

    def note_first_task(pool):
        if not first and any(w.task is not None for w in pool.workers):
            first.append(time.perf_counter())

    grams, info = ray_region_grams("local", model, gen, seeds, gen.sample(seeds, "z"), region, "z", None,
                                   api.analysis_size(gen), cache=False, progress=False, workers=workers,
                                   on_dispatch=note_first_task)
    end = time.perf_counter()
    return end - t0, end - first[0], grams


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=12)
    ap.add_argument("--model", default="dcgan-faces")
    ap.add_argument("--region", default="mouth")
    args = ap.parse_args()
    cpus = os.cpu_count() or 1
    gen = api.load_model(args.model, device="cpu")
    region = api.as_region(gen, args.region)
    seeds = list(range(args.images))
    rows = []
    load = os.getloadavg()[0]
    base, ref = one_process(gen, seeds, region, 1)
    rows.append(("one process, 1 thread", base, base))
    alone = one_process(gen, seeds, region, cpus)[0]
    rows.append((f"one process, {cpus} threads", alone, alone))
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    start = time.perf_counter() - t0
    try:
        for workers in sorted({1, cpus}):
            elapsed, working, grams = on_ray(args.model, gen, seeds, region, workers)
            assert np.allclose(grams.M_f.numpy(), ref.M_f.numpy(), rtol=1e-10, atol=0), "Ray Grams differ"
            rows.append((f"Ray, {workers} worker{'s' * (workers > 1)}", elapsed, working))
    finally:
        ray.shutdown()
    print(f"\n{args.images} images of {args.model}, analysis {api.analysis_size(gen)}², no cache; "
          f"{cpus} CPUs ({platform.processor() or platform.machine()}), load average before / after: "
          f"{load:.1f} / {os.getloadavg()[0]:.1f}, torch {torch.__version__}, ray {ray.__version__}")
    print(f"ray.init (local cluster start, paid once): {start:.1f} s; 'working' leaves out the workers' start\n")
    print(f"{'':26s} {'total s':>8s} {'speed-up':>9s} {'working s':>10s} {'images/s':>9s} {'speed-up':>9s}")
    for name, total, working in rows:
        print(f"{name:26s} {total:8.1f} {base / total:8.2f}x {working:10.1f} {args.images / working:9.2f} "
              f"{base / working:8.2f}x")


if __name__ == "__main__":
    main()
