"""Local strong edits: paths that keep the rest of the image where it was (the default edit).

A straight line ``c + s p`` is local only while the generator is close to linear; at the strengths
people use (in-region RMS 0.3) its rest drifts. The local path walks to strength ``s`` in ``steps``
Gauss–Newton steps. At the current code ``c_k`` it computes the Jacobian ``J`` (analysis image, one
row per pixel and colour channel: region rows ``J_f``, rest rows ``J_b``) and the image's drift from
the original, ``r_b`` (rest) and ``r_f`` (region), and solves

    min_δ ‖r_b + J_b δ‖² + μ ‖δ‖²   subject to   uᵀ(r_f + J_f δ) = t_{k+1}

The rest is pulled back to the original (not merely kept from drifting further); the region is
free but for one number: its change along ``u`` must reach ``t_{k+1}``. ``u`` is the region's
change so far (first step: ``J_f p``, the straight line's own region change), and ``t_{k+1}`` is
the norm of the straight line's region change at strength ``(k+1) s / steps`` — so a strength
means the same amount of region change on the path as on the straight line, and sliders keep
their calibrated ends. Per-channel rows (not the grey level the directions are found on) because a
drift of the rest in colour alone — skin turning purple at the same grey level — is a spill too, and
the sliders are calibrated in RGB: on grey levels the path met its region target while the RGB change
fell short (a random StyleGAN2 reached in-region RMS 0.3 on 1 of 7 tuning cases; per channel on all 7).
``μ`` is a share of ``tr(J_bᵀJ_b)/d``: it keeps δ short where the rest does
not care (directions the whole image ignores). Closed form, ``A = J_bᵀJ_b + μI``, ``a = J_fᵀu``:
``δ = x₀ + λ A⁻¹a`` with ``x₀ = −A⁻¹J_bᵀr_b`` and ``λ`` meeting the constraint. Cost per step: one
Jacobian, two renders, one ``d×d`` solve; measured against the straight line and re-deriving in
``benchmarks/bench_strong_edits.py``.

Where the straight line is already local enough — its rest changes by at most ``LINEAR_TOL`` RMS
at the path's end — no path is computed: the path is the straight line (no Jacobian paid).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ..errors import LowRankGANError
from ..models.base import GeneratorAdapter
from .jacobian import analysis_image, compute_jacobian, default_analysis_size, embed_direction
from .metrics import rms_inside_outside
from .regions import Region, check_analysis_masks

PATHS = ("local", "straight")
DEFAULT_PATH = "local"
DEFAULT_STEPS = 8
MAX_STEPS = 64
MU = 0.01  # share of tr(J_bᵀJ_b)/d added to the normal equations (chosen on the tuning split)
LINEAR_TOL = 0.02  # rest RMS change (images in [-1, 1], ≈ 2.5 grey levels) a straight line may keep
# Rows per colour channel: the rest is pulled back in colour too (a drift to purple keeps the grey
# level), and the region's change is held in the units the sliders are calibrated in (RGB RMS).
CHANNELS = True

Progress = Callable[[int, int], None]  # (steps done, steps in all)


class PathCancelled(LowRankGANError):
    """A path computation was cancelled (the page's slider moved on, the result was dropped)."""


def check_path(path: str) -> str:
    if path not in PATHS:
        raise LowRankGANError(f"unknown path '{str(path)[:40]}'; use {' or '.join(PATHS)}")
    return path


def check_steps(steps: int) -> int:
    if not 1 <= int(steps) <= MAX_STEPS:
        raise LowRankGANError(f"path_steps must be 1..{MAX_STEPS} (each step costs a Jacobian), got {steps}")
    return int(steps)


def _image(gen: GeneratorAdapter, code: torch.Tensor, space: str, size: int, channels: bool) -> torch.Tensor:
    with torch.no_grad():
        return analysis_image(gen.synthesize(code[None], space), size, channels)[0].double()


def local_path(gen: GeneratorAdapter, code: torch.Tensor, direction: torch.Tensor, strength: float, steps: int,
               region: Region, space: str = "z", layers: Sequence[int] | None = None,
               analysis_size: int | None = None, mu: float = MU, progress: Progress | None = None,
               cancel=None, done: int = 0, total: int | None = None, channels: bool = CHANNELS) -> torch.Tensor:
    """Codes ``[steps + 1, ...]`` from ``code`` (first) to strength ``strength`` along the local path
    of the unit direction ``direction`` (``[d]``). ``progress(done, total)`` is called after each
    step; ``cancel`` (anything with ``is_set()``) stops the walk with ``PathCancelled``."""
    check_steps(steps)
    # No finer than the model renders: an upsampled picture only adds interpolated rows to each Jacobian.
    size = min(analysis_size or default_analysis_size(gen), gen.resolution)
    fg = check_analysis_masks(region, size)[0].flatten()
    if channels:
        fg = fg.repeat(3)  # rows are channel-major: the mask once per channel
    code = code.detach().to(gen.device, torch.float32)
    p = direction.detach().to(torch.float64).cpu()
    p = p / p.norm()
    offset = embed_direction(gen, p.float().to(gen.device), space, layers)
    base = _image(gen, code, space, size, channels)
    h = float(strength) / steps
    out, current, u = [code], code, None
    for k in range(steps):
        if cancel is not None and cancel.is_set():
            raise PathCancelled("the path was cancelled")
        if h == 0:
            out.append(current)
            continue
        # The first step's Jacobian is the source image's: the same for both signs and every direction
        # (and the one the directions were found with), so it comes from the disk cache when there.
        J = compute_jacobian(gen, current, space, layers, size, cache=k == 0, progress=False,
                             channels=channels).double()
        Jf, Jb = J[fg], J[~fg]
        drift = _image(gen, current, space, size, channels) - base
        r_f, r_b = drift[fg], drift[~fg]
        target = float((_image(gen, code + (k + 1) * h * offset, space, size, channels) - base)[fg].norm())
        u = Jf @ p * (1.0 if h > 0 else -1.0) if k == 0 or float(r_f.norm()) == 0 else r_f
        u = u / u.norm().clamp(min=1e-30)
        G = Jb.T @ Jb
        A = G + mu * float(G.trace()) / G.shape[0] * torch.eye(G.shape[0], dtype=G.dtype) \
            + 1e-12 * torch.eye(G.shape[0], dtype=G.dtype)
        a = Jf.T @ u
        x0 = -torch.linalg.solve(A, Jb.T @ r_b)
        y = torch.linalg.solve(A, a)
        lam = (target - float(u @ r_f) - float(a @ x0)) / max(float(a @ y), 1e-30)
        delta = x0 + lam * y
        if not bool(torch.isfinite(delta).all()):
            delta = h * p  # a degenerate Jacobian (a flat region): keep to the straight line
        current = current + embed_direction(gen, delta.float().to(gen.device), space, layers)
        out.append(current)
        if progress is not None:
            progress(done + k + 1, total or steps)
    return torch.stack(out, 0)


def straight_is_local(gen: GeneratorAdapter, code: torch.Tensor, offset: torch.Tensor, strength: float,
                      mask: torch.Tensor, space: str, tol: float = LINEAR_TOL) -> bool:
    """Whether the straight line's rest changes by at most ``tol`` RMS at ``strength`` (one render)."""
    with torch.no_grad():
        images = gen.synthesize(torch.stack([code, code + strength * offset]).to(gen.device), space).float()
    _, outside = rms_inside_outside(images[1:] - images[:1], mask)
    return float(outside[0]) <= tol


@dataclass
class DirectionPath:
    """One direction's paths from one code, for each sign up to its top strength (along the unit
    direction); ``None`` for a sign means the straight line (linear regime, or no strength asked)."""

    code: torch.Tensor
    offset: torch.Tensor  # the embedded unit direction
    tops: tuple[float, float]  # (+, −) strengths the paths end at (>= 0)
    paths: tuple[torch.Tensor | None, torch.Tensor | None]

    def at(self, strength: float) -> torch.Tensor:
        """The code at signed ``strength``: interpolated along the path; past its end, on along the
        straight direction (the path's end plus the rest of the strength)."""
        s = float(strength)
        i = 0 if s >= 0 else 1
        path, top = self.paths[i], self.tops[i]
        if path is None or s == 0:
            return self.code + s * self.offset
        steps = path.shape[0] - 1
        if abs(s) >= top:
            return path[-1] + (s - (top if s > 0 else -top)) * self.offset
        t = abs(s) / top * steps
        j = min(int(t), steps - 1)
        frac = t - j
        return path[j] * (1 - frac) + path[j + 1] * frac

    @property
    def jacobians(self) -> int:
        return sum(0 if p is None else p.shape[0] - 1 for p in self.paths)


def direction_path(gen: GeneratorAdapter, code: torch.Tensor, direction: torch.Tensor, tops: tuple[float, float],
                   region: Region, space: str = "z", layers: Sequence[int] | None = None,
                   analysis_size: int | None = None, steps: int = DEFAULT_STEPS, mu: float = MU,
                   tol: float = LINEAR_TOL, progress: Progress | None = None, cancel=None,
                   channels: bool = CHANNELS) -> DirectionPath:
    """Both signs' local paths of the unit ``direction`` up to ``tops`` = (+, −) strengths; a sign
    whose straight line stays within ``tol`` of the original outside the region gets no path."""
    code = code.detach().to(gen.device, torch.float32)
    p = direction.detach().float()
    p = p / p.norm()
    offset = embed_direction(gen, p.to(gen.device), space, layers)
    mask = torch.from_numpy(region.mask)
    need = [top > 0 and not straight_is_local(gen, code, offset, sign * top, mask, space, tol)
            for sign, top in zip((1.0, -1.0), tops)]
    total = steps * sum(need)
    paths: list[torch.Tensor | None] = []
    for sign, top, n in zip((1.0, -1.0), tops, need):
        if not n:
            paths.append(None)
            continue
        done = steps * sum(q is not None for q in paths)
        paths.append(local_path(gen, code, p, sign * top, steps, region, space, layers, analysis_size, mu,
                                progress, cancel, done, total, channels))
    return DirectionPath(code, offset, (float(tops[0]), float(tops[1])), (paths[0], paths[1]))


def composed_code(paths: Sequence[DirectionPath], strengths: Sequence[float]) -> torch.Tensor:
    """Several directions at once: the source code plus each path's displacement at its strength."""
    code = paths[0].code
    return code + sum((dp.at(s) - code for dp, s in zip(paths, strengths) if s != 0), torch.zeros_like(code))
