"""Shared option handling of the subcommands: the model, seeds or codes, transforms, method
parameters, output paths."""

from __future__ import annotations

import argparse
import contextlib
import math
from collections.abc import Sequence
from pathlib import Path


from .. import api
from ..errors import LowRankGANError
from .flags import param_flag


def threads_of(args: argparse.Namespace, resolution: int | None) -> None:
    """Torch's CPU threads for this command: --threads, else $LOWRANKGAN_THREADS, else the policy."""
    given = None if getattr(args, "threads", None) is None else api.parse_threads(args.threads, "--threads")
    api.use_threads(given, resolution)


def common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, metavar="NAME|PATH", help="zoo name (see `lowrankgan models`) or checkpoint path; default dcgan-faces")
    p.add_argument("--class", dest="class_name", default=None, metavar="NAME|INDEX", help="class for conditional models (name or index)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto: CUDA when present")
    p.add_argument("--threads", default=None, metavar="N|all",
                   help=f"CPU threads (default: ${api.THREADS_ENV}, else 1 for images up to 256 px a side, up to 4 above)")


def transform_options(p: argparse.ArgumentParser, default: str = "") -> None:
    p.add_argument("--translate", default=None, metavar="TX,TY",
                   help=f"StyleGAN3: move the image by TX,TY image widths/heights (right, down) first{default}")
    p.add_argument("--rotate", type=float, default=None, metavar="DEG",
                   help=f"StyleGAN3: turn the image by DEG degrees (counter-clockwise) first{default}")


def input_transform_of(args, recorded: tuple[tuple[float, float], float] | None = None) -> tuple[tuple[float, float], float]:
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


def load_model_of(args: argparse.Namespace, recorded: tuple[tuple[float, float], float] | None = None,
                  files: Sequence[tuple[str, dict]] = ()) -> api.GeneratorAdapter:
    """The model (--model, else the one ``files`` record, else the default), moved / turned by
    --translate / --rotate, else by ``recorded`` (a direction file's)."""
    translate, rotate = input_transform_of(args, recorded)  # bad values fail before the model loads
    model_from_files(args, files)
    gen = api.as_model(args.model, args.device, args.class_name)
    check_model_of_files(args, gen, files)
    threads_of(args, gen.resolution)
    if recorded is not None and args.translate is None and args.rotate is None:
        if not api.supports_input_transform(gen):
            raise LowRankGANError(f"the directions were found on a StyleGAN3 picture moved first ({api.transform_text(recorded)}); "
                                  f"model {gen.model_id} has no input transform: edit with the StyleGAN3 model they were found on")
        print(f"applying the direction file's input transform ({api.transform_text(recorded)}); "
              "--translate / --rotate override it")
    gen.set_input_transform(translate, rotate)
    return gen


def model_from_files(args: argparse.Namespace, files: Sequence[tuple[str, dict]]) -> None:
    """No --model: take the model the first of ``files`` (label, metadata) records, said in one line."""
    if args.model is not None:
        return
    for label, meta in files:
        ref = api.recorded_model(meta)
        if ref is not None:
            args.model = ref
            if args.class_name is None and isinstance(meta.get("class"), str):
                args.class_name = meta["class"]  # a conditional model's directions belong to their class
            which = f" (class {args.class_name})" if args.class_name else ""
            print(f"using model {ref}{which}, recorded in {label}; --model overrides it")
            return


def check_model_of_files(args: argparse.Namespace, gen: api.GeneratorAdapter, files: Sequence[tuple[str, dict]]) -> None:
    """Refuse a model other than the one a file was made with, naming the fix."""
    for label, meta in files:
        family = api.recorded_family(meta)
        if family is None or family == gen.model_family:
            continue
        made = api.printable(str(meta.get("model") or family), 200)
        ref = api.recorded_model(meta)
        if ref is not None:
            fix = f"drop --model or pass --model {ref}" if args.model != ref else f"pass --model {ref}"
        else:
            fix = "pass --model with the checkpoint file it was made with"
        raise LowRankGANError(f"{label} was made with {made}, not {gen.model_id}; {fix}")


def recorded_files(dirset: api.DirectionSet | None, seeds) -> list[tuple[str, dict]]:
    """The direction file and latent file a command reads, as (how messages name it, its metadata)."""
    files = []
    for source, meta in ((dirset.source, dirset.meta) if dirset is not None else ("", {}),
                         (seeds.source, seeds.meta) if isinstance(seeds, api.Latents) else ("", {})):
        if meta:
            path = Path(source)
            files.append((str(path.parent) if path.name in ("directions.npy", "latent.npy") else source, meta))
    return files


