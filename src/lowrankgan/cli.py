"""The command line: parses arguments, calls the API, prints. No logic of its own."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from . import __version__, api, web
from .directionfile import (DIRECTION_FILES, check_output_dir, check_writable, load_directions, save_directions, source_latents,
                            staged_dir, transform_text)
from .errors import LowRankGANError
from .report import grid_image, html_report, output_kind, save_gif, save_html, save_png, to_uint8


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="zoo name (see `lowrankgan models`) or checkpoint path; default dcgan-faces")
    p.add_argument("--class", dest="class_name", default=None, help="class for conditional models (name or index)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto: CUDA when present")


def _transform_options(p: argparse.ArgumentParser, default: str = "") -> None:
    p.add_argument("--translate", default=None, metavar="TX,TY",
                   help=f"StyleGAN3: move the image by TX,TY image widths/heights (right, down) first{default}")
    p.add_argument("--rotate", type=float, default=None, metavar="DEG",
                   help=f"StyleGAN3: turn the image by DEG degrees (counter-clockwise) first{default}")


def _input_transform(args, recorded: tuple[tuple[float, float], float] | None = None) -> tuple[tuple[float, float], float]:
    """The user's --translate / --rotate; where neither is given, ``recorded`` (the transform a
    direction file's directions were found at), else none."""
    if args.translate is None and args.rotate is None and recorded is not None:
        return recorded
    rotate = 0.0 if args.rotate is None else args.rotate
    if args.translate is None:
        return (0.0, 0.0), rotate
    try:
        tx, ty = (float(v) for v in args.translate.split(","))
    except ValueError:
        raise LowRankGANError(f"--translate {args.translate}: give TX,TY in image widths/heights, "
                              "e.g. 0.1,-0.05") from None
    return (tx, ty), rotate


def _model(args: argparse.Namespace, recorded: tuple[tuple[float, float], float] | None = None) -> api.GeneratorAdapter:
    """The model, moved / turned by --translate / --rotate, else by ``recorded`` (a direction file's)."""
    translate, rotate = _input_transform(args, recorded)  # bad values fail before the model loads
    gen = api.as_model(args.model, args.device, args.class_name)
    if recorded is not None and args.translate is None and args.rotate is None:
        if not api.supports_input_transform(gen):
            raise LowRankGANError(f"the directions were found on a StyleGAN3 picture moved first ({transform_text(recorded)}); "
                                  f"model {gen.model_id} has no input transform: edit with the StyleGAN3 model they were found on")
        print(f"applying the direction file's input transform ({transform_text(recorded)}); "
              "--translate / --rotate override it")
    gen.set_input_transform(translate, rotate)
    return gen


def _out_file(path: str) -> Path:
    out = Path(path)
    if out.is_dir():
        raise LowRankGANError(f"--out {out} is a folder; give a file name ending in .png, .gif or .html")
    if out.exists() and not out.is_file():
        raise LowRankGANError(f"--out {out} exists and is not a plain file; choose another --out")
    check_writable(out.parent)
    return out


def _float_list(text: str, what: str) -> list[float]:
    try:
        vals = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise LowRankGANError(f"bad {what} '{text}': give a comma list of numbers such as 0.05,0.1,0.2") from None
    if not vals or any(not math.isfinite(v) or v <= 0 for v in vals):
        raise LowRankGANError(f"bad {what} '{text}': give positive numbers")
    return vals


def _method_params(args: argparse.Namespace, method: str) -> dict:
    """The registry parameters the user set; another method's parameter is an error, not ignored."""
    params, wrong = {}, []
    for entry in api.METHODS.values():
        for param in entry.params:
            value = getattr(args, _dest(param), None)
            if value is None:
                continue
            if entry.name == method:
                params[param.name] = value
            else:
                wrong.append(f"{param.cli_flag} (a {entry.name} parameter)")
    if wrong:
        raise LowRankGANError(f"{', '.join(wrong)} does not apply to --method {method}; drop it or change the method")
    return params


