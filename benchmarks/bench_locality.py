"""Locality on a tuning split and a held-out split, side by side (lowrankgan.maths.protocol).

    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_locality.py \\
        [--model dcgan-faces|omniart-eyes|stylegan2-random] [--space w|w+] [--images 20] [--regions 3] \\
        [--generalise 20,40,100,200]

Leak = RMS change outside / inside at in-region RMS 0.1, both signs. For every (image, region) case
of a split, ``ratio`` is the leak divided by the optimum's: ReSeFa's top direction on the same image
and region (the first-order optimum of the metric). Rows: the median leak and the median ratio.

Columns: ``lrg 1/2/3`` = the default ``lowrankgan`` directions (order ``ratio``); ``energy 1`` = the
previous default (order ``energy``); ``paper 1/60`` = ``order="paper"`` with the authors' λ = 1/60
(the paper's algorithm); ``principal`` = robust-PCA principal direction of the region, unprojected;
``resefa 1/2/3`` = ReSeFa (``resefa 1`` is the optimum).

Tuning split: seeds 0, 5, ..., 95, each with ``--regions`` regions taken in turn from the presets and
tuning-stream boxes. Held-out split: seeds 10000.., each with ``--regions`` held-out boxes.

``--generalise N1,N2,..``: directions from Grams averaged over seeds 0..N-1 (for each region of the
held-out boxes and the presets) applied to held-out target images; median ratio to each target's own
optimum, as a curve over N.
"""

from __future__ import annotations

import argparse
import time

import torch

from lowrankgan.maths.factorize import robust_pca, spectrum
from lowrankgan.maths.jacobian import compute_jacobian, default_analysis_size, region_gram_pair, region_grams
from lowrankgan.maths.methods import lowrankgan_directions, resefa_directions
from lowrankgan.maths.metrics import measure_leak, median
from lowrankgan.maths.protocol import heldout_cases, tuning_cases
from lowrankgan.maths.regions import parse_region

COLUMNS = ["lrg 1", "lrg 2", "lrg 3", "energy 1", "paper 1/60", "principal", "resefa 1", "resefa 2", "resefa 3"]


def load(name: str, space: str):
    if name == "stylegan2-random":
        from lowrankgan.models.stylegan2.adapter import build_random_stylegan2
        gen = build_random_stylegan2(32, 32, 512, 32, mapping_layers=3)
    else:
        from lowrankgan.models import load_model
        gen = load_model(name, device="cpu")
    space = space or gen.default_space
    return gen, space, gen.resolve_layers(space, None)


def directions(M_f: torch.Tensor, M_b: torch.Tensor) -> dict[str, torch.Tensor]:
    lrg = lowrankgan_directions(M_f, M_b, top_k=3).vectors
    res = resefa_directions(M_f, M_b, top_k=3).vectors
    out = {f"lrg {i + 1}": lrg[i] for i in range(lrg.shape[0])}
    out["energy 1"] = lowrankgan_directions(M_f, M_b, top_k=1, order="energy").vectors[0]
    out["paper 1/60"] = lowrankgan_directions(M_f, M_b, lam=1 / 60, top_k=1, order="paper").vectors[0]
    out["principal"] = spectrum(robust_pca(M_f).L)[1][:, 0].float()
    out.update({f"resefa {i + 1}": res[i] for i in range(res.shape[0])})
    return out


def measure_split(gen, space, layers, cases) -> dict[str, list[float]]:
    """Leak of every column on every case, and the ratio to the case's optimum (``name/ratio``)."""
    size = default_analysis_size(gen)
    cols: dict[str, list[float]] = {}
    for case in cases:
        reg = parse_region(case.region, gen.resolution, gen.presets)
        mask = torch.from_numpy(reg.mask)
        code = gen.sample([case.seed], space)[0]
        grams = region_gram_pair(gen, code[None], reg, space, layers, size, progress=False)
        leaks = {name: measure_leak(gen, code, v, mask, space, layers).leak
                 for name, v in directions(grams.M_f, grams.M_b).items()}
        for name, leak in leaks.items():
            cols.setdefault(name, []).append(leak)
            cols.setdefault(name + "/ratio", []).append(leak / leaks["resefa 1"])
    return cols


