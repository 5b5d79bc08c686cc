"""Applying directions: codes moved along a direction, rendered as sweeps."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .errors import LowRankGANError
from .jacobian import embed_direction
from .models.base import GeneratorAdapter


def parse_int_list(text: str, what: str = "seeds") -> list[int]:
    """``3``, ``0-7``, ``1,5,9`` or mixtures such as ``0-3,10``."""
    values: list[int] = []
    try:
        for part in str(text).split(","):
            lo, sep, hi = part.strip().partition("-")
            start, stop = int(lo), int(hi) if sep else int(lo)
            if start < 0 or stop < start:
                raise ValueError
            values.extend(range(start, stop + 1))
    except ValueError:
        raise LowRankGANError(f"bad {what} '{text}': use N, A-B or a comma list such as 1,5,9 "
                              "(non-negative integers)") from None
    if not values:
        raise LowRankGANError(f"no {what} given")
    if len(values) > 10000:
        raise LowRankGANError(f"too many {what} ({len(values)}); at most 10000")
    return values


def parse_strengths(text: str) -> list[float]:
    """``START:STOP:STEPS`` (inclusive, like numpy.linspace) or a comma list."""
    try:
        if ":" in text:
            start, stop, steps = text.split(":")
            n = int(steps)
            if n < 1 or n > 256:
                raise LowRankGANError(f"bad strengths '{text}': STEPS must be 1..256")
            if n == 1:
                return [float(start)]
            return [float(v) for v in torch.linspace(float(start), float(stop), n)]
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise LowRankGANError(f"bad strengths '{text}': use START:STOP:STEPS such as -6:6:7") from None


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
