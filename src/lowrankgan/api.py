"""The public Python API: every operation a front end needs.

The CLI (``cli/``) and the page (``web/``) import this module, ``errors``, ``directionfile``,
``regions`` and ``report`` and nothing else of the library (a test reads their imports).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .directionfile import (DirectionSet, check_compatible, load_directions, recorded_alphas, recorded_transform, region_beside,
                            transform_meta)
from .distributed import evaluate_on_ray, ray_region_grams  # Ray itself is imported only when used
from .facelandmarks import FACE_MODELS, image_face_presets
from .edit import check_seed, parse_int_list, parse_strengths, render, shift_codes, sweep
from .errors import LowRankGANError
from .evaluation import DEFAULT_METHODS, evaluate as run_evaluation, format_table
from .jacobian import compute_jacobian, default_analysis_size, embed_direction, region_gram_pair, set_cache_limit
from .latents import Latents, check_codes, load_latents
from .methods import DEFAULT_METHOD, METHODS, Directions, Method, find, get_method
from .metrics import Leak, calibrate, change_inside_outside, leak_from, measure_leaks, median
from .inputtransform import MAX_PAGE_ROTATE, MAX_PAGE_TRANSLATE, NO_TRANSFORM, Transform, check_transform, input_transform, supports_input_transform
from .precision import DEFAULT_PRECISION
from .models.base import check_truncation
from .models import (BIGGAN_NAMES, DEFAULT_MODEL, PRESETS, ZOO, GeneratorAdapter, load_model,
                     resolve_device)
from .models.zoo import cached, fetch
from .limits import parse_json, printable
from .pathedit import check_path_steps, path_codes, path_settings, path_sweep_codes
from .photo import MAX_PHOTO_BYTES, MAX_PHOTO_PIXELS, Alignment, decode_photo, load_photo
from .photoinvert import ALIGNS, PhotoInversion, invert_photo, paste_images, save_inversion
from .regions import Region, parse_region

__all__ = [
    "DEFAULT_METHOD", "DEFAULT_MODEL", "METHODS", "DirectionSet", "EditSetup", "GeneratorAdapter", "Leak",
    "DirectionReport", "change_inside_outside", "direction_report", "face_presets", "recorded_alphas", "region_beside",
    "ALIGNS", "Latents", "Method", "PhotoInversion", "Region", "Seeds", "analysis_size", "invert", "load_latents",
    "load_photo", "paste_edits", "save_inversion", "seed_labels", "as_model", "as_region", "composed_edit", "composed_sweep",
    "edit", "edit_setup", "find_directions", "get_method", "load_model", "locality", "median",
    "model_catalog", "parse_layers", "parse_seeds", "parse_strengths", "path_edit", "prepare_jacobian",
    "refetch_model", "resolve_device", "sample", "sample_codes", "check_seed", "check_path_steps", "check_truncation",
    "parse_json", "printable", "set_cache_limit", "decode_photo", "MAX_PHOTO_BYTES", "MAX_PHOTO_PIXELS",
    "MAX_PAGE_ROTATE", "MAX_PAGE_TRANSLATE", "NO_TRANSFORM", "Transform",
    "check_transform", "input_transform", "recorded_transform", "supports_input_transform",
]

ModelLike = GeneratorAdapter | str | None
LEAK_IMAGES = 5  # source images on which find_directions measures its top direction's leak


# ---------------------------------------------------------------------------------------------
# models, values, regions

def as_model(model: ModelLike, device: str | None = "auto", class_name: str | int | None = None) -> GeneratorAdapter:
    if isinstance(model, GeneratorAdapter):
        if class_name is not None:
            model.set_class(class_name)
        return model
    return load_model(model, device=device, class_name=class_name)


def model_catalog() -> list[dict]:
    """The zoo, the BigGAN names and the region presets, as ``lowrankgan models`` lists them."""
    rows = [{"name": name, "description": e.description, "package": f"{e.package}=={e.version}",
             "license": e.license, "cached": cached(e), "classes": list(e.classes),
             "presets": list(PRESETS.get(name, {})), "source": "zoo"} for name, e in ZOO.items()]
    rows += [{"name": name, "description": "BigGAN-deep (pytorch-pretrained-biggan), 1000 ImageNet classes",
              "package": "pytorch-pretrained-biggan", "license": "MIT", "cached": None, "classes": [],
              "presets": [], "source": "internet"} for name in BIGGAN_NAMES]
    return rows


def refetch_model(name: str) -> Path:
    """Download and verify a zoo model's weights again."""
    if name not in ZOO:
        raise LowRankGANError(f"unknown zoo model '{name[:40]}'; use one of: {', '.join(ZOO)}")
    return fetch(ZOO[name], refetch=True)