def _dest(param) -> str:
    return "param_" + param.cli_flag.lstrip("-").replace("-", "_")


def _add_method_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", default=api.DEFAULT_METHOD,
                   help="; ".join(f"{m.name}: {m.summary}" for m in api.METHODS.values()))
    group = p.add_argument_group("method parameters (each applies to the method named in brackets)")
    for m in api.METHODS.values():
        for param in m.params:
            default = param.default_text if param.default_text is not None else param.default
            rng = f", {param.low:g}..{param.high:g}" if param.low is not None else ""
            choices = f", one of {'/'.join(param.choices)}" if param.choices else ""
            group.add_argument(param.cli_flag, dest=_dest(param), default=None, metavar=param.type.__name__.upper(),
                               help=f"[{m.name}] {param.help} (default {default}{rng}{choices})")


# ---------------------------------------------------------------------------------------------
# commands

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
    out = check_output_dir(out, names) if as_dir else _out_file(args.out)
    gen = _model(args)
    images = api.sample(gen, seeds, trunc=args.trunc)
    if as_dir:
        with staged_dir(out) as tmp:  # all the PNGs appear, or none
            for name, img in zip(names, to_uint8(images)):
                save_png(Image.fromarray(img), tmp / name)
            save_png(grid_image(images[None]), tmp / "grid.png")
    else:
        save_png(grid_image(images[None]), out)
    print(f"wrote {out}")
    return 0


def _seeds_or_latent(seed: int | None, seeds: str | None, latent: str | None, default: str | None = None):
    """``--seed`` / ``--seeds`` / ``--latent``: at most one (exactly one without a default)."""
    given = [v is not None for v in (seed, seeds, latent)]
    if sum(given) > 1 or (sum(given) == 0 and default is None):
        raise LowRankGANError("give exactly one of --seed S, --seeds A-B or --latent FILE")
    if latent is not None:
        return api.load_latents(latent)
    return [api.check_seed(seed)] if seed is not None else api.parse_seeds(seeds or default)


def _file_codes(args: argparse.Namespace, dirset: api.DirectionSet) -> api.Latents | None:
    """Where neither --seeds nor --latent is given and the directions were found on codes
    (``directions --latent``, a photo on the page), those codes (the file's latent.npy), said in one line."""
    own = source_latents(dirset) if args.seeds is None and args.latent is None else None
    if own is not None:
        n = len(own)
        print(f"editing the {n} code{'s' * (n != 1)} the directions were found on ({own.label}); "
              "--seeds / --latent edit others")
    return own


def cmd_directions(args: argparse.Namespace) -> int:
    seeds = _seeds_or_latent(args.seed, args.seeds, args.latent)
    check_output_dir(Path(args.out), DIRECTION_FILES)
    gen = _model(args)
    dirset = api.find_directions(gen, seeds, args.region, args.method, args.space, api.parse_layers(args.layers),
                                 args.analysis_size, top_k=args.top_k, trunc=args.trunc, cache=not args.no_cache,
                                 ray=args.ray, precision=args.precision, leak_images=api.LEAK_IMAGES,
                                 **_method_params(args, args.method))
    save_directions(dirset, args.out)
    meta, info = dirset.meta, dirset.meta["info"]
    ranks = f", ranks region/rest {info['rank_region']}/{info['rank_rest']}" if "rank_region" in info else ""
    print(f"{dirset.vectors.shape[0]} directions ({meta['method']}, space {meta['latent_space']}{ranks}) -> {args.out}")
    probe = meta["leak_images"]
    where = probe[0] if len(probe) == 1 else f"{', '.join(probe)} (median)"
    print(f"leak of direction 0 on {where}: {meta['leak_source_top1']:.3f} "
          f"(RMS change outside / inside at inside RMS 0.1; strength ±{meta['leak_strength_top1']:.2f})")
    return 0


