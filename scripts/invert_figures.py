"""The figures of README.md ("Edit your own photo") / the README's "Edit your own photo" section.

Run: PYTHONPATH=src python scripts/invert_figures.py [--steps 300 --restarts 4] (needs scikit-image
for the astronaut portrait). Writes docs/invert-*.png and prints the numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from lowrankgan import api
from lowrankgan.photos.invert import invert_image, psnr, seed_target, ssim
from lowrankgan.photos.photo import Alignment, crop
from lowrankgan.models.stylegan2.adapter import build_random_stylegan2

DOCS = Path(__file__).resolve().parent.parent / "docs"
UNUSED_SEEDS = list(range(90001, 90007))  # seeds no test, preset or figure uses


def to_img(t: torch.Tensor) -> Image.Image:
    if t.dtype == torch.uint8:  # a pasted photo
        return Image.fromarray(t.permute(1, 2, 0).numpy())
    return Image.fromarray(((t.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy())


def strip(rows: list[list[torch.Tensor]], scale: int) -> Image.Image:
    h, w = rows[0][0].shape[-2:]
    out = Image.new("RGB", (w * scale * len(rows[0]), h * scale * len(rows)), "white")
    for r, row in enumerate(rows):
        for c, t in enumerate(row):
            out.paste(to_img(t).resize((w * scale, h * scale), Image.Resampling.NEAREST), (c * w * scale, r * h * scale))
    return out


def dcgan_round_trip(steps: int, restarts: int) -> dict:
    gen = api.load_model("dcgan-faces", device="cpu")
    rows, stats = [[], []], []
    for seed in UNUSED_SEEDS:
        target = seed_target(gen, seed)
        r = invert_image(gen, target, steps=steps, restarts=restarts, progress=False)
        # the written code, read back as latent.npy would be, renders the reconstruction
        again = gen.synthesize(torch.from_numpy(r.code.numpy().astype(np.float32))).clamp(-1, 1)
        stats.append({"seed": seed, "psnr": round(float(psnr(again, target)), 2),
                      "ssim": round(float(ssim(again, target)), 4), "s": round(r.seconds, 1)})
        rows[0].append(target[0])
        rows[1].append(again[0])
        print(stats[-1], flush=True)
    strip(rows, 2).save(DOCS / "invert-dcgan-roundtrip.png", optimize=True)
    return {"model": "dcgan-faces", "steps": steps, "restarts": restarts, "images": stats,
            "median_psnr": float(np.median([s["psnr"] for s in stats]))}


def stylegan2_round_trip(steps: int) -> dict:
    gen = build_random_stylegan2(32, 32, 512, 32, seed=5, mapping_layers=4)
    out = {"model": gen.model_id}
    rows = [[], [], []]
    for seed in (90011, 90012):
        target = seed_target(gen, seed, "w")
        rows[0].append(target[0])
        for i, space in enumerate(("w", "w+")):
            r = invert_image(gen, target, space, steps=steps, restarts=2, progress=False)
            out.setdefault(space, []).append(round(r.psnr, 2))
            rows[i + 1].append(r.reconstruction[0])
    strip(rows, 3).save(DOCS / "invert-stylegan2-roundtrip.png", optimize=True)
    return out


def astronaut(steps: int, restarts: int, work: Path, reuse: Path | None = None) -> dict:
    try:
        from skimage import data
    except ImportError:
        raise SystemExit("the astronaut figures need scikit-image: pip install -e '.[figures]'") from None
    photo_path = work / "astronaut.png"
    Image.fromarray(data.astronaut()).save(photo_path)
    gen = api.load_model("dcgan-faces", device="cpu")
    t0 = time.perf_counter()
    folder = work / "inv"
    if reuse is None:
        result = api.invert(gen, photo_path, steps=steps, restarts=restarts, progress=False)
        api.save_inversion(result, folder)
    latents = api.load_latents(reuse or folder)
    al = Alignment.from_json(latents.meta["alignment"])
    target = crop(np.asarray(Image.open(photo_path).convert("RGB")), al)
    again = gen.synthesize(torch.from_numpy(latents.codes).float()).clamp(-1, 1)  # the written code's image
    info = {"psnr": round(float(psnr(again, target)), 2), "ssim": round(float(ssim(again, target)), 3),
            "invert_s": None if reuse else round(time.perf_counter() - t0, 1), "alignment": al.method,
            "steps": latents.meta.get("steps", steps), "restarts": latents.meta.get("restarts", restarts)}
    edits = {}
    for region in ("mouth", "eyes"):
        dirs = api.find_directions(gen, latents, region, top_k=5, progress=False)
        edits[region] = api.edit(gen, dirs, latents, [-3.0, 0.0, 3.0])  # [1, 3, 3, 64, 64]
        info[f"leak_{region}"] = dirs.meta.get("leak_source_top1")
    crops = [target[0], again[0]]
    strip([crops + list(edits["mouth"][0]) + list(edits["eyes"][0])], 3).save(DOCS / "invert-astronaut-crops.png", optimize=True)
    both = torch.cat([edits["mouth"], edits["eyes"]], 1)
    regions = {"mouth": api.as_region(gen, "mouth").mask, "eyes": api.as_region(gen, "eyes").mask}
    photo = np.asarray(Image.open(photo_path).convert("RGB"))
    rows = {}  # each edit pasted with its own region, as `edit --photo` does
    for name, mode, blend in (("tone", "delta", "tone"), ("add", "delta", "add"), ("face", "face", "tone")):
        cells = []
        for region, sel in (("mouth", slice(0, 3)), ("eyes", slice(3, 6))):
            where = regions[region] if mode == "delta" else None
            cells.append(api.paste_edits(photo, latents, both[:, sel], gen, mode, where, blend)[0])
        rows[name] = torch.cat(cells)  # [6, 3, 512, 512]: mouth -3, 0, +3, eyes -3, 0, +3
    for name in ("tone", "add"):
        info[f"paste_{name}"] = paste_measures(photo, rows[name], regions, latents)
    # the face area of the photo, for the docs (the pasting itself happens at 512x512)
    x0, y0, side = 150, 40, 200
    cells = [[rows[n][i][:, y0:y0 + side, x0:x0 + side] for i in (0, 1, 2, 3, 5)] for n in ("tone", "add", "face")]
    strip(cells, 1).save(DOCS / "invert-astronaut-pasted.png", optimize=True)
    # the mouth, 3x: photo, mouth -3, +3; top: as pasted now, bottom: the change added as it is
    ys, xs = slice(115, 185), slice(200, 300)
    cells = [[torch.from_numpy(photo).permute(2, 0, 1)[:, ys, xs]] + [rows[n][i][:, ys, xs] for i in (0, 2)]
             for n in ("tone", "add")]
    strip(cells, 3).save(DOCS / "invert-astronaut-mouth.png", optimize=True)
    return info


def paste_measures(photo: np.ndarray, pasted: torch.Tensor, regions: dict, latents) -> dict:
    """What a paste does to the photo, per edit (mouth -3, +3, eyes -3, +3): pixels newly burnt out
    to 0 or 255, the luminance change (mean |dY| where the region's weight is > 0.5) and the chroma
    change (mean |dRGB - dY|, same pixels), in 8-bit units."""
    from lowrankgan.photos.blend import LUMA
    from lowrankgan.photos.photo import Alignment, region_weight

    al = Alignment.from_json(latents.meta["alignment"])
    out = {}
    for i, (region, s) in zip((0, 2, 3, 5), (("mouth", -3), ("mouth", 3), ("eyes", -3), ("eyes", 3))):
        w = region_weight(regions[region], al.size)[None, None]
        inv = torch.from_numpy(al.inverse()).float()
        h, wd = photo.shape[:2]
        ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(wd) + 0.5, indexing="ij")
        u = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
        v = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
        grid = torch.stack([u / al.size * 2 - 1, v / al.size * 2 - 1], -1)[None]
        inside = torch.nn.functional.grid_sample(w, grid, align_corners=False)[0, 0].numpy() > 0.5
        p = photo.astype(float)
        q = pasted[i].permute(1, 2, 0).numpy().astype(float)
        dy = ((q - p) * LUMA).sum(-1)
        chroma = np.abs(q - p - dy[..., None]).mean(-1)
        burnt = int((((q == 255) & (p < 255)) | ((q == 0) & (p > 0))).any(-1).sum())
        out[f"{region}{s:+d}"] = {"burnt_px": burnt, "dY": round(float(np.abs(dy[inside]).mean()), 2),
                                  "dchroma": round(float(chroma[inside].mean()), 2)}
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--restarts", type=int, default=4)
    p.add_argument("--only", default="dcgan,stylegan2,astronaut")
    p.add_argument("--work", default="/tmp/invert-figures")
    p.add_argument("--reuse", default=None, help="the astronaut's inversion folder from an earlier run (skips inverting)")
    args = p.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    results = {}
    if "astronaut" in args.only:
        results["astronaut"] = astronaut(args.steps * 2, args.restarts, work, args.reuse and Path(args.reuse))
        print(results["astronaut"], flush=True)
    if "stylegan2" in args.only:
        results["stylegan2"] = stylegan2_round_trip(args.steps)
        print(results["stylegan2"], flush=True)
    if "dcgan" in args.only:
        results["dcgan"] = dcgan_round_trip(args.steps, args.restarts)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
