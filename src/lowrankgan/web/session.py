"""What the page works on: loaded models, computed direction sets and compute jobs.

Pure glue over the public API (``lowrankgan.api``): every number the page shows and every image
it renders comes from its functions.
"""

from __future__ import annotations

import contextlib
import io
import math
import secrets
import tempfile
import threading
import time
import traceback
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
from ..errors import LowRankGANError
from .photos import Photo, PhotoStore, subject_key, subject_label

slider_max = api.slider_span  # the sliders' range ±span: the model's default edit strengths


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# State

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

    @property
    def input_transform(self) -> api.Transform:
        """The transform its directions were computed at (none for models without one)."""
        return self.transform or api.NO_TRANSFORM

    def scope(self, gen: GeneratorAdapter):
        """Renders of this result use the transform its directions were computed at."""
        return api.input_transform(gen, *self.input_transform)


@dataclass
class Job:
    id: str
    kind: str
    state: str = "queued"  # queued, running, done, error
    stage: str = "queued"
    started: float = field(default_factory=time.perf_counter)
    finished: float | None = None
    result: dict | None = None
    error: str | None = None
    fraction: float | None = None  # how far a job that counts its steps is (an inversion), 0..1

    def public(self) -> dict:
        end = self.finished if self.finished is not None else time.perf_counter()
        out = {"job": self.id, "state": self.state, "stage": self.stage, "elapsed_s": round(end - self.started, 3)}
        if self.fraction is not None:
            out["fraction"] = round(self.fraction, 4)
        if self.result is not None:
            out["result"] = self.result
        if self.error is not None:
            out["error"] = self.error
        return out


class Busy(Exception):
    """Another computation holds the slot; the server answers 429."""


def as_seeds(subject: int | Photo) -> list[int] | api.Latents:
    """What the API takes for one image: a seed as a one-element list, a photo as its code."""
    return [subject] if isinstance(subject, int) else subject.latents


def subject_json(subject: int | Photo) -> dict:
    return {"seed": subject, "photo": None} if isinstance(subject, int) else {"seed": None, "photo": subject.id}


def _warm_key(name: str, gen: GeneratorAdapter, subject: int | Photo, transform: api.Transform) -> tuple:
    """What the workspace remembers of a Jacobian it has computed (and cached on disk)."""
    return name, gen.class_name, subject_key(subject), transform


def _lru_put(store: OrderedDict, key, value, limit: int) -> None:
    store[key] = value
    store.move_to_end(key)
    while len(store) > limit:
        store.popitem(last=False)


