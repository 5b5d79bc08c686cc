"""Edits: single, composed from slider values, path-following, sweeps; locality and evaluation."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from ..files.directionfile import (DirectionSet)
from ..maths.edit import parse_strengths, render, shift_codes, sweep
from ..errors import LowRankGANError
from ..evaluation.config import DEFAULT_METHODS
from ..maths.methods import METHODS
from ..maths.metrics import Leak
from ..models import (GeneratorAdapter)
from ..maths.localpath import direction_path
from ..maths.pathedit import check_path_steps, path_settings, path_sweep_codes
from ..maths.regions import Region
from .core import (ModelLike, as_region, Seeds, pick, EditSetup, edit_setup)
from .paths import DEFAULT_STEPS, DirectionPath, PathCost, Progress, choose_path, composed, direction_paths, tops_for
from .directions import (_leaks)


def edit(model: ModelLike, directions: DirectionSet | str | Path, seeds: Seeds,
         strengths: Sequence[float], index: int = 0, space: str | None = None,
         layers: Sequence[int] | None = None, trunc: float = 1.0, path: str | None = None,
         path_steps: int = DEFAULT_STEPS, region: str | Region | None = None, progress: Progress | None = None,
         cost: PathCost | None = None) -> torch.Tensor:
    """Images ``[n_seeds, n_strengths, 3, H, W]``: each seed's image moved along one direction —
    along its local path (the default: the rest held where it was, ``maths.localpath``; one path per
    sign up to the largest strength asked, ``path_steps`` Jacobians each) or, with
    ``path="straight"`` (or ``path_steps=0``), along the straight line ``c + s v``. ``path=None``
    takes the path the direction file records, else local; ``region`` defaults to the file's."""
    job = edit_setup(model, directions, seeds, space, layers, trunc)
    reg = choose_path(job, path, path_steps, region)
    if reg is None:
        return sweep(job.gen, job.codes, pick(job.dirset, index), strengths, job.space, job.layers)
    v = pick(job.dirset, index).float()
    n = float(v.norm())
    tops = (max([s for s in strengths if s > 0], default=0.0) * n, max([-s for s in strengths if s < 0], default=0.0) * n)
    rows = []
    for code in job.codes:
        start = time.perf_counter()
        dp = direction_path(job.gen, code, v / n, tops, reg, job.space, job.layers,
                            job.dirset.meta.get("analysis_size"), path_steps, progress=progress)
        if cost is not None:
            cost.jacobians += dp.jacobians
            cost.seconds += time.perf_counter() - start
        rows.append(render(job.gen, torch.stack([dp.at(s * n) for s in strengths]), job.space))
    return torch.stack(rows, 0)


def _path_kwargs(job: EditSetup, region: str | Region | None) -> dict:
    region = region or job.dirset.region
    if not region:
        raise LowRankGANError("path_steps needs the region: the direction file records none; give region", param="path_steps")
    return {"region": as_region(job.gen, region), "space": job.space, "layers": job.layers,
            "analysis_size": job.dirset.meta.get("analysis_size"), **path_settings(job.dirset)}


def path_edit(model: ModelLike, directions: DirectionSet | str | Path, seeds: Seeds,
              strengths: Sequence[float], steps: int, index: int = 0, region: str | Region | None = None,
              space: str | None = None, layers: Sequence[int] | None = None, trunc: float = 1.0,
              follow: str = "project", progress: bool = True) -> torch.Tensor:
    """Like ``edit`` (images ``[n_seeds, n_strengths, 3, H, W]``) but path-following
    (``pathedit``): the region and robust-PCA settings default to the direction file's.
    ``follow="project"`` re-projects the direction into the rest's null space at each step;
    ``"rederive"`` re-derives the region's best direction at each step (more local at strong edits).
    ``progress``: one line per step on stderr, with its cost."""
    check_path_steps(steps)
    job = edit_setup(model, directions, seeds, space, layers, trunc)
    signs = sum(any(s * sign > 0 for s in strengths) for sign in (1, -1))
    kwargs = {**_path_kwargs(job, region), "follow": follow,
              "on_step": _step_lines(len(job.codes) * signs * steps) if progress else None}
    p = pick(job.dirset, index)
    rows = [render(job.gen, path_sweep_codes(job.gen, code, p, strengths, steps, **kwargs), job.space)
            for code in job.codes]
    return torch.stack(rows, 0)


