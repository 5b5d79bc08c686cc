"""The Ray actor: loads the model once, then computes Gram sums or evaluation cells on request.

A plain class (``ray.remote`` wraps it in ``cluster``), so that importing it needs no Ray.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import numpy as np
import torch

from ..threads import ENV as THREADS_ENV, use_threads
from ..evaluation.config import EvaluationConfig
from ..evaluation.log import ResultLog
from ..evaluation.run import Evaluation
from ..maths.jacobian import auto_chunk, cache_hits_all, gram_sums, share_cpu_memory
from ..maths.precision import DEFAULT_PRECISION
from ..models import GeneratorAdapter, load_model
from ..maths.regions import Region


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker loads: ``model`` is a zoo name, BigGAN name or a checkpoint path that every
    node can read; ``model_id`` is what the driver loaded (the worker checks it got the same)."""

    model: str
    model_id: str
    class_name: str | None = None
    trunc: float = 1.0
    transform: tuple[tuple[float, float], float] = ((0.0, 0.0), 0.0)  # StyleGAN3: the driver's input transform


class Worker:
    def __init__(self, spec: WorkerSpec, device: str) -> None:
        self.spec, self.device = spec, device
        use_threads(os.environ.get(THREADS_ENV) or 1)  # each worker reserves one CPU: one thread, no oversubscription
        self.gen: GeneratorAdapter | None = None

    def ready(self) -> tuple[int, str, str]:
        """Loads the model (here, not in ``__init__``, so that a bad model reaches the driver as a
        clear error rather than a dead actor); returns pid, host and the model's id."""
        if self.gen is None:
            if self.device == "cpu":  # the pool places up to one worker per CPU of this machine
                share_cpu_memory(os.cpu_count() or 1)
            self.gen = load_model(self.spec.model, device=self.device, class_name=self.spec.class_name)
            self.gen.set_truncation(self.spec.trunc)
            self.gen.set_input_transform(*self.spec.transform)
        return os.getpid(), socket.gethostname(), self.gen.model_id

    def grams(self, codes: np.ndarray, fg: np.ndarray, space: str, layers: list[int] | None, size: int,
              cache: bool, precision: str = DEFAULT_PRECISION,
              chunk_size: int | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
        """The region and rest Gram sums (float64) over ``codes``, summed in their order, with the
        Jacobians in ``precision`` and ``chunk_size`` tangents per batch (None: from this worker's
        own device and memory, which the driver cannot know). Also what was done: the precision
        and the chunk the Jacobians started from (None when every one came from the cache)."""
        codes_t = torch.tensor(codes)
        computed = not cache_hits_all(self.gen, codes_t, space, layers, size, cache, precision)
        if computed and chunk_size is None and len(codes_t):
            chunk_size = auto_chunk(self.gen, codes_t[0].to(self.gen.device, torch.float32), space, codes_t.shape[-1])
        M_f, M_b = gram_sums(self.gen, codes_t, torch.tensor(fg), space, layers, size, cache=cache,
                             progress=False, precision=precision, chunk_size=chunk_size)
        done = {"precision": precision, "chunk_size": chunk_size if computed else None}
        return M_f.cpu().numpy(), M_b.cpu().numpy(), done

    def eval_directions(self, cfg: EvaluationConfig, regions: dict[str, Region], region: str, src: list[int],
                        methods: list[str]) -> dict[str, np.ndarray]:
        """Each method's top-k directions from the source images ``src``."""
        ev = Evaluation(self.gen, cfg, log=ResultLog(None), regions=regions)
        return {m: ev.find_vectors(region, m, src).numpy() for m in methods}

    def eval_cell(self, cfg: EvaluationConfig, regions: dict[str, Region], cell: tuple,
                  vectors: dict[tuple, np.ndarray], records: list[dict]) -> list[dict]:
        """The records one cell (region, source label, source seeds, target seed) adds to the log,
        given the directions it measures and the cell's records already logged."""
        region, label, src, target = cell
        ev = Evaluation(self.gen, cfg, log=ResultLog(None, records), regions=regions)
        ev.preload({key: torch.tensor(v) for key, v in vectors.items()})
        ev.measure(region, label, src, target)
        if cfg.path_steps:
            ev.compare_paths(region, label, src, target)
        return ev.log.added
