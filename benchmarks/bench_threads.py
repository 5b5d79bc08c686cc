"""CPU time and wall time of each heavy path at 1, 2 and all threads (intra-op ``torch.set_num_threads``,
and inter-op threads), on dcgan-faces (64²), omniart-eyes (128²) and a random StyleGAN2 (256²).

    .venv/bin/python benchmarks/bench_threads.py [--quick] [--threads 1,2,0] [--repeat 3]

Each cell runs in a fresh process (inter-op threads can only be set before torch's first parallel
work), warms up once, then times ``--repeat`` runs; the table gives the median per run. ``0`` threads
means all cores. Run it on an idle machine and on a loaded one: the load average is printed with
the table, since a loaded machine punishes extra threads (they spin while waiting for a core).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

WORKLOADS = ("jacobian", "rpca", "invert", "leak", "render")
MODELS = {64: "dcgan-faces", 128: "omniart-eyes", 256: "stylegan2-random-256"}


def _model(size: int):
    from lowrankgan.models import load_model
    from lowrankgan.models.stylegan2.adapter import build_random_stylegan2
    if size == 256:
        return build_random_stylegan2(256, 128, 2048, 128, seed=1, mapping_layers=2)
    return load_model(MODELS[size], device="cpu")


def _job(workload: str, size: int):
    """The work of one cell, as a callable (set-up excluded)."""
    import torch
    from lowrankgan.maths.factorize import robust_pca
    from lowrankgan.maths.jacobian import compute_jacobian, default_analysis_size
    from lowrankgan.maths.metrics import measure_leaks
    from lowrankgan.maths.regions import parse_region
    from lowrankgan.photos.invert import invert_image, seed_target
    gen = _model(size)
    space = gen.default_space
    codes = gen.sample([3], space)
    code = codes[0]
    analysis = default_analysis_size(gen)
    if workload == "jacobian":
        return lambda: compute_jacobian(gen, code, space, None, analysis, cache=False, progress=False)
    if workload == "rpca":
        J = compute_jacobian(gen, code, space, None, analysis, cache=False, progress=False)
        M = (J.T @ J).double()
        return lambda: robust_pca(M)
    if workload == "invert":
        target = seed_target(gen, 7, space)
        return lambda: invert_image(gen, target, space, steps=10, restarts=4, progress=False)
    if workload == "leak":
        r = gen.resolution
        mask = torch.from_numpy(parse_region(f"box:{r // 3},{r // 4},{r // 4},{r // 2}", r, {}).mask)
        direction = torch.nn.functional.normalize(torch.randn(gen.latent_dim_for(space), generator=torch.Generator().manual_seed(0)), dim=0)
        return lambda: measure_leaks(gen, codes, direction, mask, space, None, 0.1)
    batch = gen.sample(list(range(8)), space)
    return lambda: gen.synthesize(batch, space)


def one(workload: str, size: int, threads: int, interop: int, repeat: int) -> dict:
    import torch
    torch.set_num_interop_threads(interop or os.cpu_count() or 1)
    torch.set_num_threads(threads or os.cpu_count() or 1)
    with torch.inference_mode(workload in ("render",)):
        fn = _job(workload, size)
        fn()  # warm-up: lazy initialisation, allocator
        walls, cpus = [], []
        for _ in range(repeat):
            w, c = time.perf_counter(), time.process_time()
            fn()
            walls.append(time.perf_counter() - w)
            cpus.append(time.process_time() - c)
    return {"wall": statistics.median(walls), "cpu": statistics.median(cpus)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2,0", help="intra-op thread counts to compare (0: all cores)")
    parser.add_argument("--sizes", default="64,128,256")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="64² only, one repeat")
    parser.add_argument("--one", nargs=4, metavar=("WORKLOAD", "SIZE", "THREADS", "INTEROP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        w, s, t, i = args.one
        print(json.dumps(one(w, int(s), int(t), int(i), args.repeat)))
        return
    sizes = [64] if args.quick else [int(s) for s in args.sizes.split(",")]
    repeat = 1 if args.quick else args.repeat
    counts = [int(t) for t in args.threads.split(",")]
    cores = os.cpu_count() or 1
    print(f"{cores} cores; load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'workload':9s} {'size':>5s} {'threads':>8s} {'interop':>8s} {'wall s':>8s} {'cpu s':>8s} {'cpu/best':>9s}")
    env = {**os.environ, "OMP_NUM_THREADS": "", "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    env.pop("OMP_NUM_THREADS")
    for workload in args.workloads.split(","):
        for size in sizes:
            rows = []
            for t in counts:
                for inter in sorted({1, t or cores}):
                    cmd = [sys.executable, __file__, "--one", workload, str(size), str(t), str(inter), "--repeat", str(repeat)]
                    res = json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout.splitlines()[-1])
                    rows.append((t or cores, inter, res))
            best = min(r["cpu"] for _, _, r in rows)
            for t, inter, r in rows:
                print(f"{workload:9s} {size:5d} {t:8d} {inter:8d} {r['wall']:8.3f} {r['cpu']:8.3f} {r['cpu'] / best:9.2f}", flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