def model_description(name: str) -> str:
    entry = ZOO.get(name)
    return entry.description if entry else name


def analysis_size(gen: GeneratorAdapter) -> int:
    """The default analysis resolution of ``gen`` (its output size, at most 256)."""
    return default_analysis_size(gen)


def parse_seeds(text: str) -> list[int]:
    """``3``, ``0-7``, ``1,5,9`` or mixtures."""
    return parse_int_list(text, "seeds")


def parse_layers(text: str | None) -> list[int] | None:
    return None if text is None else parse_int_list(text, "layers")


def as_region(gen: GeneratorAdapter, region: str | Region) -> Region:
    return region if isinstance(region, Region) else parse_region(region, gen.resolution, gen.presets)


# Wherever a function takes seeds it takes codes: a ``Latents`` (``load_latents``, ``invert``), or a
# tensor / array of codes in the space asked for.
Seeds = int | Sequence[int] | Latents | np.ndarray | torch.Tensor


def _is_codes(seeds: Seeds) -> bool:
    return isinstance(seeds, (Latents, np.ndarray, torch.Tensor))


def _seeds(seeds: Seeds) -> list[int]:
    if _is_codes(seeds):
        raise LowRankGANError("this operation needs seeds, not codes")
    seeds = [seeds] if isinstance(seeds, int) else list(seeds)
    if not seeds:
        raise LowRankGANError("no seeds given")
    return seeds


def seed_space(gen: GeneratorAdapter, space: str | None, seeds: Seeds) -> str:
    """The space asked for, else the codes' own (a ``Latents`` records it), else the model's default."""
    own = seeds.space if isinstance(seeds, Latents) else None
    return gen.check_space(space or own or gen.default_space)


def sample_codes(gen: GeneratorAdapter, seeds: Seeds, space: str | None = None,
                 trunc: float = 1.0) -> torch.Tensor:
    """The seeds' codes in ``space`` with truncation ψ applied (as every operation here samples);
    given codes are checked against the model and ``space`` and returned as they are."""
    space = seed_space(gen, space, seeds)
    if not _is_codes(seeds):
        return gen.sample(_seeds(seeds), space, gen.set_truncation(trunc))
    gen.set_truncation(trunc)  # z-space StyleGAN2 synthesis applies ψ itself
    source = seeds.label if isinstance(seeds, Latents) else "the codes given"
    if isinstance(seeds, Latents):
        if seeds.space and seeds.space != space:
            raise LowRankGANError(f"codes from {source} are {seeds.space} codes; they cannot be used in {space} "
                                  f"(use --space {seeds.space})")
        if seeds.model_family and seeds.model_family != gen.model_family:
            raise LowRankGANError(f"codes from {source} belong to model {seeds.model_family}, not {gen.model_id}")
        seeds = seeds.codes
    codes = torch.as_tensor(np.asarray(seeds) if isinstance(seeds, np.ndarray) else seeds).detach()
    codes = codes.to(gen.device, torch.float32)
    return check_codes(codes, space, gen.latent_dim_for(space), gen.num_layers, gen.model_id, source)


def seed_labels(seeds: Seeds) -> list[str]:
    """How reports name each image: ``seed 3``, or ``code 0`` for given codes."""
    if _is_codes(seeds):
        n = len(seeds) if isinstance(seeds, Latents) else int(seeds.shape[0])
        return [f"code {i}" for i in range(n)]
    return [f"seed {s}" for s in _seeds(seeds)]


