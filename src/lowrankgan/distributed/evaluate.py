"""``evaluate`` on a Ray cluster: the missing directions, then the sweep's cells, as tasks.

The driver alone writes: direction files beside the log and each finished cell's records into the
same resumable log a single-process run keeps. A killed driver resumes from it: finished cells are
skipped, and a cell's records are appended once (the log drops keys it already holds).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch

from ..evaluation.config import DEFAULT_METHODS, SOURCE_FREE
from ..evaluation.run import Evaluation, cells, finish, prepare
from ..models import GeneratorAdapter
from .cluster import ActorPool, Task, connect, pool_size, stderr_report, wants_gpus
from .grams import model_source
from .worker import WorkerSpec


def evaluate_on_ray(address: str, model: GeneratorAdapter | str | None, regions, seeds: Sequence[int],
                    methods: Sequence[str] = DEFAULT_METHODS, *, device: str = "auto",
                    class_name: str | int | None = None, workers: int | None = None,
                    on_dispatch: Callable[[ActorPool], None] | None = None, **options) -> dict:
    """``lowrankgan.evaluation.evaluate`` with the work done by Ray workers; same outputs."""
    run = prepare(model, regions, seeds, methods, device, class_name, **options)
    gen, cfg = run.gen, run.cfg
    t_start = time.perf_counter()
    spec = WorkerSpec(model_source(model, gen), gen.model_id, gen.class_name, cfg.trunc, gen.input_transform())
    with connect(address) as ray:
        use_gpu = wants_gpus(ray, gen.device.type)
        pool = ActorPool(ray, spec, pool_size(ray, use_gpu, workers), use_gpu,
                         report=stderr_report if cfg.progress else None, on_dispatch=on_dispatch)
        try:
            _directions(run, pool)
            _cells(run, pool)
        finally:
            pool.close()
    return finish(run, t_start, {"ray": {"address": address, "workers": pool.size, "gpus": use_gpu,
                                         "failures": pool.failures}})


def _label(method: str, label: str) -> str:
    return "any" if method in SOURCE_FREE else label


def _directions(run: Evaluation, pool: ActorPool) -> None:
    """Directions not on disk yet, one task per (region, source); the source-free methods' with the
    first source, as a single-process run finds them."""
    cfg, tasks, where = run.cfg, [], {}
    for region in cfg.regions:
        for i, (label, src) in enumerate(cfg.sources):
            missing = []
            for method in (m for m in cfg.methods if i == 0 or m not in SOURCE_FREE):
                if run.direction_path(region, method, _label(method, label)).exists():
                    run.directions(region, method, _label(method, label), src)  # reads the file
                else:
                    missing.append(method)
            if missing:
                where[len(tasks)] = (region, label)
                tasks.append(Task(len(tasks), "eval_directions", (cfg, run.regions, region, src, missing),
                                  f"directions for {region} from source {label}", size=len(src)))
    for task, found in pool.run(tasks):
        region, label = where[task.index]
        for method, vecs in found.items():
            run.store_directions(region, method, _label(method, label), torch.tensor(vecs))


def _cells(run: Evaluation, pool: ActorPool) -> None:
    """Every unfinished cell as a task with its directions and its records logged so far."""
    cfg, tasks = run.cfg, []
    all_cells = cells(cfg)
    for cell in all_cells:
        region, label, src, target = cell
        if run.cell_done(*cell):
            continue
        vectors = {(region, m, _label(m, label)): run.directions(region, m, _label(m, label), src).numpy()
                   for m in cfg.methods}
        logged = [r for r in run.log.records.values()
                  if r["region"] == region and int(r["target"]) == target and str(r["source"]) in (label, "any")]
        tasks.append(Task(len(tasks), "eval_cell", (cfg, run.regions, cell, vectors, logged),
                          f"{region}, source {label}, seed {target}"))
    bar = None
    if cfg.progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(all_cells), initial=len(all_cells) - len(tasks), desc="evaluate (ray)", unit="image")
    try:
        for _task, records in pool.run(tasks):
            run.log.add(records)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
