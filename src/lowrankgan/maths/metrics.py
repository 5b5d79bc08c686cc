"""Locality of an edit, measured: the one implementation of the leak.

For a unit direction ``p`` the strength ``α > 0`` is calibrated per sign so that the RMS pixel
change inside the region equals ``target``; the leak is the RMS change outside divided by the RMS
change inside, averaged over the two signs. A global edit scores about 1, lower is better. Images
are clamped to [-1, 1] as every render is, so the leak measures the pictures a user sees.

The calibration is batched: the in-region RMS of every (direction, sign) is evaluated on a
geometric grid of strengths up to the cap ``4·max(1, ‖c‖)`` in one pass, then the first crossing of
each target is refined by Illinois (regula falsi) steps, all curves and targets at once. The
strength found is the smallest grid-bracketed one reaching the target.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .jacobian import embed_direction, halving_chunks, render_batch
from ..models.base import GeneratorAdapter



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


def change_inside_outside(before: torch.Tensor, after: torch.Tensor, mask) -> tuple[float, float]:
    """RMS change between two images ``[3, H, W]`` in [-1, 1] inside and outside a region mask
    ``[H, W]`` (array or tensor): the leak's measure for one edit."""
    inside, outside = rms_inside_outside((after - before)[None].float(), torch.as_tensor(mask))
    return float(inside[0]), float(outside[0])


def leak_from(cal: dict, pos: int, neg: int, level: int = 0) -> Leak:
    """The leak of one direction from a ``calibrate`` result: rows ``pos`` (+p) and ``neg`` (−p) at
    target ``level``; a sign whose target was not reached counts as ``inf``."""
    per_sign, strengths = [], []
    for row in (pos, neg):
        inside = float(cal["inside"][row, level])
        if not bool(cal["reached"][row, level]) or not inside > 0:
            per_sign.append(math.inf)
            strengths.append(math.nan)
        else:
            per_sign.append(float(cal["outside"][row, level]) / inside)
            strengths.append(float(cal["alpha"][row, level]))
    return Leak(sum(per_sign) / 2, (strengths[0], strengths[1]), (per_sign[0], per_sign[1]))


def measure_leak(gen: GeneratorAdapter, code: torch.Tensor, direction: torch.Tensor, mask: torch.Tensor,
                 space: str = "z", layers: Sequence[int] | None = None, target: float = 0.1,
                 max_strength: float | None = None) -> Leak:
    """Leak of ``direction`` (``[d]``) at ``code`` (``[d]`` / ``[L, d]``) for a region ``mask`` ``[H, W]``."""
    return measure_leak_levels(gen, code, direction, mask, space, layers, [target], max_strength)[0]


def measure_leak_levels(gen: GeneratorAdapter, code: torch.Tensor, direction: torch.Tensor, mask: torch.Tensor,
                        space: str = "z", layers: Sequence[int] | None = None, targets: Sequence[float] = (0.1,),
                        max_strength: float | None = None) -> list[Leak]:
    """``measure_leak`` at each in-region RMS of ``targets``, from one calibration (one search)."""
    p = direction.detach().to(gen.device, torch.float32)
    offset = embed_direction(gen, p / p.norm(), space, layers)
    cal = calibrate(gen, code, torch.stack([offset, -offset]), mask, list(targets), space, max_strength)
    return [leak_from(cal, 0, 1, level) for level in range(len(targets))]


def measure_leaks(gen: GeneratorAdapter, codes: torch.Tensor, direction: torch.Tensor, mask: torch.Tensor,
                  space: str = "z", layers: Sequence[int] | None = None, target: float = 0.1,
                  max_strength: float | None = None) -> list[Leak]:
    """``measure_leak`` for each of ``codes`` (``[n, d]`` / ``[n, L, d]``)."""
    return [measure_leak(gen, code, direction, mask, space, layers, target, max_strength) for code in codes]


def images_of(gen, codes: torch.Tensor, space: str, batch: int | None = None) -> torch.Tensor:
    """Images ``[n, 3, H, W]`` of ``codes`` on the model's device, clamped to [-1, 1] as every render
    is (the leak measures what a user sees), ``batch`` at a time (default: ``render_batch``, from
    free memory); a batch that runs out of memory is halved and retried."""
    n = codes.shape[0]
    if n == 0:
        return torch.zeros(0)
    batch = batch or render_batch(gen, codes[0], space, n)
    out: list[torch.Tensor] = []

    def step(start: int, stop: int) -> None:
        out.append(gen.synthesize(codes[start:stop].to(gen.device), space).float().clamp(-1, 1))

    with torch.no_grad():
        halving_chunks(n, batch, gen.device, step, f"one image of this model does not fit in {gen.device.type} "
                       "memory; free memory or load the model on the CPU (device 'cpu')")
    return torch.cat(out, 0)


