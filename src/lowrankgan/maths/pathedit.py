"""Path-following edits (beyond the paper).

A straight-line edit ``c + α p`` stays local only while the generator is close to linear: the null
space of the rest is computed at ``c`` and drifts as the code moves. A path-following edit walks to
``α`` in ``steps`` steps of length ``|α| / steps``; before each step it recomputes the Jacobian at the
current code, the null space ``N`` of the rest (robust PCA with the same settings as the source
direction: ``lam``, ``relax``, ``rank_rtol``) and moves along ``N Nᵀ p`` renormalised to the step
length. Projecting the original ``p`` (not the previous step) keeps the edit's meaning and its
orientation (``pᵀ N Nᵀ p ≥ 0``). Intermediate Jacobians are not written to the disk cache.
Cost: one Jacobian and one robust PCA per step.

``follow="rederive"`` instead re-derives the region's best directions at each step (the top 3
``lowrankgan`` directions of the current code's Grams, same settings) and moves along the one most
aligned with the previous step (the first step: with ``p``), its sign agreeing with it. Cost: two robust PCAs
per step. Measured against the straight line and ``project`` in ``benchmarks/bench_strong_edits.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch

from ..errors import LowRankGANError
from .factorize import RANK_RTOL, local_directions, rest_null_space
from .jacobian import compute_jacobian, default_analysis_size, embed_direction, region_grams
from ..models.base import GeneratorAdapter
from .regions import Region, check_analysis_masks, parse_region
from ..limits import MAX_PATH_STEPS

FOLLOW = ("project", "rederive")


def _region(gen: GeneratorAdapter, region: str | Region) -> Region:
    return region if isinstance(region, Region) else parse_region(region, gen.resolution, gen.presets)


def path_codes(gen: GeneratorAdapter, code: torch.Tensor, direction: torch.Tensor, strength: float,
               steps: int, region: str | Region, space: str = "z", layers: Sequence[int] | None = None,
               analysis_size: int | None = None, lam: float | None = None, relax: int = 0,
               rank_rtol: float = RANK_RTOL, follow: str = "project",
               on_step: Callable[[float], None] | None = None, **_ignored) -> torch.Tensor:
    """Codes ``[steps + 1, ...]`` along the path from ``code`` (first) to strength ``strength`` (last);
    ``on_step(seconds)`` is called after each step (each costs a Jacobian and a robust PCA).

    Extra keyword arguments (other methods' parameters such as ``order`` or ``tau``) are ignored, so
    a direction file's ``params`` can be passed as they are.
    """
    if not 1 <= steps <= MAX_PATH_STEPS:
        raise LowRankGANError(f"path_steps must be at least 1 and at most {MAX_PATH_STEPS} "
                              f"(each step costs a Jacobian), got {steps}", "path_steps")
    if follow not in FOLLOW:
        raise LowRankGANError(f"unknown path mode '{str(follow)[:40]}'; use {' or '.join(FOLLOW)}")
    reg = _region(gen, region)
    size = analysis_size or default_analysis_size(gen)
    fg, _ = check_analysis_masks(reg, size)
    code = code.detach().to(gen.device, torch.float32)
    p0 = direction.detach().to(torch.float64).cpu()
    p0 = p0 / p0.norm()
    sign = 1.0 if strength >= 0 else -1.0
    h = abs(float(strength)) / steps
    out = [code]
    current, previous = code, p0
    for _ in range(steps):
        t0 = time.perf_counter()
        if h == 0:
            out.append(current)
            continue
        J = compute_jacobian(gen, current, space, layers, size, cache=False, progress=False)
        M_f, M_b = region_grams(J, fg)
        if follow == "rederive":
            # The best of the current top 3 that continues the previous step (the same edit).
            top = local_directions(M_f, M_b, lam, relax, rank_rtol)[0][:3]
            cos = top @ previous
            v = top[int(cos.abs().argmax())]
            v = v if float(v @ previous) >= 0 else -v
        else:
            N = rest_null_space(M_b, lam, relax, rank_rtol)[0]
            v = N @ (N.T @ p0)
            norm = float(v.norm())
            v = p0 if norm < 1e-8 else v / norm  # the null space lost p entirely: keep the straight line
        previous = v
        offset = embed_direction(gen, v.float().to(gen.device), space, layers)
        current = current + sign * h * offset
        out.append(current)
        if on_step is not None:
            on_step(time.perf_counter() - t0)
    return torch.stack(out, 0)


def interpolate_path(path: torch.Tensor, max_strength: float, strengths: Sequence[float]) -> torch.Tensor:
    """Codes at ``|strengths|`` (≤ ``max_strength``) along a path of equal steps, piecewise linearly."""
    steps = path.shape[0] - 1
    out = []
    for s in strengths:
        t = 0.0 if max_strength == 0 else min(abs(float(s)) / abs(max_strength), 1.0) * steps
        i = min(int(t), steps - 1) if steps > 0 else 0
        frac = t - i
        out.append(path[i] if steps == 0 else path[i] * (1 - frac) + path[i + 1] * frac)
    return torch.stack(out, 0)


def path_sweep_codes(gen: GeneratorAdapter, code: torch.Tensor, direction: torch.Tensor,
                     strengths: Sequence[float], steps: int, region: str | Region, space: str = "z",
                     layers: Sequence[int] | None = None, analysis_size: int | None = None,
                     **params) -> torch.Tensor:
    """Codes ``[s, ...]``: one path per sign to the largest strength of that sign, ``steps`` steps
    each, read off at every strength (0 gives the original code)."""
    code = code.detach().to(gen.device, torch.float32)
    result: list[torch.Tensor | None] = [None] * len(strengths)
    for sign in (1.0, -1.0):
        idx = [i for i, s in enumerate(strengths) if s * sign > 0]
        if not idx:
            continue
        top = max(abs(float(strengths[i])) for i in idx)
        path = path_codes(gen, code, direction, sign * top, steps, region, space, layers, analysis_size, **params)
        for i, c in zip(idx, interpolate_path(path, top, [strengths[i] for i in idx])):
            result[i] = c
    return torch.stack([code if r is None else r for r in result], 0)


def path_settings(dirset) -> dict:
    """The robust-PCA settings a direction file records, as ``path_codes`` takes them."""
    params = dirset.meta.get("params") or {}
    out = {k: v for k, v in params.items() if k in ("lam", "relax", "rank_rtol")}
    if "lambda" in params:
        out["lam"] = params["lambda"]
    return out


def check_path_steps(steps: int) -> int:
    """0 (straight lines) or 1..MAX_PATH_STEPS, checked before any work."""
    if not 0 <= steps <= MAX_PATH_STEPS:
        raise LowRankGANError(f"path_steps must be 0..{MAX_PATH_STEPS} (each step costs a Jacobian), got {steps}", "path_steps")
    return steps
