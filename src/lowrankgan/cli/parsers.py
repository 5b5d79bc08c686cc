"""The argument parser: one ``_xxx_parser`` per subcommand, registered explicitly."""

from __future__ import annotations

import argparse


from .. import __version__, api
from .commands import cmd_models, cmd_sample, cmd_directions, cmd_edit, cmd_invert, cmd_evaluate, cmd_serve
from .help import HelpFormatter, Parser
from .options import common_options, transform_options, add_method_options


SEEDS_FORMAT = "seeds: N, A-B (A ≤ B) or a comma list such as 1,5,9"
REGION_HELP = "box:TOP,LEFT,HEIGHT,WIDTH in output pixels, a mask image, a preset of the model, or several joined by +"


def trunc_option(p) -> None:
    p.add_argument("--trunc", type=float, default=1.0, metavar="PSI", help="truncation ψ in (0, 2]; 1: none")


FORCE_HELP = ("replace this command's earlier output in --out, or write into a folder holding other files "
              "(never replacing a file another command wrote)")


def _models_parser(sub) -> None:
    p = sub.add_parser("models", help="list the model zoo and what is cached")
    p.add_argument("path", nargs="?", help="a checkpoint file: print what it holds")
    p.add_argument("--refetch", metavar="NAME", help="download and verify a zoo model again")
    p.set_defaults(func=cmd_models)


def _sample_parser(sub) -> None:
    p = sub.add_parser("sample", help="generate images for seeds")
    common_options(p)
    p.add_argument("--seeds", default="0-7", metavar="SEEDS", help=SEEDS_FORMAT)
    trunc_option(p)
    transform_options(p)
    p.add_argument("--out", required=True, metavar="PNG|DIR", help="grid .png, or a folder for one PNG per seed plus grid.png")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    p.set_defaults(func=cmd_sample)


def _directions_parser(sub) -> None:
    p = sub.add_parser("directions", help="find local editing directions for a region")
    common_options(p)
    p.add_argument("--seed", type=int, metavar="N", help="one seed (give one of --seed, --seeds, --latent)")
    p.add_argument("--seeds", metavar="SEEDS", help="several " + SEEDS_FORMAT + "; the region Grams are averaged "
                   "(directions that carry over)")
    p.add_argument("--latent", metavar="DIR|NPY", help="codes instead of seeds: a folder from `invert` / `directions`, or a .npy")
    p.add_argument("--region", required=True, metavar="SPEC",
                   help=REGION_HELP + "; NAME@face (eyes, left eye, right eye, brows, nose, mouth, chin): shaped "
                   "on the first image's own face (face models)")
    p.add_argument("--space", default=None, metavar="z|w|w+", help="latent space (default: the model's)")
    p.add_argument("--layers", default=None, metavar="A-B", help="W+ layers the directions act on, e.g. 4-7 (default: the model's)")
    p.add_argument("--analysis-size", type=int, default=None, metavar="PX",
                   help="side of the image the Jacobian is taken at (default: the output size, at most 256)")
    p.add_argument("--top-k", type=int, default=10, metavar="K", help="directions to keep (fewer when the subspace is smaller)")
    trunc_option(p)
    p.add_argument("--no-cache", action="store_true", help="do not read or write the Jacobian cache")
    p.add_argument("--strong-leak", action="store_true",
                   help="also measure direction 0's leak at the page's slider ends along the local path, the default "
                   "edit (16 more Jacobians; without it: the straight line's only, two renders)")
    p.add_argument("--precision", choices=["strict", "tf32"], default="strict",
                   help="Jacobian arithmetic on CUDA: strict float32 (default, reproducible) or tf32 (tensor cores, faster)")
    p.add_argument("--ray", metavar="ADDRESS", default=None,
                   help="compute on a Ray cluster: its head's host:port, auto (the cluster this machine is in) or local (start one here)")
    p.add_argument("--cache-size", default=None, metavar="SIZE",
                   help="disk space the Jacobian cache may use, e.g. 500M or 4G (default 4G; least recently used go first), 0: none")
    transform_options(p)
    p.add_argument("--out", required=True, metavar="DIR", help="output folder: directions.npy, directions.json, latent.npy")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    add_method_options(p)
    p.set_defaults(func=cmd_directions)