def _in_out(gen, code, offsets: torch.Tensor, alphas: torch.Tensor, base: torch.Tensor, mask: torch.Tensor,
            space: str, batch: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """RMS inside / outside for codes ``code + alphas[i] * offsets[i]``."""
    shape = (-1,) + (1,) * (offsets.dim() - 1)
    codes = code[None] + alphas.view(shape).to(offsets) * offsets
    return rms_inside_outside(images_of(gen, codes, space, batch) - base, mask)


def calibrate(gen, code: torch.Tensor, offsets: torch.Tensor, mask: torch.Tensor, targets: Sequence[float],
              space: str, max_strength: float | None = None, grid: int = 12, refine: int = 5) -> dict:
    """For signed offsets ``[C, ...]`` (unit directions already embedded and signed): the smallest
    strength ``α`` with in-region RMS = each target, and the RMS outside there.

    Returns tensors ``alpha``, ``inside``, ``outside`` of shape ``[C, T]`` (``nan`` / ``inf`` where
    unreached within ``max_strength``)."""
    code = code.detach().to(gen.device, torch.float32)
    offsets = offsets.to(gen.device, torch.float32)
    C, T = offsets.shape[0], len(targets)
    if max_strength is None:
        max_strength = 4.0 * max(1.0, float(code.norm(dim=-1).max()))
    base = images_of(gen, code[None], space, batch=1)
    m = mask.to(base.device)
    batch = render_batch(gen, code, space, C * grid)  # one estimate for the grid and every refinement
    alphas = torch.logspace(math.log10(max_strength / 2 ** (grid - 1)), math.log10(max_strength), grid)
    rep_off = offsets.repeat_interleave(grid, 0)
    ins, outs = _in_out(gen, code, rep_off, alphas.repeat(C), base, m, space, batch)
    ins, outs = ins.view(C, grid).cpu(), outs.view(C, grid).cpu()
    tgt = torch.tensor(list(targets), dtype=torch.float32)
    # First grid point at or above each target: bracket (lo, hi] with lo = previous point (or 0).
    above = ins[:, None, :] >= tgt[None, :, None]  # [C, T, G]
    reached = above.any(-1)
    first = torch.where(reached, above.float().argmax(-1), torch.zeros_like(reached, dtype=torch.long))
    hi_a = alphas[first]
    lo_a = torch.where(first > 0, alphas[(first - 1).clamp(min=0)], torch.zeros_like(hi_a))
    hi_f = ins.gather(1, first) - tgt[None]  # >= 0
    lo_f = torch.where(first > 0, ins.gather(1, (first - 1).clamp(min=0)), torch.zeros_like(hi_f)) - tgt[None]  # < 0
    best_a, best_in, best_out = hi_a.clone(), ins.gather(1, first), outs.gather(1, first)
    side = torch.zeros(C, T)  # Illinois bookkeeping: which end was kept last time
    idx = reached.nonzero(as_tuple=False)
    if len(idx):
        for _ in range(refine):
            c, t = idx[:, 0], idx[:, 1]
            la, ha, lf, hf = lo_a[c, t], hi_a[c, t], lo_f[c, t], hi_f[c, t]
            mid = ha - hf * (ha - la) / (hf - lf).clamp(min=1e-12)
            mid = torch.where((mid > la) & (mid < ha), mid, (la + ha) / 2)
            i_mid, o_mid = _in_out(gen, code, offsets[c.to(offsets.device)], mid, base, m, space, batch)
            i_mid, o_mid = i_mid.cpu(), o_mid.cpu()
            f_mid = i_mid - tgt[t]
            up = f_mid >= 0
            # keep the best (closest to the target) evaluated point as the answer
            closer = f_mid.abs() < (best_in[c, t] - tgt[t]).abs()
            best_a[c, t] = torch.where(closer, mid, best_a[c, t])
            best_in[c, t] = torch.where(closer, i_mid, best_in[c, t])
            best_out[c, t] = torch.where(closer, o_mid, best_out[c, t])
            # Illinois: halve the stale end's function value when the same end is kept twice
            hi_a[c, t] = torch.where(up, mid, ha)
            hi_f[c, t] = torch.where(up, f_mid, torch.where(side[c, t] < 0, hf / 2, hf))
            lo_a[c, t] = torch.where(up, la, mid)
            lo_f[c, t] = torch.where(up, torch.where(side[c, t] > 0, lf / 2, lf), f_mid)
            side[c, t] = torch.where(up, 1.0, -1.0)
    nan = torch.full_like(best_a, math.nan)
    return {"alpha": torch.where(reached, best_a, nan), "inside": torch.where(reached, best_in, nan),
            "outside": torch.where(reached, best_out, nan), "reached": reached}


def masked_mse(gen, code: torch.Tensor, offsets: torch.Tensor, mask: torch.Tensor, strength: float,
               space: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean squared change (images in [-1, 1], mean over channels and pixels) inside / outside the
    region at ``±strength`` along each of ``offsets`` ``[k, ...]``, averaged over the two signs."""
    code = code.detach().to(gen.device, torch.float32)
    offsets = offsets.to(gen.device, torch.float32)
    k = offsets.shape[0]
    base = images_of(gen, code[None], space, batch=1)
    both = torch.cat([offsets, -offsets], 0)
    ins, outs = _in_out(gen, code, both, torch.full((2 * k,), float(strength)), base, mask.to(base.device), space)
    return (ins ** 2).view(2, k).mean(0).cpu(), (outs ** 2).view(2, k).mean(0).cpu()


def median(values: Sequence[float]) -> float:
    vals = sorted(values)
    if not vals:
        return math.nan
    n = len(vals)
    return vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2
