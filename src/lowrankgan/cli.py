"""The command line: parses arguments, calls the API, prints. No logic of its own."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import LowRankGANError


def _layers(text: str | None) -> list[int] | None:
    from .edit import parse_int_list
    return None if text is None else parse_int_list(text, "layers")


def _common(p: argparse.ArgumentParser, model: bool = True) -> None:
    if model:
        p.add_argument("--model", default=None, help="zoo name (see `lowrankgan models`) or checkpoint path; default dcgan-faces")
        p.add_argument("--class", dest="class_name", default=None, help="class for conditional models (name or index)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto: CUDA when present")


def _transform_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--translate", default=None, metavar="TX,TY",
                   help="StyleGAN3: move the image by TX,TY image widths/heights (right, down) first")
    p.add_argument("--rotate", type=float, default=0.0, metavar="DEG",
                   help="StyleGAN3: turn the image by DEG degrees (counter-clockwise) first")


def _input_transform(args) -> tuple[tuple[float, float], float]:
    if args.translate is None:
        return (0.0, 0.0), args.rotate
    try:
        tx, ty = (float(v) for v in args.translate.split(","))
    except ValueError:
        raise LowRankGANError(f"--translate {args.translate}: give TX,TY in image widths/heights, "
                              "e.g. 0.1,-0.05") from None
    return (tx, ty), args.rotate


def _model(args):
    from . import api
    translate, rotate = _input_transform(args)  # bad values fail before the model loads
    gen = api.as_model(args.model, args.device, args.class_name)
    gen.set_input_transform(translate, rotate)
    return gen


def _out_file(path: str) -> Path:
    from .directionfile import check_writable
    out = Path(path)
    check_writable(out.parent)
    if out.is_dir():
        raise LowRankGANError(f"--out {out} is a folder; give a file name ending in .png, .gif or .html")
    return out


def cmd_models(args) -> int:
    from .models import ZOO, load_model
    from .models.zoo import cached, fetch
    if args.refetch:
        if args.refetch not in ZOO:
            raise LowRankGANError(f"unknown zoo model '{args.refetch}'; use one of: {', '.join(ZOO)}")
        path = fetch(ZOO[args.refetch], refetch=True)
        print(f"{args.refetch}: fetched and verified -> {path}")
        return 0
    if args.path:
        gen = load_model(args.path, device="cpu")
        print(json.dumps(gen.describe(), indent=2))
        return 0
    for name, entry in ZOO.items():
        state = "cached" if cached(entry) else "not cached (fetched on first use)"
        classes = f"; classes: {', '.join(entry.classes)}" if entry.classes else ""
        print(f"{name:14s} {entry.description} [{entry.package}=={entry.version}, {entry.license}] - {state}{classes}")
    from .models import BIGGAN_NAMES
    for name in BIGGAN_NAMES:
        print(f"{name:14s} BigGAN-deep (pytorch-pretrained-biggan), 1000 ImageNet classes - downloaded on first use (internet)")
    from .models.presets import PRESETS
    for name, presets in PRESETS.items():
        print(f"  {name} region presets: {', '.join(presets)}")
    return 0


def cmd_sample(args) -> int:
    from . import api
    from .edit import parse_int_list
    from .report import grid_image, save_png, to_uint8
    from PIL import Image
    seeds = parse_int_list(args.seeds)
    out = Path(args.out)
    as_dir = out.suffix.lower() != ".png"
    if not as_dir:
        out = _out_file(args.out)
    gen = _model(args)
    images = api.sample(gen, seeds, trunc=args.trunc)
    if as_dir:
        from .directionfile import ensure_writable_dir
        ensure_writable_dir(out)
        for seed, img in zip(seeds, to_uint8(images)):
            save_png(Image.fromarray(img), out / f"seed{seed:04d}.png")
        save_png(grid_image(images[None]), out / "grid.png")
    else:
        save_png(grid_image(images[None]), out)
    print(f"wrote {out}")
    return 0


def _region_mask(gen, spec):
    from .api import as_region
    return as_region(gen, spec).mask if spec else None


def cmd_directions(args) -> int:
    from . import api
    from .directionfile import check_writable, save_directions
    from .edit import parse_int_list
    from .metrics import median
    if (args.seed is None) == (args.seeds is None):
        raise LowRankGANError("give exactly one of --seed S or --seeds A-B")
    seeds = [args.seed] if args.seed is not None else parse_int_list(args.seeds)
    check_writable(Path(args.out))
    gen = _model(args)
    params = {}
    if args.method == "lowrankgan":
        params = {k: v for k, v in (("lam", args.lam), ("relax", args.relax), ("rank_rtol", args.rank_rtol),
                                    ("order", args.order)) if v is not None}
    elif args.tau is not None:
        params = {"tau": args.tau}
    dirset = api.find_directions(gen, seeds, args.region, args.method, args.space, _layers(args.layers),
                                 args.analysis_size, top_k=args.top_k, trunc=args.trunc,
                                 cache=not args.no_cache, **params)
    probe = seeds[:5]  # the leak on (up to five of) the images the directions came from
    leaks = api.locality(gen, dirset, probe, args.region, index=0, trunc=args.trunc)
    leak = median([lk.leak for lk in leaks])
    dirset.meta["leak_source_top1"] = round(leak, 4)
    save_directions(dirset, args.out)
    info = dirset.meta["info"]
    ranks = f", ranks region/rest {info['rank_region']}/{info['rank_rest']}" if "rank_region" in info else ""
    print(f"{dirset.vectors.shape[0]} directions ({dirset.meta['method']}, space {dirset.meta['latent_space']}{ranks}) "
          f"-> {args.out}")
    where = f"seed {probe[0]}" if len(probe) == 1 else f"seeds {','.join(map(str, probe))} (median)"
    strength = median([s for lk in leaks for s in lk.strengths if s == s])  # nan: target not reached
    print(f"leak of direction 0 on {where}: {leak:.3f} "
          f"(RMS change outside / inside at inside RMS 0.1; strength ±{strength:.2f})")
    return 0


def cmd_edit(args) -> int:
    from . import api
    from .edit import parse_int_list, parse_strengths
    from .report import grid_image, html_report, output_kind, save_gif, save_html, save_png
    seeds = parse_int_list(args.seeds)
    out = _out_file(args.out)
    kind = output_kind(out)
    gen = _model(args)
    strengths = parse_strengths(args.strengths or gen.default_strengths)
    from .directionfile import load_directions
    dirset = load_directions(args.directions)
    if args.path_steps:
        from .pathedit import path_edit
        images = path_edit(gen, dirset, seeds, strengths, args.path_steps, index=args.index, region=args.region,
                           space=args.space, layers=_layers(args.layers), trunc=args.trunc)
    else:
        images = api.edit(gen, dirset, seeds, strengths, index=args.index, space=args.space,
                          layers=_layers(args.layers), trunc=args.trunc)
    region = args.region or (dirset.meta.get("region") if args.outline else None)
    mask = _region_mask(gen, region) if args.outline else None
    if kind == "png":
        save_png(grid_image(images, strengths, mask), out)
    elif kind == "gif":
        save_gif(images, out, mask)
    else:
        meta = {"direction file": dirset.source, "index": args.index, **{k: v for k, v in dirset.meta.items()
                                                                          if k not in ("info", "timing_s")}}
        figures = {}
        if region:
            leaks = api.locality(gen, dirset, seeds, region, index=args.index, trunc=args.trunc)
            figures = {f"leak, seed {s}": f"{lk.leak:.3f}" for s, lk in zip(seeds, leaks)}
        save_html(html_report(f"lowrankgan edit: {gen.model_id}, direction {args.index}", images, strengths,
                              meta, seeds, mask, figures), out)
    print(f"wrote {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    parser = argparse.ArgumentParser(prog="lowrankgan", description="Local edits of GAN images by low-rank subspaces.")
    parser.add_argument("--version", action="version", version=f"lowrankgan {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="list the model zoo and what is cached")
    p.add_argument("path", nargs="?", help="a checkpoint file: print what it holds")
    p.add_argument("--refetch", metavar="NAME", help="download and verify a zoo model again")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("sample", help="generate images for seeds")
    _common(p)
    p.add_argument("--seeds", default="0-7")
    p.add_argument("--trunc", type=float, default=1.0)
    _transform_options(p)
    p.add_argument("--out", required=True, help="grid .png, or a folder for one PNG per seed plus grid.png")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("directions", help="find local editing directions for a region")
    _common(p)
    p.add_argument("--seed", type=int)
    p.add_argument("--seeds", help="several seeds: the region Grams are averaged (directions that carry over)")
    p.add_argument("--region", required=True, help="box:TOP,LEFT,HEIGHT,WIDTH, a mask image, a preset, or A+B")
    p.add_argument("--method", default="lowrankgan",
                   help="lowrankgan (default), resefa, jacobian-svd, ganspace, sefa, random")
    p.add_argument("--space", default=None, help="latent space: z, w or w+ (default: the model's)")
    p.add_argument("--layers", default=None, help="W+ layers the directions act on, e.g. 4-7")
    p.add_argument("--analysis-size", type=int, default=None, help="analysis resolution (default: output size up to 256)")
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--trunc", type=float, default=1.0)
    p.add_argument("--lam", type=float, default=None, help="robust PCA sparsity weight (default 1/sqrt(d))")
    p.add_argument("--relax", type=int, default=None, help="null-space relaxation (default 0)")
    p.add_argument("--rank-rtol", type=float, default=None, help="relative singular-value tolerance for ranks (default 1e-2)")
    p.add_argument("--order", choices=["energy", "paper"], default=None, help="ordering of lowrankgan directions")
    p.add_argument("--tau", type=float, default=None, help="resefa regulariser (default 1e-3)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the Jacobian cache")
    _transform_options(p)
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=cmd_directions)

    p = sub.add_parser("edit", help="apply a direction to seeds")
    _common(p)
    p.add_argument("--directions", required=True, help="folder from `directions`, or a [k, d] .npy")
    p.add_argument("--index", type=int, default=0)
    p.add_argument("--seeds", default="0-3")
    p.add_argument("--strengths", default=None, help="START:STOP:STEPS (default: the model's, -3:3:7 for the DCGANs, -6:6:7 otherwise)")
    p.add_argument("--space", default=None)
    p.add_argument("--layers", default=None)
    p.add_argument("--trunc", type=float, default=1.0)
    p.add_argument("--path-steps", type=int, default=0,
                   help="path-following edit: re-project into the rest's null space N times along the way")
    p.add_argument("--outline", action="store_true", help="outline the region (from the direction file or --region)")
    _transform_options(p)
    p.add_argument("--region", default=None, help="region to outline / measure (default: the direction file's)")
    p.add_argument("--out", required=True, help=".png grid, .gif sweep or .html report")
    p.set_defaults(func=cmd_edit)

    # Commands whose modules define their own arguments: ``add_arguments(parser)`` and ``run(args)``.
    # Those modules import heavy dependencies only inside ``run``, so the CLI starts fast.
    for name, module, help_text in (("evaluate", "lowrankgan.evaluate", "compare methods' locality on many images"),
                                    ("serve", "lowrankgan.web", "the interactive page in the browser")):
        import importlib
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError:
            continue
        p = sub.add_parser(name, help=help_text)
        mod.add_arguments(p)
        p.set_defaults(func=mod.run)
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
        return args.func(args)
    except LowRankGANError as exc:
        print(f"lowrankgan: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lowrankgan: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