def sample(model: ModelLike, seeds: Seeds, space: str | None = None, trunc: float = 1.0) -> torch.Tensor:
    """Images ``[n, 3, H, W]`` in [-1, 1] for ``seeds`` (or codes)."""
    gen = as_model(model)
    space = seed_space(gen, space, seeds)
    return render(gen, sample_codes(gen, seeds, space, trunc), space)


# ---------------------------------------------------------------------------------------------
# directions

def find_directions(model: ModelLike, seeds: Seeds, region: str | Region,
                    method: str = DEFAULT_METHOD, space: str | None = None,
                    layers: Sequence[int] | None = None, analysis_size: int | None = None,
                    top_k: int | None = 10, trunc: float = 1.0, cache: bool = True,
                    progress: bool = True, leak_images: int = 0, ray: str | None = None,
                    precision: str = DEFAULT_PRECISION, chunk_size: int | None = None, **params) -> DirectionSet:
    """Local editing directions for ``region`` found on the image(s) of ``seeds`` (or of codes:
    a ``Latents`` from ``invert`` / ``load_latents``, or a tensor / array).

    Several seeds average the region Grams over their images, which makes the directions carry
    over to other images. ``params`` go to the method (``METHODS[method].params``). The top
    direction's leak (DESIGN §4) on up to ``leak_images`` of the source images is recorded as
    ``meta["leak_source_top1"]`` (median) when asked: it costs forward passes that the directions
    themselves do not need (``lowrankgan directions`` asks for ``LEAK_IMAGES``). ``ray`` (a cluster address, ``auto``
    or ``local``) computes the Jacobians on Ray workers (``distributed``); ``meta["ray"]`` records how.
    ``precision`` (strict | tf32) and ``chunk_size`` go to the Jacobians.
    """
    entry = get_method(method)
    if top_k is not None and top_k < 1:
        raise LowRankGANError(f"--top-k {top_k}: ask for at least one direction")
    gen = as_model(model)
    space = seed_space(gen, space, seeds)
    layers = gen.resolve_layers(space, layers)
    reg = as_region(gen, region)
    size = analysis_size or default_analysis_size(gen)
    params = entry.check_params(params)
    codes = sample_codes(gen, seeds, space, trunc)
    t0 = time.perf_counter()
    if ray is not None:
        labels = list(range(len(codes))) if _is_codes(seeds) else _seeds(seeds)  # codes travel as arrays
        grams, ray_info = ray_region_grams(ray, model, gen, labels, codes, reg, space, layers, size, trunc, cache, progress)
    else:
        grams = region_gram_pair(gen, codes, reg, space, layers, size, cache, progress, precision, chunk_size)
        ray_info = None
    t1 = time.perf_counter()
    dirs: Directions = find(grams, method, top_k=top_k, **params)
    t2 = time.perf_counter()
    meta = {
        "tool": "lowrankgan", "version": __version__,
        "model": gen.model_id, "model_family": gen.model_family, "class": gen.class_name,
        "latent_space": space, "latent_dim": int(grams.M_f.shape[0]), "layers": layers,
        "region": reg.spec, "region_fraction": round(reg.fraction, 4),
        "method": dirs.method, "params": dirs.params, "info": dirs.info,
        "seeds": None if _is_codes(seeds) else _seeds(seeds), "trunc": trunc, "analysis_size": size,
        "precision": precision, **transform_meta(gen.input_transform()),  # StyleGAN3: the moved picture's directions
        "timing_s": {"jacobian_and_grams": round(t1 - t0, 4), "factorize": round(t2 - t1, 4)},
        **({"ray": ray_info} if ray_info else {}),
    }
    dirset = DirectionSet(dirs.vectors.cpu().numpy().astype(np.float32), meta,
                          codes.detach().cpu().numpy().astype(np.float32))
    if leak_images > 0 and dirset.vectors.shape[0]:
        leaks = _leaks(gen, codes[:leak_images], torch.from_numpy(dirset.vectors[0]), reg, space, layers)
        record_source_leak(dirset, leaks, seed_labels(seeds)[:leak_images])
    if isinstance(seeds, Latents):
        meta["latent_source"] = seeds.source
    return dirset


