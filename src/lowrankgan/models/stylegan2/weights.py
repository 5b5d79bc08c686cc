"""Weights from a checkpoint's arrays into our StyleGAN2 generator, checked by name and shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ...errors import LowRankGANError
from ..nvidia import check_weight_names, to_tensor
from .network import StyleGAN2Generator


def assign_weights(gen: StyleGAN2Generator, tensors: Mapping[str, Any], path: Path) -> None:
    """Load ``tensors`` (our names) into ``gen``; every parameter and buffer must be given
    except the fixed resampling filters, which not every format stores."""
    own = gen.state_dict()
    check_weight_names(own, tensors, path, "StyleGAN2", optional=lambda k: k.endswith("resample_filter"))
    new = {}
    for k, ref in own.items():
        if k not in tensors:
            new[k] = ref
            continue
        shape = tuple(getattr(tensors[k], "shape", ()))  # checked before any conversion
        if shape != tuple(ref.shape):
            raise LowRankGANError(
                f"{path}: {k} has shape {shape}, expected {tuple(ref.shape)}")
        t = to_tensor(tensors[k], path, k)
        new[k] = t
    gen.load_state_dict(new)


def infer_channels(channels: Mapping[int, int], path: Path) -> tuple[int, int]:
    """(channel_base, channel_max) reproducing ``channels[res] = min(base // res, max)``."""
    cmax = max(channels.values())
    top = max(channels)
    base = channels[top] * top
    for res, ch in channels.items():
        if min(base // res, cmax) != ch:
            raise LowRankGANError(
                f"{path}: channel counts {dict(sorted(channels.items()))} do not follow "
                f"StyleGAN2's min(channel_base / res, channel_max) rule")
    return base, cmax
