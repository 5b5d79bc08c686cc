"""The round trip on the model's own images: generate an image for a seed nobody used, save it as a
PNG, run the default ``invert`` on the file (``api.invert``: align auto, 300 steps, 4 starts) and
measure the reconstruction against the generated image.

    .venv/bin/python benchmarks/bench_invert_roundtrip.py [--seeds 7000001-7000006] [--align auto]

An image already at the model's size and framing is taken as it is (``already_framed``); before
that rule, ``auto`` aligned the face on it and warped it by a few pixels (18-25 dB). Prints the
alignment used and the PSNR per seed, the median and the worst.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="dcgan-faces")
    parser.add_argument("--seeds", default="7000001-7000006", help="seeds nobody used (not in tests or README)")
    parser.add_argument("--align", default="auto", choices=["auto", "face", "center"])
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()

    from lowrankgan import api

    gen = api.as_model(args.model, "cpu")
    seeds = api.parse_seeds(args.seeds)
    images = api.sample(gen, seeds)
    scores = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed, image, u8 in zip(seeds, images, api.to_uint8(images)):
            path = Path(tmp) / f"seed{seed}.png"
            Image.fromarray(u8).save(path)
            t0 = time.perf_counter()
            result = api.invert(gen, path, steps=args.steps, align=args.align, progress=False)
            recon = result.inversion.reconstruction[0].clamp(-1, 1)
            mse = float(((recon - image.clamp(-1, 1)) ** 2).mean())
            psnr = 10 * np.log10(4 / mse)  # images in [-1, 1]: peak-to-peak 2
            scores.append(psnr)
            print(f"seed {seed}: {result.alignment.method:<24} PSNR {psnr:5.1f} dB against the generated image "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"{args.model}, align {args.align}, {args.steps} steps: median {np.median(scores):.1f} dB, "
          f"worst {min(scores):.1f} dB of {len(scores)}")


if __name__ == "__main__":
    main()