def _edit_parser(sub) -> None:
    p = sub.add_parser("edit", help="apply a direction to seeds")
    common_options(p)
    p.add_argument("--directions", required=True, metavar="DIR|NPY", help="folder from `directions`, or a [k, d] .npy")
    p.add_argument("--index", type=int, default=0, metavar="I", help="which direction (0: the best)")
    p.add_argument("--seeds", default=None, metavar="SEEDS", help=SEEDS_FORMAT + " (default 0-3, with --alphas 0; with --alphas recorded the "
                   "page's seed; directions found on codes, such as a photo's, edit those codes)")
    p.add_argument("--alphas", default=None, metavar="A1,A2,...|recorded",
                   help="a1,a2,...: apply several directions at once (the page's sliders) and write the edited "
                        "image(s); 'recorded': the slider values and path steps saved in the file by the page")
    p.add_argument("--latent", metavar="DIR|NPY", help="codes instead of seeds: a folder from `invert` / `directions`, or a .npy")
    p.add_argument("--photo", metavar="IMAGE", help="with --latent from `invert`: paste the edits back into this original photo")
    p.add_argument("--paste", default="delta", choices=["delta", "face"],
                   help="delta: add only the edit to the photo (keeps its detail); face: replace the face by the model's")
    p.add_argument("--strengths", default=None, metavar="START:STOP:STEPS",
                   help="the sweep, or a comma list (default: the model's, -3:3:7 for the DCGANs, -6:6:7 otherwise)")
    p.add_argument("--space", default=None, metavar="z|w|w+", help="latent space (default: the direction file's)")
    p.add_argument("--layers", default=None, metavar="A-B", help="W+ layers (default: the direction file's)")
    trunc_option(p)
    p.add_argument("--path", choices=["local", "straight"], default=None,
                   help="local (the default, unless the direction file records straight): each direction follows a "
                        "path that holds the rest of the image where it was; straight: the line c + s v")
    p.add_argument("--path-steps", type=int, default=None, metavar="N",
                   help="steps of the local path (default 8; each costs a Jacobian; 0: the straight line)")
    p.add_argument("--path-follow", choices=["project", "rederive"], default=None,
                   help="the older path-following edits instead (default steps 4): re-project the direction into "
                        "the rest's null space at each step, or re-derive the region's best direction at each step")
    p.add_argument("--outline", action="store_true", help="outline the region (from the direction file or --region)")
    transform_options(p, " (default: the transform the directions were found at, from directions.json)")
    p.add_argument("--region", default=None, metavar="SPEC", help="region to outline / measure (default: the direction file's)")
    p.add_argument("--out", required=True, metavar="FILE", help=".png grid, .gif sweep or .html report")
    p.set_defaults(func=cmd_edit)


def _invert_parser(sub) -> None:
    p = sub.add_parser("invert", help="find the code of a photo (align, crop, invert)")
    common_options(p)
    p.add_argument("photo", help="an image file of any size and mode")
    p.add_argument("--space", default=None, metavar="z|w|w+", help="latent space (default: the model's)")
    p.add_argument("--steps", type=int, default=300, metavar="N", help="optimisation steps")
    p.add_argument("--restarts", type=int, default=4, metavar="N", help="optimisations run side by side from the best random starts")
    p.add_argument("--align", default="auto", choices=list(api.ALIGNS),
                   help="auto: detect and align the face for face models, centre square otherwise")
    p.add_argument("--crop", default=None, metavar="LEFT,TOP,SIDE", help="LEFT,TOP,SIDE: this square of the photo instead of --align")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the random starts")
    p.add_argument("--no-progress", action="store_true", help="print no progress lines")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder: latent.npy, reconstruction.png, target.png, invert.json")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    p.set_defaults(func=cmd_invert)