class Workspace:
    """Models, results and jobs of one server. Thread-safe.

    One CPU-heavy task (a direction computation or a Jacobian warm-up) runs at a time, under
    ``cpu_lock``; renders run beside it, at most ``max_renders`` at once.
    """

    def __init__(self, models: Sequence[str], device: str = "auto", default_class: str | None = None,
                 max_loaded: int = 4, max_results: int = 32, max_renders: int = 2) -> None:
        if not models:
            raise LowRankGANError("no model to serve")
        self.models = list(models)
        self.device = device
        self.default_class = default_class
        self._models: OrderedDict[tuple[str, str | None], GeneratorAdapter] = OrderedDict()
        self._model_lock = threading.Lock()
        self.results: OrderedDict[str, Result] = OrderedDict()
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()  # guards results, jobs, _computing, _warmed
        self.cpu_lock = threading.Lock()
        self.render_slots = threading.BoundedSemaphore(max_renders)
        # Path-following renders (a Jacobian and a robust PCA per step) run one at a time, so that
        # they never take every render slot from the live slider renders.
        self.path_slots = threading.BoundedSemaphore(1)
        self.path_wait_s = 20.0  # how long a path render waits for the one before it
        self.max_loaded, self.max_results = max_loaded, max_results
        self._computing: Job | None = None
        self._warmed: set[tuple[str, str | None, int, api.Transform]] = set()
        self._warm_next: tuple[tuple[str, str | None], int, api.Transform] | None = None
        self._warm_event = threading.Event()
        self._warm_thread = threading.Thread(target=self._warm_loop, name="lowrankgan-warm", daemon=True)
        self._warm_thread.start()
        self.photos = PhotoStore()

    def close(self, timeout: float = 30.0) -> None:
        """Wait (up to ``timeout``) for a running computation, so that the process never exits
        while a worker thread is inside torch; later tasks then wait for a lock that never frees."""
        self.cpu_lock.acquire(timeout=timeout)

    # models ---------------------------------------------------------------------------------
    def model(self, name: str | None, class_name: str | None = None) -> GeneratorAdapter:
        """The adapter for an allowed model name and class (loaded once, kept in an LRU)."""
        name = name or self.models[0]
        if name not in self.models:
            raise LowRankGANError(f"unknown model '{name[:80]}'; this server offers: {', '.join(self.models)}")
        if class_name in (None, ""):
            class_name = self.default_class if name == self.models[0] else None
        key = (name, None if class_name is None else str(class_name).strip().lower())
        with self._model_lock:
            gen = self._models.get(key)
            if gen is None:
                gen = api.load_model(name, device=self.device, class_name=key[1])
                _lru_put(self._models, key, gen, self.max_loaded)
            else:
                self._models.move_to_end(key)
        return gen

    def model_info(self, name: str | None, class_name: str | None = None) -> dict:
        gen = self.model(name, class_name)
        span = slider_max(gen)
        presets = {}
        for preset in sorted(gen.presets):
            presets[preset] = "".join("1" if v else "0" for v in
                                      api.parse_region(preset, gen.resolution, gen.presets).mask.ravel())
        return {"model": name or self.models[0], "description": api.model_description(name or self.models[0]),
                "resolution": gen.resolution, "latent_dim": gen.latent_dim, "space": gen.default_space,
                "classes": list(gen.classes), "class": gen.class_name, "presets": presets,
                "slider_max": span, "analysis_size": api.analysis_size(gen),
                "input_transform": api.supports_input_transform(gen)}

    def image(self, gen: GeneratorAdapter, seeds: Sequence[int] | api.Latents,
              transform: api.Transform = api.NO_TRANSFORM) -> torch.Tensor:
        with self.render_slot(), api.input_transform(gen, *transform):
            return api.sample(gen, _listed(seeds))

    def render_slot(self, timeout: float = 10.0):
        return _Slot(self.render_slots, timeout)

    def path_slot(self, timeout: float | None = None):
        return _Slot(self.path_slots, self.path_wait_s if timeout is None else timeout,
                     "the server is following another edit path; try again")

    # Jacobian warm-up -------------------------------------------------------------------------
    def warm(self, name: str, gen: GeneratorAdapter, seed: int | Photo,
             transform: api.Transform = api.NO_TRANSFORM) -> None:
        """Compute the Jacobian of ``seed``'s image (or a photo's code), moved / turned by
        ``transform``, in the background (latest request wins)."""
        with self._lock:
            if _warm_key(name, gen, seed, transform) in self._warmed:
                return
            self._warm_next = ((name, gen.class_name), seed, transform)
        self._warm_event.set()

    def is_warm(self, name: str, gen: GeneratorAdapter, seed: int | Photo,
                transform: api.Transform = api.NO_TRANSFORM) -> bool:
        with self._lock:
            return _warm_key(name, gen, seed, transform) in self._warmed

    def _warm_loop(self) -> None:
        while True:
            self._warm_event.wait()
            with self._lock:
                self._warm_event.clear()
                task, self._warm_next = self._warm_next, None
            if task is None:
                continue
            (name, class_name), seed, transform = task
            try:
                gen = self.model(name, class_name)
                with self.cpu_lock, api.input_transform(gen, *transform):
                    if not self.is_warm(name, gen, seed, transform):
                        api.prepare_jacobian(gen, as_seeds(seed))
                        with self._lock:
                            self._warmed.add(_warm_key(name, gen, seed, transform))
            except Exception:  # a failed warm-up only costs time later; the compute reports errors
                traceback.print_exc()

    def warmup(self, name: str, gen: GeneratorAdapter, seed: int = 0) -> None:
        """In the background: the Jacobian of ``seed`` and one direction computation, so that the
        first "compute" on the page pays no start-up costs."""
        def work() -> None:
            try:
                with self.cpu_lock:
                    half = gen.resolution // 2
                    box = f"box:{half // 2},{half // 2},{half},{half}"
                    api.find_directions(gen, seed, box, top_k=1, progress=False)
                    api.find_directions(gen, seed, box, method="resefa", top_k=1, progress=False)
                    with self._lock:
                        self._warmed.add(_warm_key(name, gen, seed, api.NO_TRANSFORM))
            except Exception:
                traceback.print_exc()
        threading.Thread(target=work, name="lowrankgan-warmup", daemon=True).start()

    # compute jobs -----------------------------------------------------------------------------
    def begin_job(self, kind: str) -> Job:
        """A new job holding the one computation slot (``Busy`` while another holds it); the job's
        worker gives it back with ``end_job``."""
        with self._lock:
            if self._computing is not None:
                raise Busy("another computation is running; wait for it to finish")
            job = Job(secrets.token_hex(8), kind)
            self._computing = job
            _lru_put(self.jobs, job.id, job, 64)
        return job

    def end_job(self, job: Job) -> None:
        job.finished = time.perf_counter()
        with self._lock:
            if self._computing is job:
                self._computing = None

    @contextlib.contextmanager
    def job_guard(self, job: Job):
        """A background job's work: a user error becomes the job's one-line message, anything else
        is logged and reported as internal, and the computation slot is freed either way."""
        try:
            yield
        except LowRankGANError as exc:
            job.state, job.stage, job.error = "error", "failed", str(exc)
        except Exception as exc:  # pragma: no cover - reported to the page, logged here
            traceback.print_exc()
            job.state, job.stage, job.error = "error", "failed", f"internal error: {type(exc).__name__}: {exc}"
        finally:
            self.end_job(job)

    def start_compute(self, name: str, gen: GeneratorAdapter, seed: int | Photo, region: Region, method: str,
                      top_k: int, params: dict, transform: api.Transform = api.NO_TRANSFORM) -> Job:
        job = self.begin_job("compute")
        thread = threading.Thread(target=self._compute, args=(job, name, gen, seed, region, method, top_k, params,
                                                             transform),
                                  name=f"lowrankgan-compute-{job.id}", daemon=True)
        thread.start()
        return job

    def _compute(self, job: Job, name: str, gen: GeneratorAdapter, seed: int | Photo, region: Region, method: str,
                 top_k: int, params: dict, transform: api.Transform) -> None:
        with self.job_guard(job):
            job.state, job.stage = "running", "waiting for the CPU"
            with self.cpu_lock, api.input_transform(gen, *transform):  # the Jacobian of the moved image
                cached = self.is_warm(name, gen, seed, transform)
                job.stage = (f"finding directions ({method}, Jacobian cached)" if cached else
                             f"computing the Jacobian of {subject_label(seed)}, then directions ({method})")
                # The top direction's source leak comes from the report below (the same calibration).
                dirset = api.find_directions(gen, as_seeds(seed), region, method=method, top_k=top_k, progress=False,
                                             leak_images=0, **params)
                with self._lock:
                    self._warmed.add(_warm_key(name, gen, seed, transform))
                job.stage = "measuring each direction's leak and slider range"
                report = api.direction_report(gen, dirset, as_seeds(seed), region)
                if report:
                    api.record_source_leak(dirset, [report[0].detail], api.seed_labels(as_seeds(seed)))
            space, layers = dirset.meta["latent_space"], dirset.meta.get("layers")
            ends = [e for r in report for e in r.ends if e is not None]
            result = Result(secrets.token_hex(8), name, gen.class_name, dirset, seed, region, space, layers,
                            max(ends, default=0.0), transform if api.supports_input_transform(gen) else None)
            with self._lock:
                _lru_put(self.results, result.id, result, self.max_results)
            info = dirset.meta.get("info", {})
            job.result = {"result": result.id, "k": int(dirset.vectors.shape[0]), "method": dirset.meta["method"],
                          "params": dirset.meta.get("params", {}),
                          "info": {k: v for k, v in info.items() if isinstance(v, (int, float, str, bool))},
                          **subject_json(seed), "region": region.spec, "timing_s": dirset.meta.get("timing_s", {}),
                          "directions": [{"leak": _finite(r.leak), "plus": r.ends[0], "minus": r.ends[1]}
                                         for r in report],
                          "slider_target": api.SLIDER_TARGET, "warnings": result_warnings(region, dirset, top_k),
                          "translate": list(transform[0]), "rotate": transform[1]}
            job.state, job.stage = "done", "done"

    def job(self, job_id: str) -> Job:
        with self._lock:
            job = self.jobs.get(job_id)
        if job is None:
            raise KeyError(job_id)
        return job

    def result(self, result_id: str) -> Result:
        with self._lock:
            res = self.results.get(result_id)
            if res is not None:
                self.results.move_to_end(result_id)
        if res is None:
            raise KeyError(result_id)
        return res

    # edits --------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _slots(self, steps: int):
        """A render slot, and before it the path slot for path-following renders (released again
        when the render slot cannot be had)."""
        with contextlib.ExitStack() as stack:
            if steps > 0:
                stack.enter_context(self.path_slot())
            stack.enter_context(self.render_slot())
            yield

    def edited(self, res: Result, seeds: Sequence[int] | api.Latents, alphas: Sequence[float], steps: int = 0) -> torch.Tensor:
        """Images ``[n, 3, H, W]``: each seed's image with the sliders' edit (path-following when
        ``steps`` > 0)."""
        gen = self.model(res.model, res.class_name)
        with self._slots(steps), res.scope(gen):
            return api.composed_edit(gen, res.dirset, _listed(seeds), alphas, steps, res.region)

    def strip(self, res: Result, seeds: Sequence[int], alphas: Sequence[float], outline: bool,
              steps: int = 0) -> Image.Image:
        """Originals (top row) and edited images (bottom row) for ``seeds``."""
        gen = self.model(res.model, res.class_name)
        with self._slots(steps), res.scope(gen):
            images = api.composed_edit(gen, res.dirset, list(seeds), alphas, steps, res.region, with_originals=True)
        return api.grid_image(images, mask=res.region.mask if outline else None)

    def gif(self, res: Result, seed: int | Photo, alphas: Sequence[float], outline: bool, frames: int = 9,
            steps: int = 0) -> bytes:
        """The current edit swept from −1× to +1× (direction 1 at the model's default strengths
        when every slider is at zero), there and back; along paths when ``steps`` > 0."""
        gen = self.model(res.model, res.class_name)
        with self._slots(steps), res.scope(gen):
            images = api.composed_sweep(gen, res.dirset, as_seeds(seed), alphas, frames, steps, res.region)
        return api.gif_bytes(api.gif_frames(images, res.region.mask if outline else None))

    def direction_zip(self, res: Result, alphas: Sequence[float] = (), steps: int = 0) -> bytes:
        """``directions.npy``, ``directions.json``, ``latent.npy`` as ``lowrankgan directions``
        writes them, plus the drawn region as ``region.png`` (which ``directions.json`` names, so that
        ``edit --directions DIR`` reads it back) and the sliders' values and path steps
        (``slider_alphas``, ``slider_path_steps``, ``slider_seed``: ``edit --alphas recorded``). For
        StyleGAN3 the transform the picture was moved / turned by is in the directions' own metadata
        (``translate``, ``rotate``: ``find_directions`` records it), which every ``edit`` applies."""
        buf = io.BytesIO()
        meta = {**res.dirset.meta, "region": api.DRAWN_MASK_NAME, "region_boxes": res.region.spec,
                "slider_alphas": [float(a) for a in alphas], "slider_path_steps": int(steps),
                "slider_seed": res.seed if isinstance(res.seed, int) else None}
        dirset = DirectionSet(res.dirset.vectors, meta, res.dirset.latents)
        with tempfile.TemporaryDirectory(prefix="lowrankgan-web-") as tmp:
            out = api.save_directions(dirset, Path(tmp) / "directions")
            Image.fromarray(res.region.mask.astype(np.uint8) * 255).save(out / "region.png")
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                for path in sorted(out.iterdir()):
                    zf.write(path, f"directions/{path.name}")
        return buf.getvalue()


