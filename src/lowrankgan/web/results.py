"""Direction sets computed on the page, kept per server (an LRU), and what is drawn from them: the
original and edited images, the strip, the GIF sweep, and the ZIP of direction files."""

from __future__ import annotations

import io
import tempfile
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .. import api
from ..api import DirectionSet, GeneratorAdapter, Region
from .jobs import RenderSlots, lru_put
from .models import ModelCache
from .paths import PathWalk
from .photos import Photo, as_seeds


@dataclass
class Result:
    """Directions found for one drawn region of one image."""

    id: str
    model: str
    class_name: str | None
    dirset: DirectionSet
    seed: int | Photo  # the image the directions were found on: a seed, or an uploaded photo's code
    region: Region
    space: str
    layers: list[int] | None
    span: float = 0.0  # the largest calibrated slider end (the renders accept up to 4x)
    transform: api.Transform | None = None  # StyleGAN3's input transform (None: the model has none)
    path_tops: list[tuple[float, float]] = field(default_factory=list)  # each slider's (+, −) ends
    # The local paths on the result's own image, to the ends, per direction as the background walk
    # (web/paths.py) finishes them (None: not yet), with their leaks at both ends; None: no walk.
    paths: list[api.DirectionPath | None] | None = None
    end_leaks: list[tuple[float | None, float | None] | None] = field(default_factory=list)
    straight: list[api.DirectionPath] = field(default_factory=list)  # stand-ins while a path is walked
    walk: PathWalk | None = None
    original: torch.Tensor | None = field(default=None, repr=False)  # its own image, once rendered

    @property
    def input_transform(self) -> api.Transform:
        """The transform its directions were computed at (none for models without one)."""
        return self.transform or api.NO_TRANSFORM

    def scope(self, gen: GeneratorAdapter):
        """Renders of this result use the transform its directions were computed at."""
        return api.input_transform(gen, *self.input_transform)


class Results:
    """The latest ``limit`` results by id. Thread-safe."""

    def __init__(self, limit: int = 32) -> None:
        self.limit = limit
        self._results: OrderedDict[str, Result] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, result: Result) -> None:
        with self._lock:
            before = list(self._results.values())
            lru_put(self._results, result.id, result, self.limit)
            dropped = [r for r in before if r.id not in self._results]
        for res in dropped:  # nobody can render them any more: stop their path walks
            if res.walk is not None:
                res.walk.cancel.set()

    def cancel_walks(self) -> None:
        """Stop every background path walk (a new Compute needs the CPU; the page shows its result)."""
        with self._lock:
            walks = [r.walk for r in self._results.values() if r.walk is not None]
        for walk in walks:
            walk.cancel.set()

    def get(self, result_id: str) -> Result:
        with self._lock:
            res = self._results.get(result_id)
            if res is not None:
                self._results.move_to_end(result_id)
        if res is None:
            raise KeyError(result_id)
        return res


class Renders:
    """Images of the offered models and of stored results, each render in a render slot."""

    def __init__(self, models: ModelCache, slots: RenderSlots) -> None:
        self.models, self.slots = models, slots

    def image(self, gen: GeneratorAdapter, seeds: Sequence[int] | api.Latents,
              transform: api.Transform = api.NO_TRANSFORM) -> torch.Tensor:
        with self.slots.render(), api.input_transform(gen, *transform):
            return api.sample(gen, _listed(seeds))

    def original(self, res: Result, seeds: Sequence[int] | api.Latents) -> torch.Tensor:
        """The unedited images ``[n, 3, H, W]`` a render of ``res`` is measured against; the result's
        own image is rendered once and kept (every slider render reads it: rendering it again would
        double a render's cost)."""
        own = (list(seeds) == [res.seed] if isinstance(res.seed, int) and not isinstance(seeds, api.Latents)
               else not isinstance(res.seed, int) and seeds is res.seed.latents)
        if own and res.original is not None:
            return res.original
        image = self.image(self.models.get(res.model, res.class_name), seeds, res.input_transform)
        if own:
            res.original = image
        return image

    def edited(self, res: Result, seeds: Sequence[int] | api.Latents, alphas: Sequence[float],
               steps: int = api.DEFAULT_STEPS, preview: bool = False) -> tuple[torch.Tensor, bool]:
        """Images ``[n, 3, H, W]``: each seed's image with the sliders' edit (along the local paths
        unless ``steps`` is 0: the straight line), and whether a direction whose path is still being
        walked was drawn on the straight line instead (only with ``preview``: a slider render; else
        such paths are computed here)."""
        gen = self.models.get(res.model, res.class_name)
        args, pending = _path_args(res, seeds, steps, alphas, preview)
        with self.slots.for_steps(_slow(steps, args)), res.scope(gen):
            return api.composed_edit(gen, res.dirset, _listed(seeds), alphas, steps, res.region, **args), pending

    def strip(self, res: Result, seeds: Sequence[int], alphas: Sequence[float], outline: bool,
              steps: int = api.DEFAULT_STEPS) -> Image.Image:
        """Originals (top row) and edited images (bottom row) for ``seeds``."""
        gen = self.models.get(res.model, res.class_name)
        args, _ = _path_args(res, list(seeds), steps, alphas)
        with self.slots.for_steps(_slow(steps, args)), res.scope(gen):
            images = api.composed_edit(gen, res.dirset, list(seeds), alphas, steps, res.region, with_originals=True,
                                       **args)
        return api.grid_image(images, mask=res.region.mask if outline else None)

    def gif(self, res: Result, seed: int | Photo, alphas: Sequence[float], outline: bool, frames: int = 9,
            steps: int = api.DEFAULT_STEPS) -> bytes:
        """The current edit swept from −1× to +1× (direction 1 at the model's default strengths
        when every slider is at zero), there and back; along the local paths unless ``steps`` is 0."""
        gen = self.models.get(res.model, res.class_name)
        seeds = as_seeds(seed)
        args, _ = _path_args(res, _listed(seeds), steps, alphas, sweep=True)  # at 0: direction 0's sweep
        with self.slots.for_steps(_slow(steps, args)), res.scope(gen):
            images = api.composed_sweep(gen, res.dirset, seeds, alphas, frames, steps, res.region, **args)
        return api.gif_bytes(api.gif_frames(images, res.region.mask if outline else None))