def _evaluate_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="compare methods' locality on many images")
    common_options(p)
    p.add_argument("--region", action="append", required=True, metavar="SPEC",
                   help="region spec (box:..., mask image, preset, A+B); repeat for several regions")
    p.add_argument("--seeds", default="0-9", metavar="SEEDS", help=SEEDS_FORMAT + ": target seeds the directions are measured on")
    p.add_argument("--methods", default=",".join(api.METHODS), metavar="M1,M2,...", help="comma list of methods")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--source-seed", type=int, default=None, metavar="N", help="directions found on this seed's image (default: the first seed)")
    src.add_argument("--source-seeds", default=None, metavar="SEEDS", help="directions from region Grams averaged over these seeds")
    src.add_argument("--per-image", action="store_true", help="each seed's own directions, measured on that seed")
    p.add_argument("--cross", action="store_true", help="with --per-image: measure every seed's directions on every seed")
    p.add_argument("--top-k", type=int, default=3, metavar="K", help="directions measured per method")
    p.add_argument("--targets", default="0.05,0.1,0.2", metavar="T1,T2,...", help="in-region RMS targets of the leak metric (images in [-1, 1])")
    p.add_argument("--mse-strength", type=float, default=3.0, metavar="S", help="fixed strength of the masked-MSE figure")
    p.add_argument("--space", default=None, metavar="z|w|w+", help="latent space (default: the model's)")
    p.add_argument("--layers", default=None, metavar="A-B", help="W+ layers (default: the model's)")
    p.add_argument("--analysis-size", type=int, default=None, metavar="PX",
                   help="side of the image the Jacobian is taken at (default: the output size, at most 256)")
    trunc_option(p)
    p.add_argument("--path-steps", type=int, default=0, metavar="N",
                   help="also measure path-following edits with N re-projections up to 3x the calibrated strength")
    p.add_argument("--path-methods", default=api.DEFAULT_METHOD, metavar="M1,M2,...", help="methods whose top direction gets the path comparison")
    p.add_argument("--examples", type=int, default=4, metavar="N", help="seeds shown in the report's example grids")
    p.add_argument("--fresh", action="store_true", help="discard results already in --out")
    p.add_argument("--cache-size", default=None, metavar="SIZE",
                   help="disk space the Jacobian cache may use, e.g. 500M or 4G (default 4G; least recently used go first), 0: none")
    p.add_argument("--no-progress", action="store_true", help="print no progress lines")
    p.add_argument("--ray", metavar="ADDRESS", default=None,
                   help="compute on a Ray cluster: its head's host:port, auto (the cluster this machine is in) or local (start one here)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (a folder holding this run's results resumes it)")
    p.add_argument("--force", action="store_true", help="write into a folder that holds other files")
    p.set_defaults(func=cmd_evaluate)


def _serve_parser(sub) -> None:
    p = sub.add_parser("serve", help="the interactive page in the browser")
    p.add_argument("--model", default=None, metavar="NAME|PATH",
                   help="serve only this model (zoo name or checkpoint path); default: every zoo model, dcgan-faces first")
    p.add_argument("--class", dest="class_name", default=None, metavar="NAME|INDEX", help="initial class for conditional models")
    p.add_argument("--host", default="127.0.0.1", metavar="ADDRESS", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, metavar="N", help="port (default 7860; 0 picks a free one)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto: CUDA when present")
    p.add_argument("--threads", type=int, default=6, metavar="N", help="request threads (default 6)")
    p.add_argument("--cache-size", default=None, metavar="SIZE",
                   help="disk space the Jacobian cache may use, e.g. 4G (default), 0: none; "
                        "least recently used Jacobians are deleted first")
    p.add_argument("--no-warmup", action="store_true",
                   help="skip preparing seed 0 (Jacobian, one direction computation) in the background")
    p.set_defaults(func=cmd_serve)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="lowrankgan", description="Local edits of GAN images by low-rank subspaces.",
                    formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"lowrankgan {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    plain = sub.add_parser
    sub.add_parser = lambda *a, **k: plain(*a, formatter_class=HelpFormatter, **k)  # every command shows defaults
    for register in (_models_parser, _sample_parser, _invert_parser, _directions_parser, _edit_parser,
                     _evaluate_parser, _serve_parser):
        register(sub)
    return parser