def combined_direction(dirset: DirectionSet, alphas: Sequence[float]) -> torch.Tensor:
    """``Σ_i α_i v_i`` over the first ``len(alphas)`` directions."""
    a = np.zeros(dirset.vectors.shape[0], np.float32)
    a[:len(alphas)] = np.asarray(alphas, np.float32)[:dirset.vectors.shape[0]]
    return torch.from_numpy(a @ dirset.vectors)


def _step_lines(total: int) -> Callable[[float], None]:
    """A path step's progress line: each step costs a Jacobian and a robust PCA (seconds on a CPU)."""
    done = [0]

    def line(seconds: float) -> None:
        done[0] += 1
        print(f"path step {done[0]}/{total}: {seconds:.2f} s", file=sys.stderr, flush=True)
    return line


def _local_codes(job: EditSetup, alphas: Sequence[float], region: Region, steps: int,
                 path_tops: Sequence[Sequence[float]] | None, paths: Sequence[Sequence[DirectionPath]] | None,
                 progress: Progress | None, cost: PathCost | None, factors: Sequence[float] = (1.0,)) -> torch.Tensor:
    """Codes ``[n, f, ...]``: each code with every direction at ``factor · α`` along its path.
    ``paths`` (one list per code, as ``direction_paths`` returns them) are used as they are."""
    k = job.dirset.vectors.shape[0]
    norms = np.linalg.norm(job.dirset.vectors, axis=1).tolist()
    alphas = [float(a) for a in alphas][:k] + [0.0] * max(0, k - len(alphas))
    out = []
    for j, code in enumerate(job.codes):
        if paths is not None:
            dps = paths[j]
        else:
            wanted = alphas if path_tops else [max(abs(f) for f in factors) * a for a in alphas]
            tops = tops_for(wanted, k, path_tops)
            if path_tops is None and min(factors) < 0:  # a sweep through zero: both signs
                tops = [(max(t), max(t)) for t in tops]
            tops = [t if a != 0 else (0.0, 0.0) for t, a in zip(tops, alphas)]  # a slider at 0 needs no path
            dps = direction_paths(job, code, tops, region, steps, progress, cost=cost)
        out.append(torch.stack([composed(dps, [f * a for a in alphas], norms) for f in factors]))
    return torch.stack(out, 0)


def composed_edit(model: ModelLike, directions: DirectionSet | str | Path, seeds: Seeds,
                  alphas: Sequence[float], path_steps: int = DEFAULT_STEPS, region: str | Region | None = None,
                  space: str | None = None, layers: Sequence[int] | None = None, trunc: float = 1.0,
                  with_originals: bool = False, path: str | None = None,
                  path_tops: Sequence[Sequence[float]] | None = None,
                  paths: Sequence[Sequence[DirectionPath]] | None = None, progress: Progress | None = None,
                  cost: PathCost | None = None) -> torch.Tensor:
    """Images ``[n, 3, H, W]``: each seed's image with several directions applied at once (the
    page's sliders; the CLI's slider values): each direction along its local path (the default; their
    displacements add) or, with ``path="straight"`` / ``path_steps=0``, ``c + Σ α_i v_i``.
    ``path_tops`` [(+, −) per direction, file units] are where the paths end (the page's slider
    ends; default: each α); ``paths`` are paths already computed (the page's cache).
    ``with_originals`` returns ``[2, n, 3, H, W]``, the unedited images first."""
    job = edit_setup(model, directions, seeds, space, layers, trunc)
    reg = choose_path(job, path, path_steps, region)
    if reg is None:
        moved = shift_codes(job.gen, job.codes, combined_direction(job.dirset, alphas), [1.0], job.space, job.layers)[:, 0]
    else:
        moved = _local_codes(job, alphas, reg, path_steps, path_tops, paths, progress, cost)[:, 0]
    if with_originals:
        both = render(job.gen, torch.cat([job.codes, moved], 0), job.space)
        return both.view(2, len(job.codes), *both.shape[1:])
    return render(job.gen, moved, job.space)