def record_source_leak(dirset: DirectionSet, leaks: Sequence[Leak], labels: Sequence[str]) -> None:
    """Record the top direction's leak on source images (median) in the file's metadata, as
    ``lowrankgan directions`` prints it and the page's ZIP carries it."""
    meta = dirset.meta
    meta["leak_source_top1"] = round(median([lk.leak for lk in leaks]), 4)
    meta["leak_strength_top1"] = round(median([s for lk in leaks for s in lk.strengths if s == s]), 4)
    meta["leak_seeds"] = meta["seeds"][:len(leaks)] if meta.get("seeds") else []
    meta["leak_images"] = list(labels)


def direction_leaks(model: ModelLike, dirset: DirectionSet, seed: Seeds, region: str | Region,
                    trunc: float = 1.0, target: float = 0.1) -> list[Leak]:
    """The leak of every direction of ``dirset`` on one seed's image (the page shows these)."""
    job = edit_setup(model, dirset, seed, trunc=trunc)
    reg = as_region(job.gen, region)
    return [_leaks(job.gen, job.codes, torch.from_numpy(v), reg, job.space, job.layers, target)[0]
            for v in dirset.vectors]


SLIDER_TARGET = 0.3  # in-region RMS change (images in [-1, 1]) at the page's slider ends


@dataclass
class DirectionReport:
    """One direction on one image, as the page shows it beside its slider."""

    leak: float  # metrics' leak at the in-region RMS ``leak_target`` (inf: never reached)
    ends: tuple[float | None, float | None]  # (α₊, α₋) >= 0 reaching the slider target; None: unreached
    detail: Leak  # the leak with its calibrated strengths and per-sign values (``measure_leak``'s result)


def direction_report(model: ModelLike, dirset: DirectionSet, seed: int, region: str | Region,
                     slider_target: float = SLIDER_TARGET, leak_target: float = 0.1,
                     trunc: float = 1.0) -> list[DirectionReport]:
    """Per direction of ``dirset`` on ``seed``'s image: its leak (as ``direction_leaks`` and
    ``metrics.measure_leak`` define it: RMS outside / inside at in-region RMS ``leak_target``, mean
    of the two signs) and the strengths (in units of the file's vectors) along ``+v`` and ``-v`` that
    change the region by RMS ``slider_target`` (the page's slider ends). One batched
    ``metrics.calibrate`` call for every direction, sign and target."""
    job = edit_setup(model, dirset, seed, trunc=trunc)
    mask = torch.from_numpy(as_region(job.gen, region).mask)
    vecs = torch.from_numpy(dirset.vectors).float()
    norms = vecs.norm(dim=1)
    offsets = [embed_direction(job.gen, sign * v / n, job.space, job.layers)
               for v, n in zip(vecs, norms) for sign in (1.0, -1.0)]
    cal = calibrate(job.gen, job.codes[0], torch.stack(offsets), mask, [leak_target, slider_target], job.space)
    out = []
    for i, n in enumerate(norms.tolist()):
        leak = leak_from(cal, 2 * i, 2 * i + 1)
        ends = [float(cal["alpha"][2 * i + s, 1]) / n if bool(cal["reached"][2 * i + s, 1]) else None for s in range(2)]
        out.append(DirectionReport(leak.leak, (ends[0], ends[1]), leak))
    return out


def face_presets(gen: GeneratorAdapter, model_name: str, seed: int | Latents, trunc: float = 1.0) -> dict[str, str]:
    """Presets that follow the face of ``seed``'s image, or a code's (``facelandmarks``), for models
    whose images are faces; empty when the model has none or the face's landmarks fail their checks."""
    if model_name not in FACE_MODELS:
        return {}
    image = sample(gen, seed if _is_codes(seed) else [seed], trunc=trunc)[0].cpu().numpy()
    return image_face_presets(image) or {}


