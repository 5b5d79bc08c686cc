"""Strong edits on the held-out split: leak against in-region change for the straight line, the
path that re-projects ``p`` into the rest's null space (``follow="project"``) and the path that
re-derives the region's best direction at each step (``follow="rederive"``).

    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_strong_edits.py [--images 8] \\
        [--regions 2] [--steps 10]

For each held-out case (seeds 10000.., held-out boxes) and each sign, every variant walks from the
source code to 1.5x the straight-line strength that gives in-region RMS 0.3 (3x the metric's level);
the RMS change inside and outside is read at every step and the leak (outside / inside) is
interpolated at in-region RMS 0.1, 0.2 and 0.3 (both signs averaged; ``inf`` if a variant does not
get there). Printed: the median leak per level and variant, and how many cases reached the level.
The direction is each image's default ``lowrankgan`` top direction.
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from lowrankgan.maths.jacobian import default_analysis_size, embed_direction, region_gram_pair
from lowrankgan.maths.methods import lowrankgan_directions
from lowrankgan.maths.metrics import images_of, measure_leak, median, rms_inside_outside
from lowrankgan.models import load_model
from lowrankgan.maths.pathedit import interpolate_path, path_codes
from lowrankgan.maths.protocol import heldout_cases
from lowrankgan.maths.regions import parse_region

LEVELS = (0.1, 0.2, 0.3)
VARIANTS = ("straight", "project", "rederive")


def leak_at(inside: list[float], outside: list[float], level: float) -> float:
    """Outside / inside where the in-region RMS first reaches ``level`` (linear between steps)."""
    for i in range(1, len(inside)):
        if inside[i] >= level:
            t = (level - inside[i - 1]) / max(inside[i] - inside[i - 1], 1e-12)
            return (outside[i - 1] + t * (outside[i] - outside[i - 1])) / level
    return math.inf


def curve(gen, code, codes, mask) -> tuple[list[float], list[float]]:
    base = images_of(gen, code[None], "z")
    ins, outs = rms_inside_outside(images_of(gen, codes, "z") - base, mask)
    return ins.tolist(), outs.tolist()


def run_case(gen, case, steps: int) -> dict[str, list[float]] | None:
    reg = parse_region(case.region, gen.resolution, gen.presets)
    mask = torch.from_numpy(reg.mask)
    code = gen.sample([case.seed])[0]
    grams = region_gram_pair(gen, code[None], reg, "z", None, default_analysis_size(gen), progress=False)
    p = lowrankgan_directions(grams.M_f, grams.M_b, top_k=1).vectors[0]
    strong = measure_leak(gen, code, p, mask, target=0.3)
    if not all(s == s for s in strong.strengths):
        return None
    out: dict[str, list[float]] = {v: [0.0] * len(LEVELS) for v in VARIANTS}
    for sign, alpha in zip((1.0, -1.0), strong.strengths):
        top = 1.5 * alpha
        grid = torch.linspace(0, top, 4 * steps + 1)
        paths = {"straight": code[None] + sign * grid[:, None] * embed_direction(gen, p, "z", None)}
        for follow in VARIANTS[1:]:  # read off between the steps as the edit renders them
            path = path_codes(gen, code, p, sign * top, steps, reg, follow=follow)
            paths[follow] = interpolate_path(path, top, grid.tolist())
        for name, codes in paths.items():
            ins, outs = curve(gen, code, codes, mask)
            for i, level in enumerate(LEVELS):
                out[name][i] += leak_at(ins, outs, level) / 2
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--regions", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    gen = load_model("dcgan-faces", device="cpu")
    t0 = time.perf_counter()
    results = [r for r in (run_case(gen, c, args.steps) for c in heldout_cases(gen.resolution, args.images, args.regions))
               if r is not None]
    print(f"dcgan-faces, held-out: {len(results)} cases (straight line reaching 0.3), {args.steps} path steps; "
          "median leak at in-region RMS")
    print(f"{'variant':10s} " + " ".join(f"{lv:>10.1f}" for lv in LEVELS) + "   reached 0.3")
    for name in VARIANTS:
        cols = [[r[name][i] for r in results] for i in range(len(LEVELS))]
        reached = sum(math.isfinite(x) for x in cols[-1])
        print(f"{name:10s} " + " ".join(f"{median(c):10.3f}" for c in cols) + f"   {reached}/{len(results)}")
    print(f"({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
