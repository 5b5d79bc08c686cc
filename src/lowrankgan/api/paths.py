"""Which path an edit takes (local, the default, or the straight line) and the paths themselves.

Every edit — ``edit``, ``composed_edit``, ``composed_sweep``, the page's renders — moves each
direction along its local path (``maths.localpath``), computed per code up to a top strength per
sign and read off (interpolated) at every strength asked for. Several directions at once add their
paths' displacements. ``path_tops`` fixes those tops (the page: each slider's ends), so that the
same tops give the same codes wherever the edit is made (the CLI's recorded slider values replay the
page pixel for pixel).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..errors import LowRankGANError
from ..files.directionfile import DirectionSet
from ..maths.localpath import (DEFAULT_PATH, DEFAULT_STEPS, LINEAR_TOL, MAX_STEPS, PATHS, DirectionPath,
                               PathCancelled, Progress, check_path, composed_code, direction_path)
from ..maths.jacobian import embed_direction
from ..maths.metrics import rms_inside_outside
from ..maths.regions import Region
from .core import EditSetup, as_region, edit_setup

__all__ = ["DEFAULT_PATH", "DEFAULT_STEPS", "LINEAR_TOL", "MAX_STEPS", "PATHS", "DirectionPath", "PathCancelled",
           "PathCost", "choose_path", "straight_paths", "strong_leaks",
           "direction_paths", "end_leaks", "recorded_path_tops"]


@dataclass
class PathCost:
    """What the paths of one edit cost: Jacobians computed and seconds spent (``progress`` and
    the CLI's summary line)."""

    jacobians: int = 0
    seconds: float = 0.0


def choose_path(job: EditSetup, path: str | None, path_steps: int, region: str | Region | None) -> Region | None:
    """The region the local path keeps the rest of, or ``None`` for the straight line: ``path``
    (else the direction file's recorded ``path``, else local); ``path_steps=0`` is the straight line,
    and so is the default for a file that records no region (unless ``region`` is given)."""
    asked = path
    path = check_path(path or job.dirset.meta.get("path") or DEFAULT_PATH)
    if path == "straight" or path_steps == 0:
        return None
    if not 1 <= path_steps <= MAX_STEPS:
        raise LowRankGANError(f"path_steps must be 0 (straight line) .. {MAX_STEPS}, got {path_steps}")
    region = region or job.dirset.region
    if not region and asked is None:
        return None  # a bare direction file (no region recorded): nothing to hold still, the straight line
    if not region:
        raise LowRankGANError("the local path needs the region: the direction file records none; give region, "
                              "or path='straight'")
    return as_region(job.gen, region)


def direction_paths(job: EditSetup, code: torch.Tensor, tops: Sequence[tuple[float, float]], region: Region,
                    steps: int = DEFAULT_STEPS, progress: Progress | None = None, cancel=None,
                    cost: PathCost | None = None) -> list[DirectionPath]:
    """One ``DirectionPath`` per direction of the file: tops in the file's units (α, as sliders
    take them) per sign (+, −); ``(0, 0)`` gives the straight line at no cost."""
    vecs = torch.from_numpy(job.dirset.vectors).float()
    done, total, start = [0], steps * sum(1 for t in tops for x in t if x > 0), time.perf_counter()

    def step(k: int, n: int) -> None:
        if progress is not None:
            progress(done[0] + k, total)

    out = []
    for v, (plus, minus) in zip(vecs, tops):
        n = float(v.norm())
        dp = direction_path(job.gen, code, v / n, (plus * n, minus * n), region, job.space, job.layers,
                            job.dirset.meta.get("analysis_size"), steps, progress=step, cancel=cancel)
        done[0] += steps * sum(1 for x in (plus, minus) if x > 0)
        out.append(dp)
        if cost is not None:
            cost.jacobians += dp.jacobians
    if cost is not None:
        cost.seconds += time.perf_counter() - start
    return out


def straight_paths(job: EditSetup, code: torch.Tensor, tops: Sequence[tuple[float, float]]) -> list[DirectionPath]:
    """The straight lines, as ``DirectionPath`` objects (``end_leaks`` of the straight line)."""
    code = code.detach().to(job.gen.device, torch.float32)
    out = []
    for v, (plus, minus) in zip(torch.from_numpy(job.dirset.vectors).float(), tops):
        n = float(v.norm())
        offset = embed_direction(job.gen, (v / n).to(job.gen.device), job.space, job.layers)
        out.append(DirectionPath(code, offset, (plus * n, minus * n), (None, None)))
    return out


def composed(paths: Sequence[DirectionPath], alphas: Sequence[float], norms: Sequence[float]) -> torch.Tensor:
    """The code with every direction at its slider value α (file units)."""
    return composed_code(paths, [a * n for a, n in zip(alphas, norms)])


def tops_for(alphas: Sequence[float], k: int, path_tops: Sequence[Sequence[float]] | None) -> list[tuple[float, float]]:
    """Each direction's (+, −) path tops in file units: the ones given (the page's slider ends),
    raised to an α asked for past them; without them each α's own size on its sign."""
    out = []
    for i in range(k):
        a = float(alphas[i]) if i < len(alphas) else 0.0
        plus, minus = (float(path_tops[i][0]), float(path_tops[i][1])) if path_tops and i < len(path_tops) else (0.0, 0.0)
        out.append((max(plus, a), max(minus, -a)))
    return out


def recorded_path_tops(dirset: DirectionSet) -> list[tuple[float, float]] | None:
    """The page's slider ends the ZIP records (``slider_path_tops``), checked; ``None`` if absent."""
    tops = dirset.meta.get("slider_path_tops")
    if tops is None:
        return None
    ok = (isinstance(tops, list) and len(tops) <= dirset.vectors.shape[0]
          and all(isinstance(t, list) and len(t) == 2 and all(isinstance(x, (int, float)) and 0 <= x < 1e6 for x in t)
                  for t in tops))
    if not ok:
        raise LowRankGANError("the direction file's slider_path_tops is not a list of [plus, minus] strengths "
                              "(0 up to 1e6), one per direction")
    return [(float(a), float(b)) for a, b in tops]


def end_leaks(job: EditSetup, code: torch.Tensor, paths: Sequence[DirectionPath], region: Region) -> list[tuple[float | None, float | None]]:
    """Each direction's leak (RMS outside / inside) at its two path ends, as rendered (one batch)."""
    ends = [(i, s * t) for i, dp in enumerate(paths) for s, t in zip((1.0, -1.0), dp.tops) if t > 0]
    out: list[list[float | None]] = [[None, None] for _ in paths]
    if not ends:
        return [tuple(x) for x in out]  # type: ignore[misc]
    codes = torch.stack([code] + [paths[i].at(s) for i, s in ends])
    with torch.no_grad():
        images = job.gen.synthesize(codes.to(job.gen.device), job.space).float().clamp(-1, 1)
    inside, outside = rms_inside_outside(images[1:] - images[:1], torch.from_numpy(region.mask))
    for (i, s), a, b in zip(ends, inside.tolist(), outside.tolist()):
        out[i][0 if s > 0 else 1] = b / a if a > 0 else None
    return [tuple(x) for x in out]  # type: ignore[misc]


def strong_leaks(model, dirset: DirectionSet, seeds, region: str | Region, index: int = 0,
                 steps: int = DEFAULT_STEPS, trunc: float = 1.0) -> tuple[float, float]:
    """Direction ``index``'s leak on the first image of ``seeds`` at the page's slider ends
    (in-region RMS 0.3 on the straight line), mean of both signs: (straight line, local path).
    The local path costs ``2 × steps`` Jacobians (``find_directions`` records the straight line's
    figure alone as ``leak_slider_straight_top1``)."""
    from .directions import direction_report  # the slider ends, calibrated as the page does

    job = edit_setup(model, dirset, seeds, trunc=trunc)
    one = dirset.one(index)
    report = direction_report(job.gen, one, job.codes[:1], region, trunc=trunc)[0]
    tops = [(report.ends[0] or 0.0, report.ends[1] or 0.0)]
    reg = as_region(job.gen, region)
    sub = EditSetup(job.gen, one, job.space, job.layers, job.codes[:1])
    mean = lambda pair: sum(x if x is not None else float("inf") for x in pair) / 2  # noqa: E731
    straight = end_leaks(sub, job.codes[0], straight_paths(sub, job.codes[0], tops), reg)[0]
    local = end_leaks(sub, job.codes[0], direction_paths(sub, job.codes[0], tops, reg, steps), reg)[0]
    return mean(straight), mean(local)