def _leaks(gen: GeneratorAdapter, codes: torch.Tensor, direction: torch.Tensor, region: Region, space: str,
           layers: Sequence[int] | None, target: float = 0.1) -> list[Leak]:
    return measure_leaks(gen, codes, direction, torch.from_numpy(region.mask), space, layers, target)


def prepare_jacobian(gen: GeneratorAdapter, seed: Seeds, space: str | None = None, trunc: float = 1.0) -> None:
    """Compute and cache the Jacobian that ``find_directions(gen, seed, ...)`` will read, so that
    finding directions for any region of that image afterwards takes a fraction of a second."""
    space = seed_space(gen, space, seed)
    code = sample_codes(gen, seed, space, trunc)[0]  # the code find_directions samples
    compute_jacobian(gen, code, space, gen.resolve_layers(space), default_analysis_size(gen),
                     cache=True, progress=False)


# ---------------------------------------------------------------------------------------------
# edits

def pick(dirset: DirectionSet, index: int) -> torch.Tensor:
    k = dirset.vectors.shape[0]
    if not 0 <= index < k:
        raise LowRankGANError(f"--index {index} is out of range: the file holds {k} directions (0-{k - 1})")
    return torch.from_numpy(dirset.vectors[index])


@dataclass
class EditSetup:
    """What every edit needs, resolved once: the model, the checked directions, the space, the W+
    layers and the seeds' codes."""

    gen: GeneratorAdapter
    dirset: DirectionSet
    space: str
    layers: list[int] | None
    codes: torch.Tensor


def edit_setup(model: ModelLike, directions: DirectionSet | str | Path, seeds: Seeds,
               space: str | None = None, layers: Sequence[int] | None = None, trunc: float = 1.0) -> EditSetup:
    """Load and check a direction file against the model, pick the space and layers (the user's, else
    the file's, else the model's), and sample the seeds' codes with truncation applied."""
    gen = as_model(model)
    dirset = directions if isinstance(directions, DirectionSet) else load_directions(directions)
    space = seed_space(gen, space or dirset.meta.get("latent_space"), seeds)
    check_compatible(dirset, gen.model_family, gen.model_id, space, gen.latent_dim_for(space))
    layers = gen.resolve_layers(space, layers if layers is not None else dirset.meta.get("layers"))
    return EditSetup(gen, dirset, space, layers, sample_codes(gen, seeds, space, trunc))


def edit(model: ModelLike, directions: DirectionSet | str | Path, seeds: Seeds,
         strengths: Sequence[float], index: int = 0, space: str | None = None,
         layers: Sequence[int] | None = None, trunc: float = 1.0) -> torch.Tensor:
    """Images ``[n_seeds, n_strengths, 3, H, W]``: each seed's image moved along one direction."""
    job = edit_setup(model, directions, seeds, space, layers, trunc)
    return sweep(job.gen, job.codes, pick(job.dirset, index), strengths, job.space, job.layers)


def _path_kwargs(job: EditSetup, region: str | Region | None) -> dict:
    region = region or job.dirset.region
    if not region:
        raise LowRankGANError("--path-steps needs the region: the direction file records none, give --region")
    return {"region": as_region(job.gen, region), "space": job.space, "layers": job.layers,
            "analysis_size": job.dirset.meta.get("analysis_size"), **path_settings(job.dirset)}


def path_edit(model: ModelLike, directions: DirectionSet | str | Path, seeds: Seeds,
              strengths: Sequence[float], steps: int, index: int = 0, region: str | Region | None = None,
              space: str | None = None, layers: Sequence[int] | None = None, trunc: float = 1.0,
              follow: str = "project") -> torch.Tensor:
    """Like ``edit`` (images ``[n_seeds, n_strengths, 3, H, W]``) but path-following
    (``pathedit``): the region and robust-PCA settings default to the direction file's.
    ``follow="project"`` re-projects the direction into the rest's null space at each step;
    ``"rederive"`` re-derives the region's best direction at each step (more local at strong edits)."""
    check_path_steps(steps)
    job = edit_setup(model, directions, seeds, space, layers, trunc)
    kwargs = {**_path_kwargs(job, region), "follow": follow}
    p = pick(job.dirset, index)
    rows = [render(job.gen, path_sweep_codes(job.gen, code, p, strengths, steps, **kwargs), job.space)
            for code in job.codes]
    return torch.stack(rows, 0)


