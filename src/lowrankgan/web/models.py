"""The models a server offers, loaded once and kept in an LRU, and their Jacobians computed ahead
(the warm-up), so that the page's first Compute on an image pays no start-up cost."""

from __future__ import annotations

import threading
import traceback
from collections import OrderedDict
from collections.abc import Sequence

from .. import api
from ..api import GeneratorAdapter
from ..errors import LowRankGANError
from .jobs import lru_put
from .photos import Photo, as_seeds, subject_key

slider_max = api.slider_span  # the sliders' range ±span: the model's default edit strengths


class ModelCache:
    """Adapters for the offered model names (the first is the default), at most ``max_loaded``
    (name, class) pairs loaded at once. Thread-safe."""

    def __init__(self, names: Sequence[str], device: str = "auto", default_class: str | None = None,
                 max_loaded: int = 4) -> None:
        if not names:
            raise LowRankGANError("no model to serve")
        self.names = list(names)
        self.device, self.default_class, self.max_loaded = device, default_class, max_loaded
        self._models: OrderedDict[tuple[str, str | None], GeneratorAdapter] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, name: str | None, class_name: str | None = None) -> GeneratorAdapter:
        """The adapter for an offered model name and class (the default class on the first model)."""
        name = name or self.names[0]
        if name not in self.names:
            raise LowRankGANError(f"unknown model '{name[:80]}'; this server offers: {', '.join(self.names)}")
        if class_name in (None, ""):
            class_name = self.default_class if name == self.names[0] else None
        key = (name, None if class_name is None else str(class_name).strip().lower())
        with self._lock:
            gen = self._models.get(key)
            if gen is None:
                gen = api.load_model(name, device=self.device, class_name=key[1])
                lru_put(self._models, key, gen, self.max_loaded)
            else:
                self._models.move_to_end(key)
        return gen

    def info(self, name: str | None, class_name: str | None = None) -> dict:
        """What the page shows of a model: resolution, classes, presets as masks, slider range."""
        gen = self.get(name, class_name)
        name = name or self.names[0]
        presets = {}
        for preset in sorted(gen.presets):
            presets[preset] = "".join("1" if v else "0" for v in
                                      api.parse_region(preset, gen.resolution, gen.presets).mask.ravel())
        return {"model": name, "description": api.model_description(name),
                "resolution": gen.resolution, "latent_dim": gen.latent_dim, "space": gen.default_space,
                "classes": list(gen.classes), "class": gen.class_name, "presets": presets,
                "slider_max": slider_max(gen), "analysis_size": api.analysis_size(gen),
                "input_transform": api.supports_input_transform(gen)}


def _warm_key(name: str, gen: GeneratorAdapter, subject: int | Photo, transform: api.Transform) -> tuple:
    """What the warm-up remembers of a Jacobian it has computed (and cached on disk)."""
    return name, gen.class_name, subject_key(subject), transform


class Warmup:
    """Jacobians computed in one background thread under ``cpu_lock`` (the latest request wins),
    and which images have theirs. Thread-safe."""

    def __init__(self, models: ModelCache, cpu_lock: threading.Lock) -> None:
        self.models, self.cpu_lock = models, cpu_lock
        self._lock = threading.Lock()
        self._warmed: set[tuple] = set()
        self._next: tuple[tuple[str, str | None], int | Photo, api.Transform] | None = None
        self._event = threading.Event()
        threading.Thread(target=self._loop, name="lowrankgan-warm", daemon=True).start()

    def request(self, name: str, gen: GeneratorAdapter, subject: int | Photo,
                transform: api.Transform = api.NO_TRANSFORM) -> None:
        """Compute the Jacobian of a seed's image (or a photo's code), moved / turned by
        ``transform``, in the background."""
        with self._lock:
            if _warm_key(name, gen, subject, transform) in self._warmed:
                return
            self._next = ((name, gen.class_name), subject, transform)
        self._event.set()

    def is_warm(self, name: str, gen: GeneratorAdapter, subject: int | Photo,
                transform: api.Transform = api.NO_TRANSFORM) -> bool:
        with self._lock:
            return _warm_key(name, gen, subject, transform) in self._warmed

    def mark(self, name: str, gen: GeneratorAdapter, subject: int | Photo, transform: api.Transform) -> None:
        """Its Jacobian is on disk now (a direction computation made it)."""
        with self._lock:
            self._warmed.add(_warm_key(name, gen, subject, transform))

    def _loop(self) -> None:
        while True:
            self._event.wait()
            with self._lock:
                self._event.clear()
                task, self._next = self._next, None
            if task is None:
                continue
            (name, class_name), subject, transform = task
            try:
                gen = self.models.get(name, class_name)
                with self.cpu_lock, api.input_transform(gen, *transform):
                    if not self.is_warm(name, gen, subject, transform):
                        api.prepare_jacobian(gen, as_seeds(subject))
                        self.mark(name, gen, subject, transform)
            except Exception:  # a failed warm-up only costs time later; the compute reports errors
                traceback.print_exc()

    def first(self, name: str, gen: GeneratorAdapter, seed: int = 0) -> None:
        """In the background: the Jacobian of ``seed`` and one direction computation per kind of
        method, so that the first Compute on the page pays no start-up costs either."""
        def work() -> None:
            try:
                with self.cpu_lock:
                    half = gen.resolution // 2
                    box = f"box:{half // 2},{half // 2},{half},{half}"
                    api.find_directions(gen, seed, box, top_k=1, progress=False)
                    api.find_directions(gen, seed, box, method="resefa", top_k=1, progress=False)
                    self.mark(name, gen, seed, api.NO_TRANSFORM)
            except Exception:
                traceback.print_exc()
        threading.Thread(target=work, name="lowrankgan-warmup", daemon=True).start()