MIN_REGION_PIXELS = 16  # at 64x64; scaled by area for other resolutions


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def result_warnings(region: Region, dirset: DirectionSet, top_k: int) -> list[str]:
    """What the page says about a result that is less than it looks."""
    out = []
    n = int(region.mask.sum())
    least = max(4, round(MIN_REGION_PIXELS * region.mask.size / 4096))
    if n < least:
        out.append(f"The region has only {n} pixel{'s' * (n != 1)}: too few to tell local directions from "
                   f"global ones, so the edits spread over the image (see each leak). Draw at least {least} pixels.")
    k = int(dirset.vectors.shape[0])
    info = dirset.meta.get("info", {})
    method_warnings = [str(w) for w in info.get("warnings", [])]  # the method's own, with its reasons
    if k < top_k and not any("asked for" in w for w in method_warnings):
        why = ""
        if "rank_region" in info and info["rank_region"] <= k:
            why = f": the region's Jacobian has numerical rank {info['rank_region']}"
        elif "null_dim" in info and info["null_dim"] <= k:
            why = f": the rest's null space has only {info['null_dim']} dimensions"
        out.append(f"Only {k} of the {top_k} directions asked for were found{why}.")
    return out + [w[0].upper() + w[1:] + "." for w in method_warnings if w]


class _Slot:
    def __init__(self, sem: threading.BoundedSemaphore, timeout: float,
                 busy: str = "the server is busy rendering; try again") -> None:
        self.sem, self.timeout, self.busy = sem, timeout, busy

    def __enter__(self):
        if not self.sem.acquire(timeout=self.timeout):
            raise Busy(self.busy)
        return self

    def __exit__(self, *exc):
        self.sem.release()
        return False


def _listed(seeds: Sequence[int] | api.Latents) -> list[int] | api.Latents:
    return seeds if isinstance(seeds, api.Latents) else list(seeds)


def uint8_png(images: torch.Tensor) -> bytes:
    """One image ``[3, H, W]`` in [-1, 1] as PNG bytes at native resolution."""
    return png_bytes(Image.fromarray(api.to_uint8(images)))