def _path_args(res: Result, seeds, steps: int, alphas: Sequence[float],
               preview: bool = False, sweep: bool = False) -> tuple[dict, bool]:
    """The local paths of a render: the cached ones on the result's own image (the default steps),
    else computed for these seeds to the same slider ends (``edit --alphas recorded`` does so too).
    A cached path still being walked: with ``preview`` its direction goes on the straight line
    (the second value says so); without, the render computes its paths itself."""
    base = {"path_tops": res.path_tops}
    own = res.paths is not None and steps == api.DEFAULT_STEPS and (
        (isinstance(res.seed, int) and isinstance(seeds, list) and seeds == [res.seed]) or
        (isinstance(seeds, api.Latents) and not isinstance(res.seed, int)))
    if not own:
        return base, False
    needed = [i for i, a in enumerate(alphas) if a != 0 and i < len(res.paths)] or ([0] if sweep else [])
    missing = [i for i in needed if res.paths[i] is None]
    pending = bool(missing)
    if pending and res.walk is not None:
        res.walk.want(missing)  # the slider being moved is walked next
    if pending and not preview:
        return base, False
    paths = [p if p is not None else s for p, s in zip(res.paths, res.straight)]
    return {**base, "paths": [paths]}, pending


def _slow(steps: int, args: dict) -> int:
    """Path steps that need the path slot: only renders without cached paths pay Jacobians."""
    return 0 if steps == 0 or "paths" in args else steps


def direction_zip(res: Result, alphas: Sequence[float] = (), steps: int = api.DEFAULT_STEPS) -> bytes:
    """``directions.npy``, ``directions.json``, ``latent.npy`` as ``lowrankgan directions``
    writes them, plus the drawn region as ``region.png`` (which ``directions.json`` names, so that
    ``edit --directions DIR`` reads it back) and the sliders' values and path steps
    (``slider_alphas``, ``slider_path_steps``, ``slider_seed``, and the path: ``slider_path``,
    ``slider_path_tops`` — each slider's ends, where its path ends: ``edit --alphas recorded``). For
    StyleGAN3 the transform the picture was moved / turned by is in the directions' own metadata
    (``translate``, ``rotate``: ``find_directions`` records it), which every ``edit`` applies."""
    buf = io.BytesIO()
    meta = {**res.dirset.meta, "region": api.DRAWN_MASK_NAME, "region_boxes": res.region.spec,
            "slider_alphas": [float(a) for a in alphas], "slider_path_steps": int(steps),
            "slider_seed": res.seed if isinstance(res.seed, int) else None,
            "slider_path": "local" if steps else "straight", "slider_path_tops": [list(t) for t in res.path_tops]}
    dirset = DirectionSet(res.dirset.vectors, meta, res.dirset.latents)
    with tempfile.TemporaryDirectory(prefix="lowrankgan-web-") as tmp:
        out = api.save_directions(dirset, Path(tmp) / "directions")
        Image.fromarray(res.region.mask.astype(np.uint8) * 255).save(out / "region.png")
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(out.iterdir()):
                zf.write(path, f"directions/{path.name}")
    return buf.getvalue()


def _listed(seeds: Sequence[int] | api.Latents) -> list[int] | api.Latents:
    return seeds if isinstance(seeds, api.Latents) else list(seeds)


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def uint8_png(images: torch.Tensor) -> bytes:
    """One image ``[3, H, W]`` in [-1, 1] as PNG bytes at native resolution."""
    return png_bytes(Image.fromarray(api.to_uint8(images)))
