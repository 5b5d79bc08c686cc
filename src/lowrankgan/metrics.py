"""Locality of an edit, measured (DESIGN §4).

For a unit direction ``p`` the strength ``α > 0`` is calibrated per sign (bisection) so that the
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
    code = code.detach().to(gen.device, torch.float32)
    p = direction.detach().to(gen.device, torch.float32)
    p = p / p.norm()
    offset = embed_direction(gen, p, space, layers)
    signs = torch.tensor([1.0, -1.0], device=gen.device).view(2, *([1] * code.dim()))
    if max_strength is None:
        max_strength = 4.0 * max(1.0, float(code.norm(dim=-1).max()))
    with torch.no_grad():
        base = gen.synthesize(code[None], space)

        def inside_outside(alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            codes = code[None] + signs * alpha.view(2, *([1] * code.dim())) * offset[None]
            return rms_inside_outside(gen.synthesize(codes, space) - base, mask)

        lo = torch.zeros(2, device=gen.device)
        hi = torch.full((2,), 1.0, device=gen.device)
        reached = torch.zeros(2, dtype=torch.bool, device=gen.device)
        # Grow the bracket geometrically until the target is passed (or the cap is hit).
        while True:
            inside, _ = inside_outside(hi)
            reached = inside >= target
            if bool(reached.all()) or float(hi.max()) >= max_strength:
                break
            lo = torch.where(reached, lo, hi)
            hi = torch.where(reached, hi, torch.clamp(hi * 2, max=max_strength))
        for _ in range(iterations):
            mid = (lo + hi) / 2
            inside, _ = inside_outside(mid)
            above = inside >= target
            hi = torch.where(above & reached, mid, hi)
            lo = torch.where(~above & reached, mid, lo)
        inside, outside = inside_outside(hi)
    per_sign = []
    strengths = []
    for s in range(2):
        if not bool(reached[s]) or float(inside[s]) <= 0:
            per_sign.append(math.inf)
            strengths.append(math.nan)
        else:
            per_sign.append(float(outside[s] / inside[s]))
            strengths.append(float(hi[s]))
    return Leak(sum(per_sign) / 2, (strengths[0], strengths[1]), (per_sign[0], per_sign[1]))


def median(values: Sequence[float]) -> float:
    vals = sorted(values)
    if not vals:
        return math.nan
    n = len(vals)
    return vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2
