"""Models, seeds or codes, regions, sampling and a direction file checked against a model: what
every other part of the API starts from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..files.directionfile import (DirectionSet, check_compatible, load_directions)
from ..maths.edit import parse_int_list, render
from ..limits import MAX_LAYERS
from ..errors import LowRankGANError
from ..maths.jacobian import default_analysis_size
from ..files.latents import Latents, check_codes
from ..models import (BIGGAN_NAMES, PRESETS, ZOO, GeneratorAdapter, load_model)
from ..models.zoo import cached, fetch
from ..maths.regions import Region, parse_region


ModelLike = GeneratorAdapter | str | None


def as_model(model: ModelLike, device: str | None = "auto", class_name: str | int | None = None) -> GeneratorAdapter:
    if isinstance(model, GeneratorAdapter):
        if class_name is not None:
            model.set_class(class_name)
        return model
    return load_model(model, device=device, class_name=class_name)


def recorded_model(meta: dict) -> str | None:
    """The model a direction file's or latent file's metadata records, as ``load_model`` takes it:
    the recorded name or checkpoint path where it can still be loaded, else None."""
    for key in ("model_source", "model"):
        ref = meta.get(key)
        if not isinstance(ref, str) or not ref:
            continue
        if ref in ZOO or ref in BIGGAN_NAMES or (key == "model_source" and Path(ref).exists()):
            return ref
    return None


def recorded_family(meta: dict) -> str | None:
    """The model family the metadata records (``name@file`` -> ``name``), None where it records none."""
    family = meta.get("model_family") or meta.get("model")
    return str(family).split("@")[0] if isinstance(family, str) and family else None


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
    """W+ rows: ``4-7``, ``0,2,4`` or mixtures, each in ``0..MAX_LAYERS - 1``."""
    return None if text is None else parse_int_list(text, "layers", MAX_LAYERS, MAX_LAYERS - 1)


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
                                  f"(use space {seeds.space})", "space")
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


def pick(dirset: DirectionSet, index: int) -> torch.Tensor:
    k = dirset.vectors.shape[0]
    if not 0 <= index < k:
        raise LowRankGANError(f"index {index} is out of range: the file holds {k} directions (0-{k - 1})", "index")
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