def cmd_edit_composed(args: argparse.Namespace) -> int:
    """``edit --alphas``: the page's composed edit ``c + Σ α_i v_i``, one image per seed side by side
    at the model's resolution (pixel for pixel the page's edited PNG)."""
    out = _out_file(args.out)
    if output_kind(out) != "png":
        raise LowRankGANError("--alphas writes a .png (the edited images side by side)")
    if args.strengths or args.index or args.outline or args.photo:
        raise LowRankGANError("--alphas sets every direction's strength: leave out --strengths, --index, --outline "
                              "and --photo")
    seeds = _seeds_or_latent(None, args.seeds, args.latent, default="0")
    dirset = load_directions(args.directions)
    args.region = api.region_beside(dirset, args.region)
    alphas, rec_steps, rec_seed = api.recorded_alphas(dirset, args.alphas)
    steps = args.path_steps if args.path_steps is not None else (rec_steps or 0)
    api.check_path_steps(steps)
    if args.seeds is None and args.latent is None and rec_seed is not None:
        seeds = [api.check_seed(rec_seed, "slider_seed")]  # the page's seed
    else:
        own = _file_codes(args, dirset)  # a photo's code (the page's ZIP), or `directions --latent`'s codes
        seeds = seeds if own is None else own
    gen = _model(args, api.recorded_transform(dirset))
    images = api.composed_edit(gen, dirset, seeds, alphas, steps, region=args.region, space=args.space,
                               layers=api.parse_layers(args.layers), trunc=args.trunc)
    save_png(Image.fromarray(np.concatenate(list(to_uint8(images)), axis=1)), out)
    which = f"seeds {','.join(map(str, seeds))}" if isinstance(seeds, list) else ", ".join(api.seed_labels(seeds))
    print(f"wrote {out} ({which}, alphas {','.join(f'{a:g}' for a in alphas)}, path steps {steps})")
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    if args.alphas:
        return cmd_edit_composed(args)
    args.path_steps = args.path_steps or 0
    seeds = _seeds_or_latent(None, args.seeds, args.latent, default="0-3")
    if args.photo and args.latent is None:
        raise LowRankGANError("--photo pastes an inverted photo's edits back: give --latent DIR from `lowrankgan invert` too")
    out = _out_file(args.out)
    kind = output_kind(out)
    if args.strengths:
        api.parse_strengths(args.strengths)  # bad strengths and direction files fail before the model loads
    api.check_path_steps(args.path_steps)
    dirset = load_directions(args.directions)
    args.region = api.region_beside(dirset, args.region)
    own = _file_codes(args, dirset)
    seeds = seeds if own is None else own
    gen = _model(args, api.recorded_transform(dirset))
    strengths = api.parse_strengths(args.strengths or gen.default_strengths)
    layers = api.parse_layers(args.layers)
    if args.path_steps:
        images = api.path_edit(gen, dirset, seeds, strengths, args.path_steps, index=args.index, region=args.region,
                               space=args.space, layers=layers, trunc=args.trunc, follow=args.path_follow)
    else:
        images = api.edit(gen, dirset, seeds, strengths, index=args.index, space=args.space, layers=layers,
                          trunc=args.trunc)
    region = args.region or (dirset.region if args.outline else None)
    mask = api.as_region(gen, region).mask if args.outline and region else None
    if args.photo:
        images, mask = api.paste_edits(args.photo, seeds, images, gen, args.paste), None
    if kind == "png":
        save_png(grid_image(images, strengths, mask), out)
    elif kind == "gif":
        save_gif(images, out, mask)
    else:
        labels = api.seed_labels(seeds)
        meta = {"direction file": dirset.source, "index": args.index,
                **{k: v for k, v in dirset.meta.items() if k not in ("info", "timing_s")}}
        figures = {}
        if region:
            leaks = api.locality(gen, dirset, seeds, region, index=args.index, trunc=args.trunc)
            figures = {f"leak, {s}": f"{lk.leak:.3f}" for s, lk in zip(labels, leaks)}
        save_html(html_report(f"lowrankgan edit: {gen.model_id}, direction {args.index}", images, strengths,
                              meta, labels, mask, figures), out)
    print(f"wrote {out}")
    return 0


