"""Edits: single, composed from slider values, path-following, sweeps; locality and evaluation."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from ..files.directionfile import (DirectionSet)
from ..distributed import evaluate_on_ray  # Ray itself is imported only when used
from ..maths.edit import parse_strengths, render, shift_codes, sweep
from ..errors import LowRankGANError
from ..evaluation import DEFAULT_METHODS, evaluate as run_evaluation, format_table
from ..maths.methods import METHODS
from ..maths.metrics import Leak
from ..models import (GeneratorAdapter)
from ..maths.pathedit import check_path_steps, path_codes, path_settings, path_sweep_codes
from ..maths.regions import Region
from .core import (ModelLike, as_region, Seeds, pick, EditSetup, edit_setup)
from .directions import (_leaks)


def edit(model: ModelLike, directions: DirectionSet | str | Path, seeds: Seeds,
         strengths: Sequence[float], index: int = 0, space: str | None = None,
         layers: Sequence[int] | None = None, trunc: float = 1.0) -> torch.Tensor:
    """Images ``[n_seeds, n_strengths, 3, H, W]``: each seed's image moved along one direction."""
    job = edit_setup(model, directions, seeds, space, layers, trunc)
    return sweep(job.gen, job.codes, pick(job.dirset, index), strengths, job.space, job.layers)


def _path_kwargs(job: EditSetup, region: str | Region | None) -> dict:
    region = region or job.dirset.region
    if not region:
        raise LowRankGANError("path_steps needs the region: the direction file records none, give region", ("path_steps", "region"))
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


def _moved(job: EditSetup, alphas: Sequence[float], path_steps: int, region: str | Region | None,
           progress: bool = False) -> torch.Tensor:
    """The codes moved by ``Σ α_i v_i``: along the straight line, or (``path_steps`` > 0) to the end
    of the path along ``v/|v|`` to strength ``|v|``."""
    direction = combined_direction(job.dirset, alphas)
    if path_steps <= 0:
        return shift_codes(job.gen, job.codes, direction, [1.0], job.space, job.layers)[:, 0]
    strength = float(direction.norm())
    if strength == 0.0:
        return job.codes
    kwargs = {**_path_kwargs(job, region), "on_step": _step_lines(len(job.codes) * path_steps) if progress else None}
    return torch.stack([path_codes(job.gen, code, direction / strength, strength, path_steps, **kwargs)[-1]
                        for code in job.codes], 0)


def composed_edit(model: ModelLike, directions: DirectionSet | str | Path, seeds: Seeds,
                  alphas: Sequence[float], path_steps: int = 0, region: str | Region | None = None,
                  space: str | None = None, layers: Sequence[int] | None = None, trunc: float = 1.0,
                  with_originals: bool = False, progress: bool = False) -> torch.Tensor:
    """Images ``[n, 3, H, W]``: each seed's image with several directions applied at once,
    ``c + Σ α_i v_i`` (the page's sliders). ``with_originals`` returns
    ``[2, n, 3, H, W]``, the unedited images first. ``progress``: a line per path step on stderr."""
    job = edit_setup(model, directions, seeds, space, layers, trunc)
    moved = _moved(job, alphas, path_steps, region, progress)
    if with_originals:
        both = render(job.gen, torch.cat([job.codes, moved], 0), job.space)
        return both.view(2, len(job.codes), *both.shape[1:])
    return render(job.gen, moved, job.space)


def composed_sweep(model: ModelLike, directions: DirectionSet | str | Path, seed: Seeds, alphas: Sequence[float],
                   frames: int = 9, path_steps: int = 0, region: str | Region | None = None,
                   trunc: float = 1.0) -> torch.Tensor:
    """Images ``[1, frames, 3, H, W]``: the composed edit swept from −1× to +1× (direction 0 at
    the model's default strengths when every α is zero), along paths when ``path_steps`` > 0."""
    job = edit_setup(model, directions, seed, trunc=trunc)
    if any(abs(a) > 0 for a in alphas):
        direction, strengths = combined_direction(job.dirset, alphas), np.linspace(-1, 1, frames).tolist()
    else:
        direction, strengths = pick(job.dirset, 0), parse_strengths(job.gen.default_strengths)
    if path_steps <= 0:
        return sweep(job.gen, job.codes, direction, strengths, job.space, job.layers)
    # path_sweep_codes moves along the unit direction: strength s·|v| there is s·v on the line.
    norm = float(direction.norm())
    moved = path_sweep_codes(job.gen, job.codes[0], direction / norm, [s * norm for s in strengths], path_steps,
                             **_path_kwargs(job, region))
    return render(job.gen, moved, job.space)[None]


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
    if ray is not None:
        return evaluate_on_ray(ray, model, regions, seeds, methods, **options)
    return run_evaluation(model, regions, seeds, methods, **options)


def format_evaluation(summary: dict) -> str:
    """The comparison table of an evaluation summary (markdown)."""
    return format_table(summary)
