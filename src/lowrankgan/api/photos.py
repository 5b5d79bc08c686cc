"""Real photos: inversion into the latent space and pasting edits back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from ..maths.edit import render
from ..errors import LowRankGANError
from ..files.latents import Latents
from ..photos.photo import Alignment, load_photo, region_weight
from ..photos.photoinvert import PhotoInversion, invert_photo, paste_images
from ..models import model_reference
from .core import (ModelLike, as_model, seed_space, sample_codes)


def invert(model: ModelLike, photo: str | Path | np.ndarray, space: str | None = None, steps: int = 300,
           restarts: int = 4, align: str = "auto", crop_box: tuple[float, float, float] | None = None,
           landmarks: Sequence[Sequence[float]] | None = None, seed: int = 0, progress: bool = True,
           on_step: Callable[[int, int], None] | None = None) -> PhotoInversion:
    """A photo's code: the photo (a file, or RGB ``uint8 [H, W, 3]``) aligned as the model was
    trained (``align``: auto / face / center, or ``crop_box`` = left, top, side), cropped to the
    model's resolution and inverted. ``result.latents()`` goes wherever seeds go;
    ``save_inversion`` writes it for ``load_latents``. ``on_step(done, steps)``: progress callback."""
    gen = as_model(model)
    marks = None if landmarks is None else np.asarray(landmarks, np.float64)
    result = invert_photo(gen, photo, space, steps, restarts, align, crop_box, marks, seed, progress, on_step)
    result.model_source = model_reference(gen)  # editing these codes loads this model when none is named
    return result


def paste_edits(photo: str | Path | np.ndarray, latents: Latents | PhotoInversion, images: torch.Tensor,
                model: ModelLike = None, mode: str = "delta", region: np.ndarray | None = None,
                blend: str = "tone") -> torch.Tensor:
    """Edited crops ``[n, s, 3, R, R]`` of an inverted photo pasted back into the photo at its
    resolution (``uint8 [n, s, 3, H, W]``): ``mode`` ``delta`` adds only the edit (the change from the
    reconstruction) and keeps the photo's own detail; ``face`` replaces the face by the model's.
    ``region`` (the edit's mask, bool ``[R, R]``; with ``delta``): only the change inside it,
    feathered, reaches the photo, so a local edit does not recolour the rest of the face.
    ``blend`` (with ``delta``): ``tone`` carries the change's luminance within the photo's room and
    only a quarter of the model's chroma (``photos.blend``); ``add`` adds the change as it is.
    Memory: n·s times the photo's RGB bytes plus ~300 MB (a 40-megapixel photo at the default
    7 strengths: 0.8 GB of output)."""
    if mode not in ("delta", "face"):
        raise LowRankGANError(f"mode {mode}: use delta or face", "mode")
    if blend not in ("tone", "add"):
        raise LowRankGANError(f"blend {blend}: use tone or add")
    image = load_photo(photo) if isinstance(photo, (str, Path)) else np.asarray(photo)
    if isinstance(latents, PhotoInversion):
        al, meta, codes = latents.alignment, latents.meta(), latents.latents()
    else:
        if not isinstance(latents.meta.get("alignment"), dict):
            raise LowRankGANError(f"{latents.label} records no alignment: pasting into a photo needs codes written by `lowrankgan invert`")
        al, meta, codes = Alignment.from_json(latents.meta["alignment"]), latents.meta, latents
    base = None
    if mode == "delta":
        gen = as_model(model if model is not None else meta.get("model"))
        space = seed_space(gen, None, codes)
        base = render(gen, sample_codes(gen, codes, space), space)
    weight = region_weight(region, images.shape[-1]) if region is not None and base is not None else None
    return paste_images(image, al, images, base, weight, blend)
