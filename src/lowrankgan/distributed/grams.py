"""Region / rest Grams over many images on a Ray cluster (``find_directions(..., ray=ADDRESS)``).

The seeds are cut into tasks of ``images_per_task`` consecutive seeds; a worker returns each task's
Gram sums in float64 and the driver adds them in the seeds' order, whichever worker finished
first. With one image per task (the default) that is exactly the sum one process forms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from ..errors import LowRankGANError
from ..maths.jacobian import RegionGrams, grams_from_sums
from ..maths.precision import DEFAULT_PRECISION, check_precision
from ..models import DEFAULT_MODEL, GeneratorAdapter, model_reference
from ..maths.regions import Region, check_analysis_masks
from .cluster import ActorPool, Task, connect, pool_size, stderr_report, wants_gpus
from .worker import WorkerSpec


def model_source(model: GeneratorAdapter | str | None, gen: GeneratorAdapter) -> str:
    """What a worker passes to ``load_model`` to get ``gen``: a zoo / BigGAN name, else an absolute
    path (which every node must be able to read)."""
    if model is None:
        return DEFAULT_MODEL
    if isinstance(model, str):
        path = Path(model).expanduser()
        return str(path.resolve()) if path.exists() else model
    reference = model_reference(gen)
    if reference is not None:
        return reference
    raise LowRankGANError(f"ray: workers load the model by name or file, and model {gen.model_id} has neither; "
                          "pass its zoo name or checkpoint path", "ray")


def ray_region_grams(address: str, model: GeneratorAdapter | str | None, gen: GeneratorAdapter, seeds: Sequence[int],
                     codes: torch.Tensor, region: Region, space: str, layers: Sequence[int] | None,
                     analysis_size: int, trunc: float = 1.0, cache: bool = True, progress: bool = True,
                     workers: int | None = None, images_per_task: int = 1,
                     on_dispatch: Callable[[ActorPool], None] | None = None, precision: str = DEFAULT_PRECISION,
                     chunk_size: int | None = None) -> tuple[RegionGrams, dict]:
    """``region_gram_pair`` on a Ray cluster, each worker computing its Jacobians in ``precision``
    with ``chunk_size`` tangents per batch (None: each worker's own pick for its device); also
    returns what happened (workers, tasks, failures, the precision and the chunk sizes used)."""
    check_precision(precision)  # before Ray starts
    if images_per_task < 1:
        raise LowRankGANError(f"images per task must be at least 1, got {images_per_task}")
    if len(seeds) != len(codes):
        raise LowRankGANError(f"{len(seeds)} seeds but {len(codes)} codes")
    fg, _ = check_analysis_masks(region, analysis_size)
    spec = WorkerSpec(model_source(model, gen), gen.model_id, gen.class_name, trunc, gen.input_transform())
    codes_np = codes.detach().float().cpu().numpy()
    fg_np = fg.numpy()
    layers = list(layers) if layers is not None else None
    tasks = []
    for index, start in enumerate(range(0, len(seeds), images_per_task)):
        part = list(seeds[start:start + images_per_task])
        what = f"seed {part[0]}" if len(part) == 1 else f"seeds {part[0]}..{part[-1]}"
        tasks.append(Task(index, "grams", (codes_np[start:start + len(part)], fg_np, space, layers, analysis_size, cache,
                                           precision, chunk_size), what, size=len(part)))
    with connect(address) as ray:
        use_gpu = wants_gpus(ray, gen.device.type)
        pool = ActorPool(ray, spec, pool_size(ray, use_gpu, workers), use_gpu,
                         report=stderr_report if progress else None, on_dispatch=on_dispatch)
        try:
            M_f, M_b, done = _add_in_order(pool.run(tasks), len(tasks), len(seeds), progress)
        finally:
            pool.close()
    used = {d["precision"] for d in done}
    if used != {precision}:
        raise LowRankGANError(f"the Ray workers computed in precision {', '.join(sorted(used))}, not {precision}: "
                              "install the same lowrankgan on every node")
    info = {"address": address, "workers": pool.size, "gpus": use_gpu, "tasks": len(tasks),
            "images_per_task": images_per_task, "failures": pool.failures, "precision": precision,
            "chunk_sizes": sorted({d["chunk_size"] for d in done if d["chunk_size"] is not None})}
    return grams_from_sums(M_f, M_b, len(seeds), fg, gen, space, layers), info


def _add_in_order(results, n_tasks: int, n_images: int, progress: bool) -> tuple[torch.Tensor, torch.Tensor, list[dict]]:
    """Σ of the tasks' Gram sums in task order (a result that arrives early waits for its turn), and
    what each task reports it did."""
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=n_images, desc="jacobians (ray)", unit="image")
    waiting: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    done: list[dict] = []
    M_f = M_b = None
    turn = 0
    try:
        for task, (f, b, what) in results:
            waiting[task.index] = (f, b)
            done.append(what)
            while turn in waiting:
                f, b = (torch.tensor(x) for x in waiting.pop(turn))  # a copy: Ray's arrays are read-only
                M_f = f if M_f is None else M_f + f
                M_b = b if M_b is None else M_b + b
                turn += 1
            if bar is not None:
                bar.update(task.size)
    finally:
        if bar is not None:
            bar.close()
    if turn != n_tasks:
        raise LowRankGANError(f"the Ray run ended with {n_tasks - turn} of {n_tasks} tasks unfinished")
    return M_f, M_b, done
