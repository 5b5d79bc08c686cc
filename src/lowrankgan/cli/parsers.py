"""The argument parser: one ``_xxx_parser`` per subcommand, registered explicitly."""

from __future__ import annotations

import argparse


from .. import __version__, api
from .commands import cmd_models, cmd_sample, cmd_directions, cmd_edit, cmd_invert, cmd_evaluate, cmd_serve
from .options import common_options, transform_options, add_method_options


def _models_parser(sub) -> None:
    p = sub.add_parser("models", help="list the model zoo and what is cached")
    p.add_argument("path", nargs="?", help="a checkpoint file: print what it holds")
    p.add_argument("--refetch", metavar="NAME", help="download and verify a zoo model again")
    p.set_defaults(func=cmd_models)


def _sample_parser(sub) -> None:
    p = sub.add_parser("sample", help="generate images for seeds")
    common_options(p)
    p.add_argument("--seeds", default="0-7")
    p.add_argument("--trunc", type=float, default=1.0)
    transform_options(p)
    p.add_argument("--out", required=True, help="grid .png, or a folder for one PNG per seed plus grid.png")
    p.set_defaults(func=cmd_sample)


def _directions_parser(sub) -> None:
    p = sub.add_parser("directions", help="find local editing directions for a region")
    common_options(p)
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
    transform_options(p)
    p.add_argument("--out", required=True, help="output folder")
    add_method_options(p)
    p.set_defaults(func=cmd_directions)


def _edit_parser(sub) -> None:
    p = sub.add_parser("edit", help="apply a direction to seeds")
    common_options(p)
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
    transform_options(p, " (default: the transform the directions were found at, from directions.json)")
    p.add_argument("--region", default=None, help="region to outline / measure (default: the direction file's)")
    p.add_argument("--out", required=True, help=".png grid, .gif sweep or .html report")
    p.set_defaults(func=cmd_edit)


def _invert_parser(sub) -> None:
    p = sub.add_parser("invert", help="find the code of a photo (align, crop, invert)")
    common_options(p)
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
    common_options(p)
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
    p.add_argument("--model", default=None,
                   help="serve only this model (zoo name or checkpoint path); default: every zoo model, dcgan-faces first")
    p.add_argument("--class", dest="class_name", default=None, help="initial class for conditional models")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860; 0 picks a free one)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto: CUDA when present")
    p.add_argument("--threads", type=int, default=6, help="request threads (default 6)")
    p.add_argument("--cache-size", default=None,
                   help="disk space the Jacobian cache may use, e.g. 4G (default), 0: none; "
                        "least recently used Jacobians are deleted first")
    p.add_argument("--no-warmup", action="store_true",
                   help="skip preparing seed 0 (Jacobian, one direction computation) in the background")
    p.set_defaults(func=cmd_serve)


class OneLineParser(argparse.ArgumentParser):
    """argparse with one-line errors (``lowrankgan: error: ...``, exit 2) instead of the usage text,
    for its subcommands too; ``--help`` still shows everything."""

    def error(self, message: str):  # type: ignore[override]
        hint = f"; see lowrankgan {self.prog.split(' ', 1)[1]} --help" if " " in self.prog else "; see lowrankgan --help"
        self.exit(2, f"lowrankgan: error: {api.printable(message, 500)}{hint}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="lowrankgan", description="Local edits of GAN images by low-rank subspaces.")
    parser.add_argument("--version", action="version", version=f"lowrankgan {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for register in (_models_parser, _sample_parser, _invert_parser, _directions_parser, _edit_parser,
                     _evaluate_parser, _serve_parser):
        register(sub)
    return parser