def combined_direction(dirset: DirectionSet, alphas: Sequence[float]) -> torch.Tensor:
    """``Σ_i α_i v_i`` over the first ``len(alphas)`` directions."""
    a = np.zeros(dirset.vectors.shape[0], np.float32)
    a[:len(alphas)] = np.asarray(alphas, np.float32)[:dirset.vectors.shape[0]]
    return torch.from_numpy(a @ dirset.vectors)


def _moved(job: EditSetup, alphas: Sequence[float], path_steps: int, region: str | Region | None) -> torch.Tensor:
    """The codes moved by ``Σ α_i v_i``: along the straight line, or (``path_steps`` > 0) to the end
    of the path along ``v/|v|`` to strength ``|v|``."""
    direction = combined_direction(job.dirset, alphas)
    if path_steps <= 0:
        return shift_codes(job.gen, job.codes, direction, [1.0], job.space, job.layers)[:, 0]
    strength = float(direction.norm())
    if strength == 0.0:
        return job.codes
    kwargs = _path_kwargs(job, region)
    return torch.stack([path_codes(job.gen, code, direction / strength, strength, path_steps, **kwargs)[-1]
                        for code in job.codes], 0)


def composed_edit(model: ModelLike, directions: DirectionSet | str | Path, seeds: Seeds,
                  alphas: Sequence[float], path_steps: int = 0, region: str | Region | None = None,
                  space: str | None = None, layers: Sequence[int] | None = None, trunc: float = 1.0,
                  with_originals: bool = False) -> torch.Tensor:
    """Images ``[n, 3, H, W]``: each seed's image with several directions applied at once,
    ``c + Σ α_i v_i`` (the page's sliders; ``edit --alphas``). ``with_originals`` returns
    ``[2, n, 3, H, W]``, the unedited images first."""
    job = edit_setup(model, directions, seeds, space, layers, trunc)
    moved = _moved(job, alphas, path_steps, region)
    if with_originals:
        both = render(job.gen, torch.cat([job.codes, moved], 0), job.space)
        return both.view(2, len(job.codes), *both.shape[1:])
    return render(job.gen, moved, job.space)


def composed_sweep(model: ModelLike, directions: DirectionSet | str | Path, seed: Seeds, alphas: Sequence[float],
                   frames: int = 9, path_steps: int = 0, region: str | Region | None = None,
                   trunc: float = 1.0) -> torch.Tensor:
    """Images ``[1, frames, 3, H, W]``: the composed edit swept from −1× to +1× (direction 0 at
    the model's default strengths when every α is zero), along paths when ``path_steps`` > 0."""
    job = edit_setup(model, directions, seed, trunc=trunc)
    if any(abs(a) > 0 for a in alphas):
        direction, strengths = combined_direction(job.dirset, alphas), np.linspace(-1, 1, frames).tolist()
    else:
        direction, strengths = pick(job.dirset, 0), parse_strengths(job.gen.default_strengths)
    if path_steps <= 0:
        return sweep(job.gen, job.codes, direction, strengths, job.space, job.layers)
    # path_sweep_codes moves along the unit direction: strength s·|v| there is s·v on the line.
    norm = float(direction.norm())
    moved = path_sweep_codes(job.gen, job.codes[0], direction / norm, [s * norm for s in strengths], path_steps,
                             **_path_kwargs(job, region))
    return render(job.gen, moved, job.space)[None]


