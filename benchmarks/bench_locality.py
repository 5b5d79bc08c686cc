"""The paper's claims on the embedded model, measured: median leak (DESIGN §4, target 0.1) of the
top direction on seeds 0-9 for each region, per-image and transferred.

    .venv/bin/python benchmarks/bench_locality.py [--regions eyes,mouth,nose] [--seeds 0-9]

Columns: principal = top robust-PCA principal direction of the region, unprojected; lowrankgan =
the default (projected, energy order); paper-order = ``order="paper"``; resefa = generalised
eigenvector; avg(100-119) = directions from Grams averaged over seeds 100-119 applied to each image;
seed 100 = directions from seed 100 alone applied to each image.
"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--regions", default="eyes,mouth,nose")
    parser.add_argument("--seeds", default="0-9")
    args = parser.parse_args()
    from lowrankgan import api
    from lowrankgan.edit import parse_int_list
    from lowrankgan.factorize import robust_pca, spectrum
    from lowrankgan.metrics import measure_leak, median
    from lowrankgan.models import load_model

    gen = load_model("dcgan-faces", device="cpu")
    seeds = parse_int_list(args.seeds)
    t0 = time.perf_counter()
    header = ["principal", "lowrankgan", "paper-order", "resefa", "lrg avg(100-119)", "resefa avg(100-119)",
              "lrg seed 100", "resefa seed 100"]
    print(f"{'region':8s} " + " ".join(f"{h:>19s}" for h in header))
    for region in args.regions.split(","):
        reg = api.as_region(gen, region)
        mask = torch.from_numpy(reg.mask)
        shared = {m: api.find_directions(gen, list(range(100, 120)), region, m, progress=False).vectors[0]
                  for m in ("lowrankgan", "resefa")}
        single = {m: api.find_directions(gen, 100, region, m, progress=False).vectors[0]
                  for m in ("lowrankgan", "resefa")}
        cols: dict[str, list[float]] = {h: [] for h in header}
        for seed in seeds:
            code = gen.sample([seed])[0]
            grams = api.region_gram_pair(gen, code[None], reg, "z", None, gen.resolution, progress=False)
            vecs = {
                "principal": spectrum(robust_pca(grams.M_f).L)[1][:, 0].float(),
                "lowrankgan": api.find_directions(gen, seed, region, progress=False).vectors[0],
                "paper-order": api.find_directions(gen, seed, region, order="paper", progress=False).vectors[0],
                "resefa": api.find_directions(gen, seed, region, "resefa", progress=False).vectors[0],
                "lrg avg(100-119)": shared["lowrankgan"], "resefa avg(100-119)": shared["resefa"],
                "lrg seed 100": single["lowrankgan"], "resefa seed 100": single["resefa"],
            }
            for name, v in vecs.items():
                v = v if isinstance(v, torch.Tensor) else torch.from_numpy(v)
                cols[name].append(measure_leak(gen, code, v, mask).leak)
        print(f"{region:8s} " + " ".join(f"{median(cols[h]):19.3f}" for h in header), flush=True)
    print(f"({len(seeds)} seeds, {time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
