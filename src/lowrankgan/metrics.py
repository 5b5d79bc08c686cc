"""Locality of an edit, measured (DESIGN §4).

For a unit direction ``p`` the strength ``α > 0`` is calibrated per sign (a doubling bracket, then Illinois steps) so that the
RMS pixel change inside the region equals ``target``; the leak is the RMS change outside divided by
the RMS change inside, averaged over the two signs. A global edit scores about 1, lower is better.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .jacobian import embed_direction
from .models.base import GeneratorAdapter

LEAK_BATCH_IMAGES = 8  # images calibrated together: 16 synthesize rows per step
LEAK_RTOL = 1e-6  # the calibrated in-region RMS is within this (relative) above the target


@dataclass
class Leak:
    leak: float  # mean over the two signs; inf if the target was not reached
    strengths: tuple[float, float]  # calibrated |α| for +p and -p (nan if unreached)
    per_sign: tuple[float, float]


def rms_inside_outside(delta: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """RMS over region / rest pixels of the channel-mean squared change; ``delta`` is ``[n,3,H,W]``."""
    sq = (delta ** 2).mean(1)  # [n, H, W]
    m = mask.to(sq.device)
    inside = sq[:, m].mean(1).sqrt()
    outside = sq[:, ~m].mean(1).sqrt()
    return inside, outside


def measure_leak(gen: GeneratorAdapter, code: torch.Tensor, direction: torch.Tensor, mask: torch.Tensor,
                 space: str = "z", layers: Sequence[int] | None = None, target: float = 0.1,
                 max_strength: float | None = None, iterations: int = 24) -> Leak:
    """Leak of ``direction`` (``[d]``) at ``code`` (``[d]`` / ``[L, d]``) for a region ``mask`` ``[H, W]``."""
    return measure_leaks(gen, code[None], direction, mask, space, layers, target, max_strength, iterations)[0]


def measure_leaks(gen: GeneratorAdapter, codes: torch.Tensor, direction: torch.Tensor, mask: torch.Tensor,
                  space: str = "z", layers: Sequence[int] | None = None, target: float = 0.1,
                  max_strength: float | None = None, iterations: int = 24,
                  max_batch: int = LEAK_BATCH_IMAGES) -> list[Leak]:
    """``measure_leak`` for each of ``codes`` (``[n, d]`` / ``[n, L, d]``): every image and both signs
    bisect together, one ``synthesize`` call per step for up to ``max_batch`` images (the same
    numbers as one image at a time, in a fraction of the calls)."""
    out: list[Leak] = []
    for start in range(0, len(codes), max(1, max_batch)):
        out += _leaks(gen, codes[start:start + max_batch], direction, mask, space, layers, target,
                      max_strength, iterations)
    return out


def _leaks(gen: GeneratorAdapter, codes: torch.Tensor, direction: torch.Tensor, mask: torch.Tensor,
           space: str, layers: Sequence[int] | None, target: float, max_strength: float | None,
           iterations: int) -> list[Leak]:
    n = codes.shape[0]
    codes = codes.detach().to(gen.device, torch.float32)
    p = direction.detach().to(gen.device, torch.float32)
    offset = embed_direction(gen, p / p.norm(), space, layers)
    # Rows: image 0 (+p, -p), image 1 (+p, -p), ...; one strength per row.
    rows = codes.repeat_interleave(2, 0)
    signs = torch.tensor([1.0, -1.0], device=gen.device).repeat(n)
    if max_strength is None:  # per image, from its own code
        norms = codes.reshape(n, -1, codes.shape[-1]).norm(dim=-1).amax(1)
        cap = 4.0 * torch.clamp(norms, min=1.0).repeat_interleave(2)
    else:
        cap = torch.full((2 * n,), float(max_strength), device=gen.device)
    shape = (2 * n,) + (1,) * (codes.dim() - 1)
    with torch.no_grad():
        base = gen.synthesize(codes, space).repeat_interleave(2, 0)

        def inside_outside(alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            shifted = rows + (signs * alpha).view(shape) * offset[None]
            return rms_inside_outside(gen.synthesize(shifted, space) - base, mask)

        lo = torch.zeros(2 * n, device=gen.device)
        in_lo = torch.zeros(2 * n, device=gen.device)
        hi = torch.minimum(torch.ones(2 * n, device=gen.device), cap)
        # Grow each bracket geometrically until the target is passed (or the cap is hit).
        while True:
            in_hi, out_hi = inside_outside(hi)
            reached = in_hi >= target
            if bool((reached | (hi >= cap)).all()):
                break
            lo, in_lo = torch.where(reached, lo, hi), torch.where(reached, in_lo, in_hi)
            hi = torch.where(reached, hi, torch.minimum(hi * 2, cap))
        hi, in_hi, out_hi = _refine(inside_outside, lo, in_lo - target, hi, in_hi, out_hi, reached,
                                    target, iterations)
    leaks = []
    for i in range(n):
        per_sign, strengths = [], []
        for r in (2 * i, 2 * i + 1):
            if not bool(reached[r]) or float(in_hi[r]) <= 0:
                per_sign.append(math.inf)
                strengths.append(math.nan)
            else:
                per_sign.append(float(out_hi[r] / in_hi[r]))
                strengths.append(float(hi[r]))
        leaks.append(Leak(sum(per_sign) / 2, (strengths[0], strengths[1]), (per_sign[0], per_sign[1])))
    return leaks


def _refine(inside_outside, lo: torch.Tensor, f_lo: torch.Tensor, hi: torch.Tensor, in_hi: torch.Tensor,
            out_hi: torch.Tensor, reached: torch.Tensor, target: float, iterations: int):
    """Shrink each bracket ``(lo, hi]`` around the strength where the in-region RMS crosses
    ``target``, keeping ``hi`` at or above it: Illinois (regula falsi) steps, a bisection where one
    falls outside the bracket, until the RMS at ``hi`` is within ``LEAK_RTOL`` of the target (about
    6 steps, where plain bisection took ``iterations`` = 24), or ``iterations`` steps at most."""
    f_hi = in_hi - target
    side = torch.zeros_like(lo)  # +1: hi moved last time, -1: lo moved
    for _ in range(iterations):
        active = reached & (f_hi > LEAK_RTOL * target) & (hi - lo > 1e-7 * hi)
        if not bool(active.any()):
            break
        mid = hi - f_hi * (hi - lo) / (f_hi - f_lo).clamp(min=1e-30)
        mid = torch.where((mid > lo) & (mid < hi), mid, (lo + hi) / 2)
        mid = torch.where(active, mid, hi)
        in_mid, out_mid = inside_outside(mid)
        f_mid = in_mid - target
        up = active & (f_mid >= 0)
        down = active & (f_mid < 0)
        # Illinois: an end kept twice in a row has its value halved, so the next secant moves it.
        f_lo = torch.where(up & (side > 0), f_lo / 2, torch.where(down, f_mid, f_lo))
        f_hi = torch.where(down & (side < 0), f_hi / 2, torch.where(up, f_mid, f_hi))
        lo = torch.where(down, mid, lo)
        hi = torch.where(up, mid, hi)
        in_hi = torch.where(up, in_mid, in_hi)
        out_hi = torch.where(up, out_mid, out_hi)
        side = torch.where(up, 1.0, torch.where(down, -1.0, side))
    return hi, in_hi, out_hi


def median(values: Sequence[float]) -> float:
    vals = sorted(values)
    if not vals:
        return math.nan
    n = len(vals)
    return vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2
