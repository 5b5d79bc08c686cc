"""Finding directions for a region, and measuring how local they are."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .. import __version__
from ..files.directionfile import (DirectionSet, transform_meta)
from ..photos.facelandmarks import FACE_MODELS, FACE_REGIONS, image_face_presets
from ..errors import LowRankGANError
from ..limits import MAX_LATENT_BYTES, MAX_TOP_K
from ..maths.jacobian import compute_jacobian, default_analysis_size, embed_direction, region_gram_pair
from ..files.latents import Latents
from ..maths.methods import DEFAULT_METHOD, Directions, find, get_method
from ..maths.metrics import Leak, calibrate, leak_from, measure_leak_levels, measure_leaks, median
from ..maths.precision import DEFAULT_PRECISION
from ..models import GeneratorAdapter, model_reference
from ..maths.regions import Region
from ..maths.localpath import DEFAULT_PATH
from .core import (ModelLike, as_model, as_region, Seeds, _is_codes, _seeds, seed_space, sample_codes,
                   seed_labels, sample, edit_setup)


LEAK_IMAGES = 5  # source images on which find_directions measures its top direction's leak


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
    direction's leak (``maths.metrics``) on up to ``leak_images`` of the source images is recorded as
    ``meta["leak_source_top1"]`` (median) when asked: it costs forward passes that the directions
    themselves do not need (``lowrankgan directions`` asks for ``LEAK_IMAGES``). ``ray`` (a cluster address, ``auto``
    or ``local``) computes the Jacobians on Ray workers (``distributed``); ``meta["ray"]`` records how.
    ``precision`` (strict | tf32) and ``chunk_size`` go to the Jacobians.
    """
    entry = get_method(method)
    if top_k is not None and not 1 <= top_k <= MAX_TOP_K:
        raise LowRankGANError(f"top_k {top_k} is out of range 1..{MAX_TOP_K}: ask for at least one direction "
                              "(a model with d latent dimensions gives at most d)", "top_k")
    gen = as_model(model)
    space = seed_space(gen, space, seeds)
    layers = gen.resolve_layers(space, layers)
    reg = as_region(gen, region)
    size = analysis_size or default_analysis_size(gen)
    params = entry.check_params(params)
    codes = sample_codes(gen, seeds, space, trunc)
    if codes.numel() * 4 > MAX_LATENT_BYTES:  # latent.npy must stay readable
        raise LowRankGANError(f"{len(codes)} codes of {space} take {codes.numel() * 4 >> 20} MB in latent.npy (at most "
                              f"{MAX_LATENT_BYTES >> 20} MB); give fewer seeds")
    t0 = time.perf_counter()
    if ray is not None:
        labels = list(range(len(codes))) if _is_codes(seeds) else _seeds(seeds)  # codes travel as arrays
        from ..distributed import ray_region_grams  # only for ray: Ray itself is imported only when used
        grams, ray_info = ray_region_grams(ray, model, gen, labels, codes, reg, space, layers, size, trunc, cache,
                                           progress, precision=precision, chunk_size=chunk_size)
        precision = ray_info["precision"]  # what the workers report they computed in
    else:
        grams = region_gram_pair(gen, codes, reg, space, layers, size, cache, progress, precision, chunk_size)
        ray_info = None
    t1 = time.perf_counter()
    dirs: Directions = find(grams, method, top_k=top_k, **params)
    t2 = time.perf_counter()
    meta = {
        "tool": "lowrankgan", "version": __version__,
        "model": gen.model_id, "model_family": gen.model_family, "model_source": model_reference(gen),
        "class": gen.class_name,
        "latent_space": space, "latent_dim": int(grams.M_f.shape[0]), "layers": layers,
        "region": reg.spec, "region_fraction": round(reg.fraction, 4),
        "method": dirs.method, "params": dirs.params, "info": dirs.info,
        "seeds": None if _is_codes(seeds) else _seeds(seeds), "trunc": trunc, "analysis_size": size,
        "precision": precision, **transform_meta(gen.input_transform()),  # StyleGAN3: the moved picture's directions
        "timing_s": {"jacobian_and_grams": round(t1 - t0, 4), "factorize": round(t2 - t1, 4)},
        "path": DEFAULT_PATH,  # the edit these directions are made for (``edit`` follows it)
        **({"ray": ray_info} if ray_info else {}),
    }
    dirset = DirectionSet(dirs.vectors.cpu().numpy().astype(np.float32), meta,
                          codes.detach().cpu().numpy().astype(np.float32))
    if leak_images > 0 and dirset.vectors.shape[0]:
        leaks, strong = _source_leaks(gen, codes[:leak_images], torch.from_numpy(dirset.vectors[0]), reg, space, layers)
        record_source_leak(dirset, leaks, seed_labels(seeds)[:leak_images], strong)
    if isinstance(seeds, Latents):
        meta["latent_source"] = seeds.source
    return dirset


