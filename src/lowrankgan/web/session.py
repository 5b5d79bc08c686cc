"""What the page works on, as one object for the routes: a ``Workspace`` made of parts that each do
one job, every one of them glue over the public API (``lowrankgan.api``):

- ``models.ModelCache``: the offered models, loaded once (an LRU);
- ``models.Warmup``: Jacobians computed ahead in the background;
- ``jobs.Jobs``: the one compute slot, its lock on the CPU, and the latest jobs;
- ``jobs.RenderSlots``: how many renders run at once (path-following ones one at a time);
- ``compute``: the page's Compute as a job; ``results.Results``: the direction sets it stored;
- ``results.Renders``: originals, edits, strips, GIF sweeps; ``results.direction_zip``: the ZIP;
- ``photos.PhotoStore``: uploaded photos and their codes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image

from .. import api
from ..api import GeneratorAdapter, Region
from .compute import start_compute
from .jobs import Job, Jobs, RenderSlots, Slot
from .models import ModelCache, Warmup
from .photos import Photo, PhotoStore
from .results import Renders, Result, Results, direction_zip

class Workspace:
    """Models, jobs, results and photos of one server. Thread-safe.

    One CPU-heavy task (a direction computation, a Jacobian warm-up or a photo inversion) runs at
    a time, under ``cpu_lock``; renders run beside it, at most ``max_renders`` at once."""

    def __init__(self, models: Sequence[str], device: str = "auto", default_class: str | None = None,
                 max_loaded: int = 4, max_results: int = 32, max_renders: int = 2) -> None:
        self.cache = ModelCache(models, device, default_class, max_loaded)
        self.models, self.default_class = self.cache.names, default_class  # what the server offers
        self.jobs = Jobs()
        self.cpu_lock = self.jobs.cpu_lock
        self.slots = RenderSlots(max_renders)
        self.warmer = Warmup(self.cache, self.cpu_lock)
        self.results = Results(max_results)
        self.max_results = max_results
        self.renders = Renders(self.cache, self.slots)
        self.photos = PhotoStore()

    def close(self, timeout: float = 30.0) -> None:
        self.results.cancel_walks()  # a walk stops at its next step; the CPU lock waits for it
        self.jobs.close(timeout)

    # The routes' calls, each handed to the part that does it.
    def model(self, name: str | None, class_name: str | None = None) -> GeneratorAdapter:
        return self.cache.get(name, class_name)

    def model_info(self, name: str | None, class_name: str | None = None) -> dict:
        return self.cache.info(name, class_name)

    def image(self, gen: GeneratorAdapter, seeds: Sequence[int] | api.Latents,
              transform: api.Transform = api.NO_TRANSFORM) -> torch.Tensor:
        return self.renders.image(gen, seeds, transform)

    def render_slot(self, timeout: float = 10.0) -> Slot:
        return self.slots.render(timeout)

    def warm(self, name: str, gen: GeneratorAdapter, seed: int | Photo,
             transform: api.Transform = api.NO_TRANSFORM) -> None:
        self.warmer.request(name, gen, seed, transform)

    def warmup(self, name: str, gen: GeneratorAdapter, seed: int = 0) -> None:
        self.warmer.first(name, gen, seed)

    def begin_job(self, kind: str) -> Job:
        return self.jobs.begin(kind)

    def end_job(self, job: Job) -> None:
        self.jobs.end(job)

    def job(self, job_id: str) -> Job:
        return self.jobs.get(job_id)

    def start_compute(self, name: str, gen: GeneratorAdapter, seed: int | Photo, region: Region, method: str,
                      top_k: int, params: dict, transform: api.Transform = api.NO_TRANSFORM) -> Job:
        return start_compute(self.jobs, self.warmer, self.results, name, gen, seed, region, method, top_k, params,
                             transform)

    def result(self, result_id: str) -> Result:
        return self.results.get(result_id)

    def original(self, res: Result, seeds: Sequence[int] | api.Latents) -> torch.Tensor:
        return self.renders.original(res, seeds)

    def edited(self, res: Result, seeds: Sequence[int] | api.Latents, alphas: Sequence[float], steps: int = 0,
               preview: bool = False) -> tuple[torch.Tensor, bool]:
        return self.renders.edited(res, seeds, alphas, steps, preview)

    def strip(self, res: Result, seeds: Sequence[int], alphas: Sequence[float], outline: bool,
              steps: int = 0) -> Image.Image:
        return self.renders.strip(res, seeds, alphas, outline, steps)

    def gif(self, res: Result, seed: int | Photo, alphas: Sequence[float], outline: bool, frames: int = 9,
            steps: int = 0) -> bytes:
        return self.renders.gif(res, seed, alphas, outline, frames, steps)

    def direction_zip(self, res: Result, alphas: Sequence[float] = (), steps: int = 0) -> bytes:
        return direction_zip(res, alphas, steps)
