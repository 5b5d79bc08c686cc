"""The page's slider render after Compute: time of ``GET /api/render`` with the cached local paths
(the page's default path steps) against the straight line (path steps 0), through the Flask app
in-process (a test client: routing, validation, the edit, PNG encoding and the inside/outside
readout; no socket).

    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_slider_render.py \\
        [--model dcgan-faces|omniart-eyes] [--seed 6] [--box TOP,LEFT,HEIGHT,WIDTH] [--top-k 3] \\
        [--renders 40] [--threads 1]

Compute runs once (its time includes walking every direction's path, both signs, to its slider
ends); then ``--renders`` renders for each kind of slider setting: one slider at a fraction of its
own + or − end (fractions spread over −1 … 1, as a drag does), and all sliders at once. Printed: the
Compute time and, per setting and path mode, the median and 90th percentile render time in ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

from lowrankgan import api
from lowrankgan.web.server import create_app
from lowrankgan.web.session import Workspace

TOKEN = "bench-slider-render"
BOXES = {"dcgan-faces": (23, 16, 10, 31), "omniart-eyes": (40, 30, 24, 68)}  # eyes, roughly


def box_bits(box: tuple[int, int, int, int], size: int) -> str:
    top, left, height, width = box
    m = np.zeros((size, size), bool)
    m[top:top + height, left:left + width] = True
    return "".join("1" if v else "0" for v in m.ravel())


def compute(client, model: str, seed: int, mask: str, top_k: int) -> dict:
    resp = client.post("/api/compute", json={"model": model, "seed": seed, "mask": mask, "top_k": top_k})
    if resp.status_code != 202:
        raise SystemExit(f"compute refused: {resp.get_json()}")
    job_id = resp.get_json()["job"]
    while True:
        job = client.get(f"/api/jobs/{job_id}").get_json()
        if job["state"] in ("done", "error"):
            break
        time.sleep(0.1)
    if job["state"] != "done":
        raise SystemExit(f"compute failed: {job}")
    return job["result"]


def slider_settings(dirs: list[dict], n: int) -> dict[str, list[list[float]]]:
    """Per setting, ``n`` alpha vectors: each slider alone swept over its ends, and all at once."""
    fracs = np.linspace(-1, 1, n)
    out = {}
    for i, d in enumerate(dirs):
        rows = []
        for f in fracs:
            a = [0.0] * len(dirs)
            a[i] = float(f * (d["plus"] if f >= 0 else d["minus"]))
            rows.append(a)
        out[f"slider {i + 1} alone"] = rows
    out["all sliders"] = [[float(f * (d["plus"] if f >= 0 else d["minus"])) for d in dirs] for f in fracs]
    return out


def time_renders(client, result: str, seed: int, alphas: list[list[float]], steps: int) -> list[float]:
    times = []
    for a in alphas:
        url = (f"/api/render?result={result}&seed={seed}&path_steps={steps}"
               f"&alphas={','.join(f'{v:.6f}' for v in a)}")
        t0 = time.perf_counter()
        resp = client.get(url)
        times.append(time.perf_counter() - t0)
        if resp.status_code != 200:
            raise SystemExit(f"render failed: {resp.get_json()}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="dcgan-faces", choices=sorted(BOXES))
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--box", default=None, help="TOP,LEFT,HEIGHT,WIDTH (default: the model's eyes)")
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--renders", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    workspace = Workspace([args.model], device="cpu")
    client = create_app(workspace, allowed_hosts={"localhost"}, token=TOKEN).test_client()
    client.environ_base["HTTP_X_LOWRANKGAN_TOKEN"] = TOKEN
    gen = workspace.model(args.model)
    box = tuple(int(v) for v in args.box.split(",")) if args.box else BOXES[args.model]
    t0 = time.perf_counter()
    res = compute(client, args.model, args.seed, box_bits(box, gen.resolution), args.top_k)
    compute_s = time.perf_counter() - t0
    while True:  # the local paths are walked in the background after Compute answers
        walk = client.get(f"/api/paths?result={res['result']}").get_json()
        if walk["state"] != "running":
            break
        time.sleep(0.1)
    walk_s = time.perf_counter() - t0 - compute_s
    if walk["state"] != "done":
        raise SystemExit(f"the path walk ended {walk['state']}: {walk.get('error')}")
    print(f"{args.model} ({gen.resolution}²), seed {args.seed}, box {','.join(map(str, box))}, "
          f"{args.top_k} directions, {args.threads} thread(s): Compute answered in {compute_s:.2f} s; its local "
          f"paths walked {walk_s:.1f} s later ({walk['total']} steps); load average {os.getloadavg()[0]:.1f}")
    print(f"{'setting':18s} {'path':9s} {'median ms':>10s} {'p90 ms':>8s}")
    time_renders(client, res["result"], args.seed, [[0.0] * args.top_k], api.DEFAULT_STEPS)  # first render: warm
    for name, alphas in slider_settings(res["directions"], args.renders).items():
        for label, steps in (("local", api.DEFAULT_STEPS), ("straight", 0)):
            ms = [1000 * t for t in time_renders(client, res["result"], args.seed, alphas, steps)]
            p90 = statistics.quantiles(ms, n=10)[-1]
            print(f"{name:18s} {label:9s} {statistics.median(ms):10.1f} {p90:8.1f}")
    workspace.close()


if __name__ == "__main__":
    main()