def splits(gen, images: int, regions: int) -> dict[str, list]:
    tuning_all = tuning_cases(gen.presets, gen.resolution, [5 * i for i in range(images)], boxes=6)
    per_seed = len(tuning_all) // images
    tuning = [tuning_all[i * per_seed + (i * regions + j) % per_seed] for i in range(images) for j in range(regions)]
    return {"tuning": tuning, "held-out": heldout_cases(gen.resolution, images, regions)}


def print_table(results: dict[str, dict[str, list[float]]]) -> None:
    names = list(results)
    print(f"{'column':12s} " + " ".join(f"{n + ' leak':>16s} {n + ' ratio':>16s}" for n in names))
    for col in COLUMNS:
        if col not in results[names[0]]:
            continue
        print(f"{col:12s} " + " ".join(f"{median(results[n][col]):16.3f} {median(results[n][col + '/ratio']):16.3f}"
                                       for n in names))


def generalise(gen, space, layers, counts: list[int], targets: int, regions: int) -> None:
    """Median ratio (leak of averaged directions on a held-out target / the target's own optimum)."""
    size = default_analysis_size(gen)
    specs = list(gen.presets.values())[:3] + [c.region for c in heldout_cases(gen.resolution, 1, regions)]
    masks = {s: parse_region(s, gen.resolution, gen.presets) for s in specs}
    sums = {s: [0, 0] for s in specs}
    done, curve = 0, {}
    for n in sorted(counts):
        for seed in range(done, n):  # one Jacobian per source image, all regions at once
            J = compute_jacobian(gen, gen.sample([seed], space)[0], space, layers, size, cache=False, progress=False)
            for s in specs:
                f, b = region_grams(J, masks[s].at(size))
                sums[s] = [sums[s][0] + f, sums[s][1] + b]
        done = n
        curve[n] = {s: (lowrankgan_directions(sums[s][0] / n, sums[s][1] / n, top_k=1).vectors[0],
                        resefa_directions(sums[s][0] / n, sums[s][1] / n, top_k=1).vectors[0]) for s in specs}
    ratios: dict[tuple[int, str], list[float]] = {}
    for case in heldout_cases(gen.resolution, targets, 1):
        code = gen.sample([case.seed], space)[0]
        for s in specs:
            mask = torch.from_numpy(masks[s].mask)
            grams = region_gram_pair(gen, code[None], masks[s], space, layers, size, progress=False)
            own = measure_leak(gen, code, resefa_directions(grams.M_f, grams.M_b, top_k=1).vectors[0], mask,
                               space, layers).leak
            for n, per_region in curve.items():
                for method, v in zip(("lowrankgan", "resefa"), per_region[s]):
                    ratios.setdefault((n, method), []).append(measure_leak(gen, code, v, mask, space, layers).leak / own)
    print(f"generalisation: {len(specs)} regions x {targets} held-out targets; median ratio to each target's optimum")
    print(f"{'images averaged':>16s} {'lowrankgan':>12s} {'resefa':>12s}")
    for n in sorted(counts):
        print(f"{n:16d} {median(ratios[(n, 'lowrankgan')]):12.3f} {median(ratios[(n, 'resefa')]):12.3f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="dcgan-faces")
    parser.add_argument("--space", default=None)
    parser.add_argument("--images", type=int, default=20, help="images per split")
    parser.add_argument("--regions", type=int, default=3, help="regions per image")
    parser.add_argument("--generalise", default="", help="e.g. 20,40,100,200 (skips the table)")
    parser.add_argument("--targets", type=int, default=10, help="held-out targets for --generalise")
    args = parser.parse_args()
    torch.set_num_threads(1)
    gen, space, layers = load(args.model, args.space)
    t0 = time.perf_counter()
    if args.generalise:
        generalise(gen, space, layers, [int(n) for n in args.generalise.split(",")], args.targets, args.regions)
    else:
        results = {name: measure_split(gen, space, layers, cases) for name, cases in splits(gen, args.images, args.regions).items()}
        print(f"{args.model} ({space}): {args.images} images x {args.regions} regions per split; "
              "median leak and median ratio to the optimum (resefa 1, same image and region)")
        print_table(results)
    print(f"({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