def out_file(path: str) -> Path:
    out = Path(path)
    if out.is_dir():
        raise LowRankGANError(f"--out {out} is a folder; give a file name ending in .png, .gif or .html")
    if out.exists() and not out.is_file():
        raise LowRankGANError(f"--out {out} exists and is not a plain file; choose another --out")
    api.check_writable(out.parent)
    return out


def float_list(text: str, what: str) -> list[float]:
    try:
        vals = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise LowRankGANError(f"bad {what} '{text}': give a comma list of numbers such as 0.05,0.1,0.2") from None
    if not vals or any(not math.isfinite(v) or v <= 0 for v in vals):
        raise LowRankGANError(f"bad {what} '{text}': give positive numbers")
    return vals


def method_params(args: argparse.Namespace, method: str) -> dict:
    """The registry parameters the user set; another method's parameter is an error, not ignored."""
    params, wrong = {}, []
    for entry in api.METHODS.values():
        for param in entry.params:
            value = getattr(args, param_dest(entry.name, param), None)
            if value is None:
                continue
            if entry.name == method:
                params[param.name] = value
            else:
                wrong.append(f"{param_flag(entry.name, param)} (a {entry.name} parameter)")
    if wrong:
        raise LowRankGANError(f"{', '.join(wrong)} does not apply to --method {method}; drop it or change the method")
    return params


def _number(value: float) -> str:
    """A range end as a reader writes it: 4096, 2147483647, 1e-06 (not 2.14748e+09)."""
    if isinstance(value, int) or (float(value).is_integer() and abs(value) < 1e16):
        return str(int(value))
    return f"{value:g}"


def param_dest(method: str, param) -> str:
    return "param_" + param_flag(method, param).lstrip("-").replace("-", "_")


def add_method_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", default=api.DEFAULT_METHOD,
                   help="; ".join(f"{m.name}: {m.summary}" for m in api.METHODS.values()))
    group = p.add_argument_group("method parameters (each applies to the method named in brackets)")
    for m in api.METHODS.values():
        for param in m.params:
            default = param.default_text if param.default_text is not None else param.default
            rng = f", {_number(param.low)}..{_number(param.high)}" if param.low is not None else ""
            choices = f", one of {'/'.join(param.choices)}" if param.choices else ""
            group.add_argument(param_flag(m.name, param), dest=param_dest(m.name, param), default=None, metavar=param.type.__name__.upper(),
                               help=f"[{m.name}] {param.help} (default {default}{rng}{choices})")


# ---------------------------------------------------------------------------------------------
# commands


def seeds_or_latent(seed: int | None, seeds: str | None, latent: str | None, default: str | None = None):
    """``--seed`` / ``--seeds`` / ``--latent``: at most one (exactly one without a default)."""
    given = [v is not None for v in (seed, seeds, latent)]
    if sum(given) > 1 or (sum(given) == 0 and default is None):
        raise LowRankGANError("give exactly one of --seed S, --seeds A-B or --latent FILE")
    if latent is not None:
        return api.load_latents(latent)
    return [api.check_seed(seed)] if seed is not None else api.parse_seeds(seeds or default)


def file_codes(args: argparse.Namespace, dirset: api.DirectionSet) -> api.Latents | None:
    """Where neither --seeds nor --latent is given and the directions were found on codes
    (``directions --latent``, a photo on the page), those codes (the file's latent.npy), said in one line."""
    own = api.source_latents(dirset) if args.seeds is None and args.latent is None else None
    if own is not None:
        n = len(own)
        print(f"editing the {n} code{'s' * (n != 1)} the directions were found on ({api.printable(own.label)}); "
              "--seeds / --latent edit others")
    return own


def crop_box(text: str | None) -> tuple[float, float, float] | None:
    if text is None:
        return None
    try:
        left, top, side = (float(v) for v in text.split(","))
    except ValueError:
        raise LowRankGANError(f"bad --crop '{text}': give LEFT,TOP,SIDE in photo pixels such as 120,40,256") from None
    if not all(math.isfinite(v) for v in (left, top, side)) or side <= 0:
        raise LowRankGANError(f"bad --crop '{text}': the side must be positive and the numbers finite")
    return left, top, side


@contextlib.contextmanager
def path_progress():
    """A progress callback for the local paths: a bar on stderr (shown after a second)."""
    from tqdm.auto import tqdm
    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc="local path", unit="step", delay=1.0, leave=False)
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        yield update
    finally:
        if bar is not None:
            bar.close()


def path_summary(cost) -> str:
    """What the paths cost, for the CLI's last line."""
    if not cost.jacobians:
        return "straight line" if cost.seconds == 0 else "straight line: the edit stayed local without a path"
    return f"local path: {cost.jacobians} Jacobians, {cost.seconds:.1f} s"