def _crop_box(text: str | None) -> tuple[float, float, float] | None:
    if text is None:
        return None
    try:
        left, top, side = (float(v) for v in text.split(","))
    except ValueError:
        raise LowRankGANError(f"bad --crop '{text}': give LEFT,TOP,SIDE in photo pixels such as 120,40,256") from None
    if not all(math.isfinite(v) for v in (left, top, side)) or side <= 0:
        raise LowRankGANError(f"bad --crop '{text}': the side must be positive and the numbers finite")
    return left, top, side


def cmd_invert(args: argparse.Namespace) -> int:
    check_writable(Path(args.out))
    gen = api.as_model(args.model, args.device, args.class_name)
    result = api.invert(gen, args.photo, args.space, args.steps, args.restarts, args.align, _crop_box(args.crop),
                        seed=args.seed, progress=not args.no_progress)
    out = api.save_inversion(result, args.out)
    inv = result.inversion
    print(f"{inv.space} code of {Path(args.photo).name} ({result.alignment.method} crop): PSNR {inv.psnr:.2f} dB, "
          f"SSIM {inv.ssim:.3f} against the crop, {inv.seconds:.1f} s -> {out}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    split = lambda text: [m.strip() for m in text.split(",") if m.strip()]  # noqa: E731
    summary = api.evaluate(
        args.model, args.region, api.parse_seeds(args.seeds), split(args.methods), device=args.device,
        class_name=args.class_name, source_seed=args.source_seed,
        source_seeds=api.parse_seeds(args.source_seeds) if args.source_seeds else None,
        per_image=args.per_image, cross=args.cross, top_k=args.top_k, targets=_float_list(args.targets, "--targets"),
        mse_strength=args.mse_strength, space=args.space, layers=api.parse_layers(args.layers),
        analysis_size=args.analysis_size, trunc=args.trunc, path_steps=args.path_steps,
        path_methods=split(args.path_methods), out=args.out, examples=args.examples, fresh=args.fresh,
        progress=not args.no_progress, ray=args.ray)
    print(api.format_evaluation(summary))
    print(f"wrote {Path(args.out) / 'report.html'} ({summary['records']} records, {summary['new_records']} new)")
    return 0


# ---------------------------------------------------------------------------------------------
# the parser

def _models_parser(sub) -> None:
    p = sub.add_parser("models", help="list the model zoo and what is cached")
    p.add_argument("path", nargs="?", help="a checkpoint file: print what it holds")
    p.add_argument("--refetch", metavar="NAME", help="download and verify a zoo model again")
    p.set_defaults(func=cmd_models)


def _sample_parser(sub) -> None:
    p = sub.add_parser("sample", help="generate images for seeds")
    _common(p)
    p.add_argument("--seeds", default="0-7")
    p.add_argument("--trunc", type=float, default=1.0)
    _transform_options(p)
    p.add_argument("--out", required=True, help="grid .png, or a folder for one PNG per seed plus grid.png")
    p.set_defaults(func=cmd_sample)


def _directions_parser(sub) -> None:
    p = sub.add_parser("directions", help="find local editing directions for a region")
    _common(p)
    p.add_argument("--seed", type=int)
    p.add_argument("--seeds", help="several seeds: the region Grams are averaged (directions that carry over)")
    p.add_argument("--latent", help="codes instead of seeds: a folder from `invert` / `directions`, or a .npy")
    p.add_argument("--region", required=True, help="box:TOP,LEFT,HEIGHT,WIDTH, a mask image, a preset, or A+B")
    p.add_argument("--space", default=None, help="latent space: z, w or w+ (default: the model's)")
    p.add_argument("--layers", default=None, help="W+ layers the directions act on, e.g. 4-7")
    p.add_argument("--analysis-size", type=int, default=None, help="analysis resolution (default: output size up to 256)")
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--trunc", type=float, default=1.0)
    p.add_argument("--no-cache", action="store_true", help="do not read or write the Jacobian cache")
    p.add_argument("--precision", choices=["strict", "tf32"], default="strict",
                   help="Jacobian arithmetic on CUDA: strict float32 (default, reproducible) or tf32 (tensor cores, faster)")
    p.add_argument("--ray", metavar="ADDRESS", default=None,
                   help="compute on a Ray cluster: its head's host:port, auto (the cluster this machine is in) or local (start one here)")
    p.add_argument("--cache-size", default=None,
                   help="disk space the Jacobian cache may use, e.g. 4G (default; least recently used go first), 0: none")
    _transform_options(p)
    p.add_argument("--out", required=True, help="output folder")
    _add_method_options(p)
    p.set_defaults(func=cmd_directions)


def _edit_parser(sub) -> None:
    p = sub.add_parser("edit", help="apply a direction to seeds")
    _common(p)
    p.add_argument("--directions", required=True, help="folder from `directions`, or a [k, d] .npy")
    p.add_argument("--index", type=int, default=0)
    p.add_argument("--seeds", default=None, help="seeds to edit (default 0-3, with --alphas 0; with --alphas recorded the "
                   "page's seed; directions found on codes, such as a photo's, edit those codes)")
    p.add_argument("--alphas", default=None,
                   help="a1,a2,...: apply several directions at once (the page's sliders) and write the edited "
                        "image(s); 'recorded': the slider values and path steps saved in the file by the page")
    p.add_argument("--latent", help="codes instead of seeds: a folder from `invert` / `directions`, or a .npy")
    p.add_argument("--photo", help="with --latent from `invert`: paste the edits back into this original photo")
    p.add_argument("--paste", default="delta", choices=["delta", "face"],
                   help="delta: add only the edit to the photo (keeps its detail); face: replace the face by the model's")
    p.add_argument("--strengths", default=None, help="START:STOP:STEPS (default: the model's, -3:3:7 for the DCGANs, -6:6:7 otherwise)")
    p.add_argument("--space", default=None)
    p.add_argument("--layers", default=None)
    p.add_argument("--trunc", type=float, default=1.0)
    p.add_argument("--path-steps", type=int, default=None,
                   help="path-following edit: re-project into the rest's null space N times along the way")
    p.add_argument("--path-follow", choices=["project", "rederive"], default="project",
                   help="with --path-steps: re-project the direction at each step (project, the default) or re-derive "
                        "the region's best direction at each step (rederive: more local at strong edits)")
    p.add_argument("--outline", action="store_true", help="outline the region (from the direction file or --region)")
    _transform_options(p, " (default: the transform the directions were found at, from directions.json)")
    p.add_argument("--region", default=None, help="region to outline / measure (default: the direction file's)")
    p.add_argument("--out", required=True, help=".png grid, .gif sweep or .html report")
    p.set_defaults(func=cmd_edit)


def _invert_parser(sub) -> None:
    p = sub.add_parser("invert", help="find the code of a photo (align, crop, invert)")
    _common(p)
    p.add_argument("photo", help="an image file of any size and mode")
    p.add_argument("--space", default=None, help="z, w or w+ (default: the model's)")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--restarts", type=int, default=4, help="optimisations run side by side from the best random starts")
    p.add_argument("--align", default="auto", choices=list(api.ALIGNS),
                   help="auto: detect and align the face for face models, centre square otherwise")
    p.add_argument("--crop", default=None, help="LEFT,TOP,SIDE: this square of the photo instead of --align")
    p.add_argument("--seed", type=int, default=0, help="seed of the random starts")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--out", required=True, help="output folder: latent.npy, reconstruction.png, target.png, invert.json")
    p.set_defaults(func=cmd_invert)


def _evaluate_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="compare methods' locality on many images")
    _common(p)
    p.add_argument("--region", action="append", required=True,
                   help="region spec (box:..., mask image, preset, A+B); repeat for several regions")
    p.add_argument("--seeds", default="0-9", help="target seeds the directions are measured on")
    p.add_argument("--methods", default=",".join(api.METHODS), help="comma list of methods")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--source-seed", type=int, default=None, help="directions found on this seed's image (default: the first seed)")
    src.add_argument("--source-seeds", default=None, help="directions from region Grams averaged over these seeds")
    src.add_argument("--per-image", action="store_true", help="each seed's own directions, measured on that seed")
    p.add_argument("--cross", action="store_true", help="with --per-image: measure every seed's directions on every seed")
    p.add_argument("--top-k", type=int, default=3, help="directions measured per method")
    p.add_argument("--targets", default="0.05,0.1,0.2", help="in-region RMS targets of the leak metric (images in [-1, 1])")
    p.add_argument("--mse-strength", type=float, default=3.0, help="fixed strength of the masked-MSE figure")
    p.add_argument("--space", default=None)
    p.add_argument("--layers", default=None)
    p.add_argument("--analysis-size", type=int, default=None)
    p.add_argument("--trunc", type=float, default=1.0)
    p.add_argument("--path-steps", type=int, default=0,
                   help="also measure path-following edits with N re-projections up to 3x the calibrated strength")
    p.add_argument("--path-methods", default=api.DEFAULT_METHOD, help="methods whose top direction gets the path comparison")
    p.add_argument("--examples", type=int, default=4, help="seeds shown in the report's example grids")
    p.add_argument("--fresh", action="store_true", help="discard results already in --out")
    p.add_argument("--cache-size", default=None,
                   help="disk space the Jacobian cache may use, e.g. 4G (default; least recently used go first), 0: none")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--ray", metavar="ADDRESS", default=None,
                   help="compute on a Ray cluster: its head's host:port, auto (the cluster this machine is in) or local (start one here)")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=cmd_evaluate)