def _source_leaks(gen: GeneratorAdapter, codes: torch.Tensor, direction: torch.Tensor, region: Region, space: str,
                  layers: Sequence[int] | None) -> tuple[list[Leak], Leak]:
    """The top direction's leak on each source image, and on the first at the page's slider ends
    (in-region RMS ``SLIDER_TARGET``, straight line): one calibration of the first image for both
    levels, so the strong figure costs a few renders, not a second search."""
    first, strong = measure_leak_levels(gen, codes[0], direction, torch.from_numpy(region.mask), space, layers,
                                        (0.1, SLIDER_TARGET))
    rest = _leaks(gen, codes[1:], direction, region, space, layers) if len(codes) > 1 else []
    return [first, *rest], strong


def record_source_leak(dirset: DirectionSet, leaks: Sequence[Leak], labels: Sequence[str],
                       strong: Leak | None = None) -> None:
    """Record the top direction's leak on source images (median) in the file's metadata, as
    ``lowrankgan directions`` prints it and the page's ZIP carries it; ``strong``: its leak on the
    first image at the page's slider ends, on the straight line (``leak_slider_straight_top1``)."""
    meta = dirset.meta
    meta["leak_source_top1"] = round(median([lk.leak for lk in leaks]), 4)
    meta["leak_strength_top1"] = round(median([s for lk in leaks for s in lk.strengths if s == s]), 4)
    meta["leak_seeds"] = meta["seeds"][:len(leaks)] if meta.get("seeds") else []
    meta["leak_images"] = list(labels)
    if strong is not None:
        meta["leak_slider_straight_top1"] = round(strong.leak, 4)


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
    """Regions that follow the face of ``seed``'s image, or a code's: eyes, each eye, brows, nose,
    mouth and chin shaped from the face detector's landmarks (``facelandmarks``), as region specs;
    empty for models whose images are not faces, or when no face is found."""
    if model_name not in FACE_MODELS:
        return {}
    image = sample(gen, seed if _is_codes(seed) else [seed], trunc=trunc)[0].cpu().numpy()
    return image_face_presets(image)


FACE_SUFFIX = "@face"  # "eyes@face": the eyes of this image's face (face_presets) in a region spec


def face_region(gen: GeneratorAdapter, model_name: str, seed: int | Latents, spec: str, trunc: float = 1.0) -> str:
    """``spec`` with each ``NAME@face`` part replaced by that region of the face in ``seed``'s
    image (``face_presets``); other parts are kept as they are."""
    parts = [p.strip() for p in (spec or "").split("+")]
    if not any(p.endswith(FACE_SUFFIX) for p in parts):
        return spec
    found = face_presets(gen, model_name, seed, trunc)
    if not found:
        why = "its images are not faces" if model_name not in FACE_MODELS else "no face found in the image"
        raise LowRankGANError(f"region '{spec[:80]}': {model_name} has no face regions here ({why}); "
                              "use a fixed preset or a box")
    out = []
    for part in parts:
        if part.endswith(FACE_SUFFIX):
            name = part[: -len(FACE_SUFFIX)]
            if name not in found:
                raise LowRankGANError(f"unknown face region '{name[:40]}': use one of "
                                      f"{', '.join(n + FACE_SUFFIX for n in FACE_REGIONS)}")
            part = found[name]
        out.append(part)
    return "+".join(out)


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
