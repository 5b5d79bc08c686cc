"""Strong edits: leak against in-region change for the straight line, the path that re-derives the
region's best direction at each step (``pathedit``, ``follow="rederive"``) and the local path (the
default edit, ``maths.localpath``).

    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_strong_edits.py \\
        [--model dcgan-faces|omniart-eyes|sg2-w|sg2-w+] [--split tuning|heldout] [--images 6] \\
        [--regions 2] [--directions 3] [--steps 8] [--mu 0.01] [--no-rederive] [--max-seconds S]

For each case of the split (tuning: seeds 0.. with the model's presets and tuning-stream boxes;
held-out: seeds 10000.. with held-out boxes), each of the first ``--directions`` default
``lowrankgan`` directions and each sign, every variant walks from the source code to 1.25x the
straight-line strength that gives in-region RMS 0.4; the RMS change inside and outside is read at
``4·steps + 1`` points along the way (between path nodes as the edit renders them) and the leak
(outside / inside) interpolated at in-region RMS 0.1 … 0.4 (both signs averaged; ``inf`` where a
variant does not get there). Printed: the median leak per direction, variant and level, the share of
cases reaching 0.3, and each variant's time. ``sg2-w`` / ``sg2-w+`` is a randomly initialised
StyleGAN2 (32², w 64, ToRGB weights scaled by 0.3 so that its pictures stay in [-1, 1]): only the
ratios to the straight line mean anything there.
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from lowrankgan.maths.jacobian import default_analysis_size, embed_direction, region_gram_pair
from lowrankgan.maths.localpath import MU, direction_path
from lowrankgan.maths.methods import lowrankgan_directions
from lowrankgan.maths.metrics import images_of, measure_leak, median, rms_inside_outside
from lowrankgan.maths.pathedit import interpolate_path, path_codes
from lowrankgan.maths.protocol import heldout_cases, tuning_cases
from lowrankgan.maths.regions import parse_region
from lowrankgan.models import load_model
from lowrankgan.models.stylegan2.adapter import build_random_stylegan2

LEVELS = (0.1, 0.2, 0.3, 0.4)


def leak_at(inside: list[float], outside: list[float], level: float) -> float:
    """Outside / inside where the in-region RMS first reaches ``level`` (linear between points)."""
    for i in range(1, len(inside)):
        if inside[i] >= level:
            t = (level - inside[i - 1]) / max(inside[i] - inside[i - 1], 1e-12)
            return (outside[i - 1] + t * (outside[i] - outside[i - 1])) / level
    return math.inf


def model_and_space(name: str):
    if name.startswith("sg2"):
        gen = build_random_stylegan2(32, 64, 1024, 64, seed=3, mapping_layers=2)
        # Random weights render two thirds of the pixels outside [-1, 1], and the leak is measured on
        # the clamped images a user sees: there most changes vanish. Scaled ToRGB weights keep the
        # pictures in range (a few per cent clipped, as a trained model's), as the StyleGAN2 tests do.
        with torch.no_grad():
            for key, p in gen.generator.named_parameters():
                if "torgb" in key and key.endswith("weight"):
                    p.mul_(0.3)
        gen.model_id += "-torgb0.3"  # another network: its own Jacobian cache entries
        return gen, name.split("-", 1)[1]
    return load_model(name, device="cpu"), "z"


def run_case(gen, space, case, directions, steps, mu, variants, clock, channels=True):
    reg = parse_region(case.region, gen.resolution, gen.presets)
    mask = torch.from_numpy(reg.mask)
    code = gen.sample([case.seed], space)[0]
    grams = region_gram_pair(gen, code[None], reg, space, None, default_analysis_size(gen), progress=False)
    vecs = lowrankgan_directions(grams.M_f, grams.M_b, top_k=directions).vectors
    layers = None  # the model's default layers in W+, as the Grams used
    base = images_of(gen, code[None], space)
    rows = []
    for p in vecs:
        strong = measure_leak(gen, code, p, mask, space, layers, target=0.4)
        if not all(s == s for s in strong.strengths):
            rows.append(None)
            continue
        tops = tuple(1.25 * a for a in strong.strengths)
        row = {v: [0.0] * len(LEVELS) for v in variants}
        paths = {}
        t0 = time.perf_counter()
        paths["local"] = direction_path(gen, code, p, tops, reg, space, layers, steps=steps, mu=mu, channels=channels)
        clock["local"] += time.perf_counter() - t0
        for sign, top in zip((1.0, -1.0), tops):
            grid = torch.linspace(0, top, 4 * steps + 1)
            codes = {"straight": torch.stack([code + sign * g * embed_direction(gen, p, space, layers) for g in grid]),
                     "local": torch.stack([paths["local"].at(sign * float(g)) for g in grid])}
            if "rederive" in variants:
                t0 = time.perf_counter()
                path = path_codes(gen, code, p, sign * top, steps, reg, space, layers, follow="rederive")
                clock["rederive"] += time.perf_counter() - t0
                codes["rederive"] = interpolate_path(path, top, grid.tolist())
            for name in variants:
                ins, outs = rms_inside_outside(images_of(gen, codes[name], space) - base, mask)
                for i, level in enumerate(LEVELS):
                    row[name][i] += leak_at(ins.tolist(), outs.tolist(), level) / 2
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="dcgan-faces")
    parser.add_argument("--split", choices=["tuning", "heldout"], default="tuning")
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--regions", type=int, default=2)
    parser.add_argument("--directions", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--mu", type=float, default=MU)
    parser.add_argument("--no-rederive", action="store_true")
    parser.add_argument("--mean-channel", action="store_true",
                        help="the local path on channel-averaged images (before per-channel rows)")
    parser.add_argument("--max-seconds", type=float, default=math.inf,
                        help="start no new case after this long (the table covers the cases done)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    gen, space = model_and_space(args.model)
    variants = ("straight", "local") if args.no_rederive else ("straight", "rederive", "local")
    if args.split == "heldout":
        cases = heldout_cases(gen.resolution, args.images, args.regions)
    else:  # presets first, then tuning-stream boxes, on seeds 0..
        cases = tuning_cases(gen.presets, gen.resolution, list(range(args.images)), args.regions)
    clock = {v: 0.0 for v in variants}
    t0 = time.perf_counter()
    results = []
    for c in cases:
        if time.perf_counter() - t0 > args.max_seconds:
            break
        results.append(run_case(gen, space, c, args.directions, args.steps, args.mu, variants, clock,
                                not args.mean_channel))
        print(f"case {len(results)}/{len(cases)} done ({c.region}, seed {c.seed}), {time.perf_counter() - t0:.0f} s",
              flush=True)
    print(f"{args.model} ({space}), {args.split} split: {len(results)} of {len(cases)} cases, {args.steps} path steps, mu {args.mu}; "
          "median leak at in-region RMS")
    print(f"{'dir':4s} {'variant':9s} " + " ".join(f"{lv:>7.1f}" for lv in LEVELS) + "  reached 0.3")
    for d in range(args.directions):
        rows = [r[d] for r in results if d < len(r) and r[d] is not None]
        for name in variants:
            cols = [[r[name][i] for r in rows] for i in range(len(LEVELS))]
            reached = sum(math.isfinite(x) for x in cols[2])
            print(f"{d + 1:<4d} {name:9s} " + " ".join(f"{median(c):7.3f}" for c in cols) + f"  {reached}/{len(rows)}")
    print("time: " + ", ".join(f"{v} {s:.1f} s" for v, s in clock.items() if v != "straight")
          + f"; all {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