def composed_sweep(model: ModelLike, directions: DirectionSet | str | Path, seed: Seeds, alphas: Sequence[float],
                   frames: int = 9, path_steps: int = DEFAULT_STEPS, region: str | Region | None = None,
                   trunc: float = 1.0, path: str | None = None, path_tops: Sequence[Sequence[float]] | None = None,
                   paths: Sequence[Sequence[DirectionPath]] | None = None,
                   progress: Progress | None = None) -> torch.Tensor:
    """Images ``[1, frames, 3, H, W]``: the composed edit swept from −1× to +1× (direction 0 at
    the model's default strengths when every α is zero), along the local paths by default."""
    job = edit_setup(model, directions, seed, trunc=trunc)
    reg = choose_path(job, path, path_steps, region)
    if not any(abs(a) > 0 for a in alphas):
        strengths = parse_strengths(job.gen.default_strengths)
        if reg is not None and paths is not None:  # the cached path of direction 0
            n = float(np.linalg.norm(job.dirset.vectors[0]))
            return render(job.gen, torch.stack([paths[0][0].at(s * n) for s in strengths]), job.space)[None]
        if reg is None:
            return sweep(job.gen, job.codes, pick(job.dirset, 0), strengths, job.space, job.layers)
        return edit(job.gen, job.dirset, job.codes, strengths, 0, job.space, job.layers, trunc, path, path_steps, reg,
                    progress)
    factors = np.linspace(-1, 1, frames).tolist()
    if reg is None:
        return sweep(job.gen, job.codes, combined_direction(job.dirset, alphas), factors, job.space, job.layers)
    codes = _local_codes(job, alphas, reg, path_steps, path_tops, paths, progress, None, factors)
    return render(job.gen, codes[0], job.space)[None]


def slider_span(gen: GeneratorAdapter) -> float:
    """The model's default edit range ±span (±3 for the DCGANs)."""
    strengths = parse_strengths(gen.default_strengths)
    return max(abs(strengths[0]), abs(strengths[-1])) or 3.0


def locality(model: ModelLike, directions: DirectionSet | str | Path, seeds: Seeds,
             region: str | Region, index: int = 0, target: float = 0.1, trunc: float = 1.0) -> list[Leak]:
    """The leak (``maths.metrics``) of direction ``index`` on each seed's image."""
    job = edit_setup(model, directions, seeds, trunc=trunc)
    return _leaks(job.gen, job.codes, pick(job.dirset, index), as_region(job.gen, region), job.space,
                  job.layers, target)


def method_descriptions() -> list[dict]:
    """Every method with its parameters (type, default, range, help), registry order."""
    return [m.describe() for m in METHODS.values()]


def evaluate(model: ModelLike, regions: str | Sequence[str], seeds: Sequence[int],
             methods: Sequence[str] = DEFAULT_METHODS, ray: str | None = None, **options) -> dict:
    """``lowrankgan evaluate``: see ``lowrankgan.evaluation.evaluate`` (options are the fields of
    ``EvaluationConfig``, plus ``device`` and ``class_name``). ``ray`` (a cluster address, ``auto``
    or ``local``) runs the sweep's cells on Ray workers, into the same resumable log."""
    # The evaluation and Ray code load here, not at start-up: the other commands never need them.
    if ray is not None:
        from ..distributed import evaluate_on_ray  # Ray itself is imported only when used
        return evaluate_on_ray(ray, model, regions, seeds, methods, **options)
    from ..evaluation import evaluate as run_evaluation
    return run_evaluation(model, regions, seeds, methods, **options)


def format_evaluation(summary: dict) -> str:
    """The comparison table of an evaluation summary (markdown)."""
    from ..evaluation.summary import format_table
    return format_table(summary)