def _serve_parser(sub) -> None:
    p = sub.add_parser("serve", help="the interactive page in the browser")
    web.add_arguments(p)
    p.set_defaults(func=web.run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lowrankgan", description="Local edits of GAN images by low-rank subspaces.")
    parser.add_argument("--version", action="version", version=f"lowrankgan {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for register in (_models_parser, _sample_parser, _invert_parser, _directions_parser, _edit_parser,
                     _evaluate_parser, _serve_parser):
        register(sub)
    return parser


VALUE_OPTIONS_ALLOWING_DASH = ("--strengths", "--translate", "--rotate")


def _join_negative_values(argv: list[str]) -> list[str]:
    """``--strengths -4:4:7`` reads as an option to argparse; join it as ``--strengths=-4:4:7``."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in VALUE_OPTIONS_ALLOWING_DASH and i + 1 < len(argv) and argv[i + 1].startswith("-"):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(_join_negative_values(list(sys.argv[1:] if argv is None else argv)))
    try:
        if getattr(args, "cache_size", None) is not None:
            api.set_cache_limit(args.cache_size)
        if getattr(args, "trunc", None) is not None:
            api.check_truncation(args.trunc)  # --trunc nan fails before any work
        return args.func(args)
    except LowRankGANError as exc:
        print(f"lowrankgan: error: {api.printable(exc, 2000)}", file=sys.stderr)  # one line, no escapes
        return 2
    except OSError as exc:  # the disk filled up or a path vanished while writing
        print(f"lowrankgan: error: {api.printable(exc, 500)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lowrankgan: interrupted", file=sys.stderr)
        return 130
    finally:
        if getattr(args, "cache_size", None) is not None:  # in-process callers get the default back
            api.set_cache_limit(None)


if __name__ == "__main__":
    sys.exit(main())
