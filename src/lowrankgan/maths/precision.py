"""Float32 precision of the Jacobian on CUDA: ``strict`` (IEEE) or ``tf32`` (tensor cores).

TF32 keeps 10 mantissa bits in matrix products and convolutions: faster, and it moves ``J`` by a
little, but enough to rotate directions inside a near-degenerate pair (README, "GPU"), so it is an
opt-in. PyTorch's own
default runs cuDNN convolutions in TF32, which is why ``strict`` sets the flags explicitly. The flags
only act on CUDA kernels; setting them on a CPU-only machine is harmless (and testable).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from ..errors import LowRankGANError

PRECISIONS = ("strict", "tf32")
DEFAULT_PRECISION = "strict"


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise LowRankGANError(f"unknown precision '{precision}'; use strict (reproducible) or tf32 (faster on CUDA)")
    return precision


def _new_api() -> bool:
    # torch >= 2.9 has per-backend ``fp32_precision``; mixing it with the legacy flags is an error.
    return hasattr(torch.backends.cuda.matmul, "fp32_precision") and hasattr(torch.backends.cudnn, "conv")


def get_flags() -> tuple:
    if _new_api():
        return ("new", torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision)
    return ("legacy", torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)


def set_flags(flags: tuple) -> None:
    kind, matmul, conv = flags
    if kind == "new":
        torch.backends.cuda.matmul.fp32_precision = matmul
        torch.backends.cudnn.conv.fp32_precision = conv
    else:
        torch.backends.cuda.matmul.allow_tf32 = matmul
        torch.backends.cudnn.allow_tf32 = conv


def flags_for(precision: str) -> tuple:
    tf32 = check_precision(precision) == "tf32"
    if _new_api():
        mode = "tf32" if tf32 else "ieee"
        return ("new", mode, mode)
    return ("legacy", tf32, tf32)


@contextmanager
def precision_mode(precision: str) -> Iterator[None]:
    """TF32 on or off for CUDA matmuls and convolutions inside the block; the caller's flags after."""
    before = get_flags()
    set_flags(flags_for(precision))
    try:
        yield
    finally:
        set_flags(before)
