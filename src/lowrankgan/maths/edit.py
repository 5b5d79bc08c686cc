"""Applying directions: codes moved along a direction, rendered as sweeps."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..errors import LowRankGANError
from .jacobian import embed_direction
from ..limits import MAX_SEED, MAX_SEEDS, MAX_STRENGTH, MAX_STRENGTHS, printable
from ..models.base import GeneratorAdapter



def parse_int_list(text: str, what: str = "seeds", limit: int = MAX_SEEDS, high: int = MAX_SEED) -> list[int]:
    """``3``, ``0-7``, ``1,5,9`` or mixtures such as ``0-3,10``; at most ``limit`` values in
    ``0..high``, counted before any list is built (``0-99999999`` costs nothing)."""
    spans: list[tuple[int, int]] = []
    text = str(text)
    try:
        if len(text) > 100_000:
            raise ValueError
        for part in text.split(","):
            lo, sep, hi = part.strip().partition("-")
            start, stop = int(lo), int(hi) if sep else int(lo)
            if start < 0:
                raise ValueError
            if stop < start:
                raise LowRankGANError(f"bad {what} '{printable(text, 60)}': in a range A-B, A must be at most B "
                                      f"(write {stop}-{start})", what)
            spans.append((start, stop))
    except ValueError:
        raise LowRankGANError(f"bad {what} '{printable(text, 60)}': use N, A-B or a comma list such as 1,5,9 "
                              "(non-negative integers, A ≤ B)", what) from None
    top = max(stop for _, stop in spans)
    if top > high:
        raise LowRankGANError(f"{what} {top if top < 10**30 else 'value'} is too large; use 0..{high}", what)
    count = sum(stop - start + 1 for start, stop in spans)
    if count > limit:
        raise LowRankGANError(f"too many {what} ({count}); at most {limit}", what)
    return [v for start, stop in spans for v in range(start, stop + 1)]


def check_seed(seed: int, what: str = "seed") -> int:
    """One seed in ``0..MAX_SEED`` (a 64-bit generator seed)."""
    if not 0 <= seed <= MAX_SEED:
        raise LowRankGANError(f"{what} {seed if abs(seed) < 10**30 else '(huge)'} is out of range 0..{MAX_SEED}", what)
    return seed


def parse_strengths(text: str) -> list[float]:
    """``START:STOP:STEPS`` (inclusive, like numpy.linspace) or a comma list; finite numbers only."""
    try:
        if ":" in text:
            start, stop, steps = text.split(":")
            n = int(steps)
            if n < 1 or n > MAX_STRENGTHS:
                raise LowRankGANError(f"bad strengths '{printable(text, 60)}': STEPS must be 1..{MAX_STRENGTHS}")
            ends = _finite(float(start), text), _finite(float(stop), text)
            if n == 1:
                return [ends[0]]
            return [float(v) for v in torch.linspace(ends[0], ends[1], n)]
        values = [_finite(float(v), text) for v in text.split(",")]
        if len(values) > MAX_STRENGTHS:
            raise LowRankGANError(f"too many strengths ({len(values)}); at most {MAX_STRENGTHS}")
        return values
    except ValueError:
        raise LowRankGANError(f"bad strengths '{printable(text, 60)}': use START:STOP:STEPS such as -6:6:7") from None


def _finite(value: float, text: str) -> float:
    if not math.isfinite(value) or abs(value) > MAX_STRENGTH:
        raise LowRankGANError(f"bad strengths '{printable(text, 60)}': every strength must be a finite number "
                              f"within ±{MAX_STRENGTH:g}")
    return value


def shift_codes(gen: GeneratorAdapter, codes: torch.Tensor, direction: torch.Tensor,
                strengths: Sequence[float], space: str, layers: Sequence[int] | None = None) -> torch.Tensor:
    """``[n, s, ...]`` codes: each code moved by each strength along ``direction``."""
    p = direction.to(codes.device, codes.dtype)
    offset = embed_direction(gen, p, space, layers)
    alphas = torch.tensor(list(strengths), dtype=codes.dtype, device=codes.device)
    alphas = alphas.view(1, -1, *([1] * (codes.dim() - 1)))
    return codes[:, None] + alphas * offset


def render(gen: GeneratorAdapter, codes: torch.Tensor, space: str, batch: int = 16) -> torch.Tensor:
    """Images for a batch of codes ``[n, ...]`` in chunks, on the CPU, in [-1, 1]."""
    out = []
    with torch.no_grad():
        for i in range(0, codes.shape[0], batch):
            out.append(gen.synthesize(codes[i:i + batch].to(gen.device), space).clamp(-1, 1).cpu())
    return torch.cat(out, 0)


def sweep(gen: GeneratorAdapter, codes: torch.Tensor, direction: torch.Tensor, strengths: Sequence[float],
          space: str, layers: Sequence[int] | None = None) -> torch.Tensor:
    """Images ``[n, s, 3, H, W]``: rows are codes, columns strengths."""
    moved = shift_codes(gen, codes, direction, strengths, space, layers)
    n, s = moved.shape[:2]
    images = render(gen, moved.flatten(0, 1), space)
    return images.view(n, s, *images.shape[1:])