def slider_span(gen: GeneratorAdapter) -> float:
    """The model's default edit range ±span (±3 for the DCGANs)."""
    strengths = parse_strengths(gen.default_strengths)
    return max(abs(strengths[0]), abs(strengths[-1])) or 3.0


def locality(model: ModelLike, directions: DirectionSet | str | Path, seeds: Seeds,
             region: str | Region, index: int = 0, target: float = 0.1, trunc: float = 1.0) -> list[Leak]:
    """The leak (DESIGN §4) of direction ``index`` on each seed's image."""
    job = edit_setup(model, directions, seeds, trunc=trunc)
    return _leaks(job.gen, job.codes, pick(job.dirset, index), as_region(job.gen, region), job.space,
                  job.layers, target)


def method_descriptions() -> list[dict]:
    """Every method with its parameters (type, default, range, help), registry order."""
    return [m.describe() for m in METHODS.values()]


def evaluate(model: ModelLike, regions: str | Sequence[str], seeds: Sequence[int],
             methods: Sequence[str] = DEFAULT_METHODS, ray: str | None = None, **options) -> dict:
    """``lowrankgan evaluate``: see ``lowrankgan.evaluation.evaluate`` (options are the fields of
    ``EvaluationConfig``, plus ``device`` and ``class_name``). ``ray`` (a cluster address, ``auto``
    or ``local``) runs the sweep's cells on Ray workers, into the same resumable log."""
    if ray is not None:
        return evaluate_on_ray(ray, model, regions, seeds, methods, **options)
    return run_evaluation(model, regions, seeds, methods, **options)


def format_evaluation(summary: dict) -> str:
    """The comparison table of an evaluation summary (markdown)."""
    return format_table(summary)


# ---------------------------------------------------------------------------------------------
# photos

def invert(model: ModelLike, photo: str | Path | np.ndarray, space: str | None = None, steps: int = 300,
           restarts: int = 4, align: str = "auto", crop_box: tuple[float, float, float] | None = None,
           landmarks: Sequence[Sequence[float]] | None = None, seed: int = 0, progress: bool = True,
           on_step: Callable[[int, int], None] | None = None) -> PhotoInversion:
    """A photo's code: the photo (a file, or RGB ``uint8 [H, W, 3]``) aligned as the model was
    trained (``align``: auto / face / center, or ``crop_box`` = left, top, side), cropped to the
    model's resolution and inverted. ``result.latents()`` goes wherever seeds go;
    ``save_inversion`` writes it for ``--latent``. ``on_step(done, steps)``: progress callback."""
    gen = as_model(model)
    marks = None if landmarks is None else np.asarray(landmarks, np.float64)
    return invert_photo(gen, photo, space, steps, restarts, align, crop_box, marks, seed, progress, on_step)


def paste_edits(photo: str | Path | np.ndarray, latents: Latents | PhotoInversion, images: torch.Tensor,
                model: ModelLike = None, mode: str = "delta") -> torch.Tensor:
    """Edited crops ``[n, s, 3, R, R]`` of an inverted photo pasted back into the photo at its
    resolution (``[n, s, 3, H, W]``): ``mode`` ``delta`` adds only the edit (the change from the
    reconstruction) and keeps the photo's own detail; ``face`` replaces the face by the model's."""
    if mode not in ("delta", "face"):
        raise LowRankGANError(f"--paste {mode}: use delta or face")
    image = load_photo(photo) if isinstance(photo, (str, Path)) else np.asarray(photo)
    if isinstance(latents, PhotoInversion):
        al, meta, codes = latents.alignment, latents.meta(), latents.latents()
    else:
        if not isinstance(latents.meta.get("alignment"), dict):
            raise LowRankGANError(f"{latents.label} records no alignment: --photo needs codes written by `lowrankgan invert`")
        al, meta, codes = Alignment.from_json(latents.meta["alignment"]), latents.meta, latents
    base = None
    if mode == "delta":
        gen = as_model(model if model is not None else meta.get("model"))
        space = seed_space(gen, None, codes)
        base = render(gen, sample_codes(gen, codes, space), space)
    return paste_images(image, al, images, base)
