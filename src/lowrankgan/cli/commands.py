"""The subcommands: each parses nothing itself, calls the API and prints."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from .. import api
from ..errors import LowRankGANError, NoFaceFound
from .outputs import claim_folder, remove_stale
from .options import path_progress, path_summary
from .options import threads_of, load_model_of, recorded_files, out_file, float_list, method_params, seeds_or_latent, file_codes, crop_box


def cmd_models(args: argparse.Namespace) -> int:
    if args.refetch:
        print(f"{args.refetch}: fetched and verified -> {api.refetch_model(args.refetch)}")
        return 0
    if args.path:
        print(json.dumps(api.load_model(args.path, device="cpu").describe(), indent=2))
        return 0
    for row in api.model_catalog():
        if row["source"] == "zoo":
            state = "cached" if row["cached"] else "not cached (fetched on first use)"
            classes = f"; classes: {', '.join(row['classes'])}" if row["classes"] else ""
            print(f"{row['name']:14s} {row['description']} [{row['package']}, {row['license']}] - {state}{classes}")
        else:
            print(f"{row['name']:14s} {row['description']} - downloaded on first use (internet)")
    for row in api.model_catalog():
        if row["presets"]:
            print(f"  {row['name']} region presets: {', '.join(row['presets'])}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    seeds = api.parse_seeds(args.seeds)
    out = Path(args.out)
    as_dir = out.suffix.lower() != ".png"
    names = [f"seed{seed:04d}.png" for seed in seeds] + ["grid.png"]
    out = api.check_output_dir(claim_folder(args.out, "sample", args.force), names) if as_dir else out_file(args.out)
    gen = load_model_of(args)
    images = api.sample(gen, seeds, trunc=args.trunc)
    if as_dir:
        with api.staged_dir(out) as tmp:  # all the PNGs appear, or none
            for name, img in zip(names, api.to_uint8(images)):
                api.save_png(Image.fromarray(img), tmp / name)
            api.save_png(api.grid_image(images[None]), tmp / "grid.png")
        remove_stale(out, names)  # the folder holds this run's images only
    else:
        api.save_png(api.grid_image(images[None]), out)
    print(f"wrote {api.printable(out)}")
    return 0


def cmd_directions(args: argparse.Namespace) -> int:
    seeds = seeds_or_latent(args.seed, args.seeds, args.latent)
    api.check_output_dir(claim_folder(args.out, "directions", args.force), api.DIRECTION_FILES)
    gen = load_model_of(args, files=recorded_files(None, seeds))
    first = seeds if isinstance(seeds, api.Latents) else seeds[0]
    region = api.face_region(gen, gen.model_id, first, args.region, args.trunc)  # NAME@face on the first image
    dirset = api.find_directions(gen, seeds, region, args.method, args.space, api.parse_layers(args.layers),
                                 args.analysis_size, top_k=args.top_k, trunc=args.trunc, cache=not args.no_cache,
                                 ray=args.ray, precision=args.precision, leak_images=api.LEAK_IMAGES,
                                 **method_params(args, args.method))
    api.save_directions(dirset, args.out)
    meta, info = dirset.meta, dirset.meta["info"]
    ranks = f", ranks region/rest {info['rank_region']}/{info['rank_rest']}" if "rank_region" in info else ""
    print(f"{dirset.vectors.shape[0]} directions ({meta['method']}, space {meta['latent_space']}{ranks}) -> {api.printable(args.out)}")
    for warning in info.get("warnings", []):  # what the numbers alone would not say (also in directions.json)
        print(f"lowrankgan: warning: {warning}", file=sys.stderr)
    probe = meta["leak_images"]
    where = probe[0] if len(probe) == 1 else f"{', '.join(probe)} (median)"
    if math.isfinite(meta["leak_source_top1"]):
        print(f"leak of direction 0 on {where}: {meta['leak_source_top1']:.3f} "
              f"(RMS change outside / inside at inside RMS 0.1; strength ±{meta['leak_strength_top1']:.2f})")
    else:  # recorded as null in directions.json
        print(f"leak of direction 0 on {where}: not measured (no strength changes the region by RMS 0.1)")
    if dirset.vectors.shape[0] and math.isfinite(meta["leak_source_top1"]):
        where = f"leak of direction 0 at inside RMS 0.3 (the page's slider ends) on {probe[0]}"
        if args.strong_leak:
            straight, local = api.strong_leaks(gen, dirset, seeds, dirset.region or args.region, trunc=args.trunc)
            print(f"{where}: {local:.3f} along the local path (the default edit), {straight:.3f} on the straight line")
        else:  # the local path costs 2 × 8 Jacobians: kept out of the command's default time
            print(f"{where}: {meta['leak_slider_straight_top1']:.3f} on the straight line; the default edit follows "
                  f"the local path, whose leak --strong-leak measures ({2 * api.DEFAULT_STEPS} more Jacobians)")
    return 0


def cmd_edit_composed(args: argparse.Namespace) -> int:
    """``edit --alphas``: the page's composed edit ``c + Σ α_i v_i``, one image per seed side by side
    at the model's resolution (pixel for pixel the page's edited PNG)."""
    out = out_file(args.out)
    if api.output_kind(out) != "png":
        raise LowRankGANError("--alphas writes a .png (the edited images side by side)")
    if args.strengths or args.index or args.outline or args.photo:
        raise LowRankGANError("--alphas sets every direction's strength: leave out --strengths, --index, --outline "
                              "and --photo")
    seeds = seeds_or_latent(None, args.seeds, args.latent, default="0")
    dirset = api.load_directions(args.directions)
    args.region = api.region_beside(dirset, args.region)
    alphas, rec_steps, rec_seed = api.recorded_alphas(dirset, args.alphas)
    steps = args.path_steps if args.path_steps is not None else (rec_steps if rec_steps is not None
                                                                 else api.DEFAULT_STEPS)
    api.check_path_steps(steps)
    recorded = args.alphas.strip().lower() == "recorded"
    path = args.path or (dirset.meta.get("slider_path") if recorded else None)
    tops = api.recorded_path_tops(dirset)  # the page's slider ends: its paths end there
    if args.seeds is None and args.latent is None and rec_seed is not None:
        seeds = [api.check_seed(rec_seed, "slider_seed")]  # the page's seed
    else:
        own = file_codes(args, dirset)  # a photo's code (the page's ZIP), or `directions --latent`'s codes
        seeds = seeds if own is None else own
    gen = load_model_of(args, api.recorded_transform(dirset), recorded_files(dirset, seeds))
    cost = api.PathCost()
    with path_progress() as progress:
        images = api.composed_edit(gen, dirset, seeds, alphas, steps, region=args.region, space=args.space,
                                   layers=api.parse_layers(args.layers), trunc=args.trunc, path=path, path_tops=tops,
                                   progress=progress, cost=cost)
    api.save_png(Image.fromarray(np.concatenate(list(api.to_uint8(images)), axis=1)), out)
    which = f"seeds {','.join(map(str, seeds))}" if isinstance(seeds, list) else ", ".join(api.seed_labels(seeds))
    print(f"wrote {api.printable(out)} ({which}, alphas {','.join(f'{a:g}' for a in alphas)}, {path_summary(cost)})")
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    if args.alphas:
        return cmd_edit_composed(args)
    if args.path_steps is None:
        args.path_steps = 4 if args.path_follow else api.DEFAULT_STEPS
    seeds = seeds_or_latent(None, args.seeds, args.latent, default="0-3")
    if args.photo and args.latent is None:
        raise LowRankGANError("--photo pastes an inverted photo's edits back: give --latent DIR from `lowrankgan invert` too")
    out = out_file(args.out)
    kind = api.output_kind(out)
    if args.strengths:
        api.parse_strengths(args.strengths)  # bad strengths and direction files fail before the model loads
    api.check_path_steps(args.path_steps)
    dirset = api.load_directions(args.directions)
    args.region = api.region_beside(dirset, args.region)
    own = file_codes(args, dirset)
    seeds = seeds if own is None else own
    gen = load_model_of(args, api.recorded_transform(dirset), recorded_files(dirset, seeds))
    strengths = api.parse_strengths(args.strengths or gen.default_strengths)
    layers = api.parse_layers(args.layers)
    cost = api.PathCost()
    if args.path_follow and args.path_steps:
        images = api.path_edit(gen, dirset, seeds, strengths, args.path_steps, index=args.index, region=args.region,
                               space=args.space, layers=layers, trunc=args.trunc, follow=args.path_follow)
    else:
        with path_progress() as progress:
            images = api.edit(gen, dirset, seeds, strengths, index=args.index, space=args.space, layers=layers,
                              trunc=args.trunc, path=args.path, path_steps=args.path_steps, region=args.region,
                              progress=progress, cost=cost)
    region = args.region or (dirset.region if args.outline else None)
    mask = api.as_region(gen, region).mask if args.outline and region else None
    if args.photo:
        edited = api.region_beside(dirset, args.region or dirset.region)  # only its change reaches the photo
        where = api.as_region(gen, edited).mask if edited and args.paste == "delta" else None
        images, mask = api.paste_edits(args.photo, seeds, images, gen, args.paste, region=where), None
    if kind == "png":
        api.save_png(api.grid_image(images, strengths, mask), out)
    elif kind == "gif":
        api.save_gif(images, out, mask)
    else:
        labels = api.seed_labels(seeds)
        meta = {"direction file": dirset.source, "index": args.index,
                **{k: v for k, v in dirset.meta.items() if k not in ("info", "timing_s")}}
        figures = {}
        if region:
            leaks = api.locality(gen, dirset, seeds, region, index=args.index, trunc=args.trunc)
            figures = {f"leak, {s}": f"{lk.leak:.3f}" for s, lk in zip(labels, leaks)}
        api.save_html(api.html_report(f"lowrankgan edit: {gen.model_id}, direction {args.index}", images, strengths,
                              meta, labels, mask, figures), out)
    how = f"path following ({args.path_follow}), {args.path_steps} steps" if args.path_follow and args.path_steps else path_summary(cost)
    print(f"wrote {api.printable(out)} ({how})")
    return 0


def cmd_invert(args: argparse.Namespace) -> int:
    api.check_writable(claim_folder(args.out, "invert", args.force))
    gen = api.as_model(args.model, args.device, args.class_name)
    threads_of(args, gen.resolution)
    try:
        result = api.invert(gen, args.photo, args.space, args.steps, args.restarts, args.align, crop_box(args.crop),
                            seed=args.seed, progress=not args.no_progress)
    except NoFaceFound:
        raise LowRankGANError("no face found in the photo; use --align center or give --crop LEFT,TOP,SIDE") from None
    out = api.save_inversion(result, args.out)
    inv = result.inversion
    print(f"{inv.space} code of {api.printable(Path(args.photo).name)} ({result.alignment.method} crop): PSNR {inv.psnr:.2f} dB, "
          f"SSIM {inv.ssim:.3f} against the crop, {inv.seconds:.1f} s -> {api.printable(out)}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    claim_folder(args.out, "evaluate", args.force or args.fresh)
    threads_of(args, None)  # many small computations: one thread unless told
    split = lambda text: [m.strip() for m in text.split(",") if m.strip()]  # noqa: E731
    summary = api.evaluate(
        args.model, args.region, api.parse_seeds(args.seeds), split(args.methods), device=args.device,
        class_name=args.class_name, source_seed=args.source_seed,
        source_seeds=api.parse_seeds(args.source_seeds) if args.source_seeds else None,
        per_image=args.per_image, cross=args.cross, top_k=args.top_k, targets=float_list(args.targets, "--targets"),
        mse_strength=args.mse_strength, space=args.space, layers=api.parse_layers(args.layers),
        analysis_size=args.analysis_size, trunc=args.trunc, path_steps=args.path_steps,
        path_methods=split(args.path_methods), out=args.out, examples=args.examples, fresh=args.fresh,
        progress=not args.no_progress, ray=args.ray)
    print(api.format_evaluation(summary))
    print(f"wrote {api.printable(Path(args.out) / 'report.html')} ({summary['records']} records, {summary['new_records']} new)")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """``serve``: the page (``lowrankgan.web``), handed to ``main`` by the ``lowrankgan`` command
    (``lowrankgan.main``), so that the two front ends never import each other."""
    if args.start_page is None:
        raise LowRankGANError("this entry point has no page: start it with the `lowrankgan serve` command "
                              "(or lowrankgan.main([\"serve\", ...]) in Python)")
    return args.start_page(models=[args.model] if args.model else None, class_name=args.class_name, host=args.host,
                           port=args.port, device=args.device, threads=args.threads, warmup=not args.no_warmup)

