"""The public Python API. The CLI and the web page call these and nothing else."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .directionfile import DirectionSet, check_compatible, load_directions
from .edit import render, shift_codes, sweep
from .errors import LowRankGANError
from . import methods  # noqa: F401  (registers jacobian-svd, ganspace, sefa, random)
from .factorize import METHODS, Directions, RegionGrams, find
from .jacobian import averaged_region_grams, compute_jacobian, default_analysis_size
from .precision import DEFAULT_PRECISION
from .metrics import Leak, measure_leaks
from .models import GeneratorAdapter, load_model
from .regions import Region, check_analysis_masks, parse_region

ModelLike = GeneratorAdapter | str | None


def as_model(model: ModelLike, device: str | None = "auto", class_name: str | int | None = None) -> GeneratorAdapter:
    if isinstance(model, GeneratorAdapter):
        if class_name is not None:
            model.set_class(class_name)
        return model
    return load_model(model, device=device, class_name=class_name)


def use_truncation(gen: GeneratorAdapter, trunc: float) -> float:
    """Set ψ on the model (``set_truncation``); returns the ψ that ``gen.sample`` must still apply."""
    return gen.set_truncation(trunc)


def as_region(gen: GeneratorAdapter, region: str | Region) -> Region:
    return region if isinstance(region, Region) else parse_region(region, gen.resolution, gen.presets)


def _seeds(seeds: int | Sequence[int]) -> list[int]:
    seeds = [seeds] if isinstance(seeds, int) else list(seeds)
    if not seeds:
        raise LowRankGANError("no seeds given")
    return seeds


def sample(model: ModelLike, seeds: int | Sequence[int], space: str | None = None, trunc: float = 1.0) -> torch.Tensor:
    """Images ``[n, 3, H, W]`` in [-1, 1] for ``seeds``."""
    gen = as_model(model)
    space = gen.check_space(space or gen.default_space)
    trunc = use_truncation(gen, trunc)
    return render(gen, gen.sample(_seeds(seeds), space, trunc), space)


def region_gram_pair(gen: GeneratorAdapter, codes: torch.Tensor, region: Region, space: str,
                     layers: Sequence[int] | None, analysis_size: int, cache: bool = True,
                     progress: bool = True, precision: str = DEFAULT_PRECISION,
                     chunk_size: int | None = None) -> RegionGrams:
    """Region and rest Grams averaged over ``codes`` (one Jacobian per code, cached; formed on the
    model's device). ``precision``: strict or tf32 (CUDA); ``chunk_size``: tangents per batch
    (default: from the device's free memory on a GPU, a 1 GiB budget on the CPU)."""
    fg, _ = check_analysis_masks(region, analysis_size)
    M_f, M_b = averaged_region_grams(gen, codes, fg, space, layers, analysis_size, cache, progress,
                                     precision, chunk_size)
    n_f = int(fg.sum())
    return RegionGrams(M_f, M_b, n_f, fg.numel() - n_f, gen, space,
                       list(layers) if layers is not None else None)


def find_directions(model: ModelLike, seeds: int | Sequence[int], region: str | Region,
                    method: str = "lowrankgan", space: str | None = None,
                    layers: Sequence[int] | None = None, analysis_size: int | None = None,
                    top_k: int | None = 10, trunc: float = 1.0, cache: bool = True,
                    progress: bool = True, precision: str = DEFAULT_PRECISION,
                    chunk_size: int | None = None, **params) -> DirectionSet:
    """Local editing directions for ``region`` found on the image(s) of ``seeds``.

    Several seeds average the region Grams over their images, which makes the directions carry
    over to other images. ``params`` go to the method (``lam``, ``relax``, ``rank_rtol``,
    ``order`` for lowrankgan; ``tau`` for resefa). ``precision`` (strict | tf32) and ``chunk_size``
    go to the Jacobians (``region_gram_pair``).
    """
    if method not in METHODS:
        raise LowRankGANError(f"unknown method '{method}'; use one of: {', '.join(METHODS)}")
    if top_k is not None and top_k < 1:
        raise LowRankGANError(f"--top-k {top_k}: ask for at least one direction")
    gen = as_model(model)
    seeds = _seeds(seeds)
    space = gen.check_space(space or gen.default_space)
    layers = gen.resolve_layers(space, layers)
    reg = as_region(gen, region)
    size = analysis_size or default_analysis_size(gen)
    trunc = use_truncation(gen, trunc)
    codes = gen.sample(seeds, space, trunc)
    t0 = time.perf_counter()
    grams = region_gram_pair(gen, codes, reg, space, layers, size, cache, progress, precision, chunk_size)
    t1 = time.perf_counter()
    dirs: Directions = find(grams, method, top_k=top_k, **params)
    t2 = time.perf_counter()
    meta = {
        "tool": "lowrankgan", "version": __version__,
        "model": gen.model_id, "model_family": gen.model_family, "class": gen.class_name,
        "latent_space": space, "latent_dim": int(grams.M_f.shape[0]), "layers": layers,
        "region": reg.spec, "region_fraction": round(reg.fraction, 4),
        "method": dirs.method, "params": dirs.params, "info": dirs.info,
        "seeds": seeds, "trunc": trunc, "analysis_size": size, "precision": precision,
        "timing_s": {"jacobian_and_grams": round(t1 - t0, 4), "factorize": round(t2 - t1, 4)},
    }
    return DirectionSet(dirs.vectors.cpu().numpy().astype(np.float32), meta,
                        codes.detach().cpu().numpy().astype(np.float32))


def as_directions(gen: GeneratorAdapter, directions: DirectionSet | str | Path, space: str) -> DirectionSet:
    dirset = directions if isinstance(directions, DirectionSet) else load_directions(directions)
    check_compatible(dirset, gen.model_family, gen.model_id, space, gen.latent_dim_for(space))
    return dirset


def edit_space(gen: GeneratorAdapter, dirset: DirectionSet, space: str | None) -> str:
    return gen.check_space(space or dirset.meta.get("latent_space") or gen.default_space)


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


def edit_setup(model: ModelLike, directions: DirectionSet | str | Path, seeds: int | Sequence[int],
               space: str | None = None, layers: Sequence[int] | None = None, trunc: float = 1.0) -> EditSetup:
    """Load and check a direction file against the model, pick the space and layers (the user's, else
    the file's, else the model's), and sample the seeds' codes with truncation applied."""
    gen = as_model(model)
    dirset = directions if isinstance(directions, DirectionSet) else load_directions(directions)
    space = edit_space(gen, dirset, space)
    dirset = as_directions(gen, dirset, space)
    layers = gen.resolve_layers(space, layers if layers is not None else dirset.meta.get("layers"))
    trunc = use_truncation(gen, trunc)
    return EditSetup(gen, dirset, space, layers, gen.sample(_seeds(seeds), space, trunc))


def edit(model: ModelLike, directions: DirectionSet | str | Path, seeds: int | Sequence[int],
         strengths: Sequence[float], index: int = 0, space: str | None = None,
         layers: Sequence[int] | None = None, trunc: float = 1.0) -> torch.Tensor:
    """Images ``[n_seeds, n_strengths, 3, H, W]``: each seed's image moved along one direction."""
    job = edit_setup(model, directions, seeds, space, layers, trunc)
    return sweep(job.gen, job.codes, pick(job.dirset, index), strengths, job.space, job.layers)


def locality(model: ModelLike, directions: DirectionSet, seeds: int | Sequence[int], region: str | Region,
             index: int = 0, target: float = 0.1, trunc: float = 1.0) -> list[Leak]:
    """The leak (DESIGN §4) of direction ``index`` on each seed's image."""
    job = edit_setup(model, directions, seeds, trunc=trunc)
    mask = torch.from_numpy(as_region(job.gen, region).mask)
    p = pick(job.dirset, index)
    return measure_leaks(job.gen, job.codes, p, mask, job.space, job.layers, target)


def prepare_jacobian(gen: GeneratorAdapter, seed: int, space: str | None = None, trunc: float = 1.0) -> None:
    """Compute and cache the Jacobian that ``find_directions(gen, seed, ...)`` will read, so that
    finding directions for any region of that image afterwards takes a fraction of a second."""
    space = gen.check_space(space or gen.default_space)
    layers = gen.resolve_layers(space)
    code = gen.sample([seed], space, use_truncation(gen, trunc))[0]  # the code find_directions samples
    compute_jacobian(gen, code, space, layers, default_analysis_size(gen), cache=True, progress=False)


def compose_edit(gen: GeneratorAdapter, codes: torch.Tensor, dirset: DirectionSet,
                 alphas: Sequence[float], space: str, layers: Sequence[int] | None = None) -> torch.Tensor:
    """``codes + Σ_i α_i v_i``: several directions of ``dirset`` applied at once (``[n, ...]``)."""
    combined = combined_direction(dirset, alphas)
    return shift_codes(gen, codes, combined, [1.0], space, layers)[:, 0]


def combined_direction(dirset: DirectionSet, alphas: Sequence[float]) -> torch.Tensor:
    a = np.zeros(dirset.vectors.shape[0], np.float32)
    a[:len(alphas)] = np.asarray(alphas, np.float32)
    return torch.from_numpy(a @ dirset.vectors)
