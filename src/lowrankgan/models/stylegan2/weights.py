"""Weights from a checkpoint's arrays into our StyleGAN2 generator, checked by name and shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from ...errors import LowRankGANError
from ...limits import check_tensors
from .network import StyleGAN2Generator


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else ""


# ----------------------------------------------------------------------------- shared helpers

def _to_tensor(value: Any, path: Path, name: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        check_tensors(value, f"{path}: {name}")
        return value.detach().to("cpu", torch.float32)
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
        out = torch.from_numpy(np.array(value, dtype=np.float32, copy=True))
        check_tensors(out, f"{path}: {name}")
        return out
    if isinstance(value, (float, int, np.floating, np.integer)):
        return torch.tensor(float(value))
    raise LowRankGANError(f"{path}: {name} is not a numeric array ({type(value).__name__})")


def _assign_weights(gen: StyleGAN2Generator, tensors: Mapping[str, Any], path: Path) -> None:
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
        t = _to_tensor(tensors[k], path, k)
        new[k] = t
    gen.load_state_dict(new)


def _infer_channels(channels: Mapping[int, int], path: Path) -> tuple[int, int]:
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


def check_weight_names(own: Mapping[str, Any], tensors: Mapping[str, Any], path: Path, family: str,
                       optional=lambda name: False) -> None:
    """Every name of ``own`` (but the ``optional`` ones) given and nothing else, or one error line."""
    missing = [k for k in own if k not in tensors and not optional(k)]
    unexpected = [k for k in tensors if k not in own]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        raise LowRankGANError(f"{path}: weights do not match a {family} generator: {'; '.join(parts)}")
