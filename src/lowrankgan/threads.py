"""How many CPU threads torch uses, chosen in one place.

Torch starts one intra-op thread per core. For this library's tensors that rarely pays: a 64² or
128² DCGAN's Jacobian, a 256² StyleGAN2's render, robust PCA on a 100×100 Gram, an inversion step
or a leak calibration are too small to split well, and on a machine that is busy with other work the extra OpenMP threads
spin while they wait for a core, burning several times the CPU for the same result
(``benchmarks/bench_threads.py`` measures it; README "Threads" has the table). So the default is
one thread for images up to ``SMALL_IMAGE`` pixels a side and all cores (at most ``MAX_DEFAULT``)
above it. ``LOWRANKGAN_THREADS`` (or the command line's threads option) overrides the choice. Ray workers
reserve one CPU each and use one thread; the page runs one computation at a time and follows the
same rule.
"""

from __future__ import annotations

import os

import torch

from .errors import LowRankGANError

ENV = "LOWRANKGAN_THREADS"
SMALL_IMAGE = 256  # pixels a side at or below which one thread is fastest per CPU second (256²: a render)
MAX_DEFAULT = 4  # beyond this the large workloads measured gain too little per extra core
MAX_THREADS = 1024


def parse_threads(value: str | int, what: str = ENV) -> int:
    """A thread count: a positive integer (0 or ``all``: every core)."""
    text = str(value).strip().lower()
    if text in ("0", "all"):
        return os.cpu_count() or 1
    try:
        n = int(text)
    except ValueError:
        raise LowRankGANError(f"{what} '{text[:20]}': give a number of threads such as 1 or 4, or all") from None
    if not 1 <= n <= MAX_THREADS:
        raise LowRankGANError(f"{what} {n} is out of range 1..{MAX_THREADS} (or all)")
    return n


def default_threads(resolution: int | None = None) -> int:
    """The policy: one thread for small images (or when the size is not known yet), more for large."""
    if resolution is None or resolution <= SMALL_IMAGE:
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_DEFAULT))


def chosen_threads(requested: int | str | None = None, resolution: int | None = None) -> int:
    """``requested`` (the caller's choice), else ``$LOWRANKGAN_THREADS``, else ``default_threads``."""
    if requested is not None:
        return parse_threads(requested, "threads")
    env = os.environ.get(ENV, "").strip()
    return parse_threads(env) if env else default_threads(resolution)


def use_threads(requested: int | str | None = None, resolution: int | None = None) -> int:
    """Set torch's intra-op thread count by ``chosen_threads``; returns it."""
    n = chosen_threads(requested, resolution)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
