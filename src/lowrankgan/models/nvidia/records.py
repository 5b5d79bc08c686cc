"""From an NVIDIA pickle to named arrays: the file read by the restricted unpickler, the generator's
record, its constructor arguments, and its parameters under dotted names; then arrays checked by
name, shape and value before they enter one of our networks (the StyleGAN2 and StyleGAN3 loaders
share all of it; ``to_tensor`` and ``check_weight_names`` also serve rosinality's files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from ...errors import LowRankGANError
from ...limits import MAX_CHECKPOINT_BYTES, check_tensors
from .safe_pickle import PersistentRecord, RefusedGlobal, restricted_load, walk_named

# The positional constructor arguments of NVIDIA's Generator, in its signature's order.
_GENERATOR_ARGS = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels")


def first_line(e: BaseException) -> str:
    """The first line of an exception's text, at most 200 characters (for one-line errors)."""
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else ""


def read_pickle(path: Path, allowed: Mapping[tuple[str, str], Callable[..., Any]]) -> Any:
    """The pickle's data from ``allowed`` globals only; each array is decoded from bytes in the file."""
    if path.stat().st_size > MAX_CHECKPOINT_BYTES:
        raise LowRankGANError(f"{path} is larger than {MAX_CHECKPOINT_BYTES >> 30} GiB; not a checkpoint")
    try:
        with open(path, "rb") as f:
            return restricted_load(f, dict(allowed))
    except RefusedGlobal as e:
        raise LowRankGANError(
            f"{path}: refusing to load: the pickle calls {e.module}.{e.name}, which a StyleGAN "
            f"checkpoint never needs (it could run code); the file is not trusted") from None
    except LowRankGANError:
        raise
    except Exception as e:  # truncated, corrupt, or a format we do not understand
        raise LowRankGANError(
            f"{path}: cannot read checkpoint, the file is truncated or corrupt "
            f"({type(e).__name__}: {first_line(e)})") from None


def generator_record(data: Any) -> Any:
    """The network a training pickle keeps for inference: ``G_ema`` (else ``G``) of the dict
    NVIDIA's training loop writes, or the object itself for a bare network pickle. Unchecked:
    the caller tests it is the ``PersistentRecord`` it expects."""
    return data.get("G_ema", data.get("G")) if isinstance(data, dict) else data


def init_kwargs(rec: PersistentRecord) -> dict:
    """Generator constructor arguments (positional ones named as in NVIDIA's signature)."""
    kwargs = dict(rec.state.get("_init_kwargs", rec.state.get("init_kwargs")) or {})
    args = rec.state.get("_init_args", rec.state.get("init_args")) or ()
    for name, value in zip(_GENERATOR_ARGS, args):
        kwargs.setdefault(name, value)
    return kwargs


def flatten_record(rec: PersistentRecord, prefix: str, path: Path) -> dict[str, Any]:
    """Parameters and buffers of a record tree under dotted names, like ``named_parameters``."""
    out: dict[str, Any] = {}
    for sub, r in walk_named(rec, path):
        for table in ("_parameters", "_buffers"):
            for name, value in (r.state.get(table) or {}).items():
                if value is not None:
                    out[prefix + sub + str(name)] = value
    return out


def to_tensor(value: Any, path: Path, name: str) -> torch.Tensor:
    """A float32 CPU tensor from a stored array or number; anything else (or a non-finite or
    oversized array) is one error line naming ``name``."""
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


def check_weight_names(own: Mapping[str, Any], tensors: Mapping[str, Any], path: Path, family: str,
                       optional: Callable[[str], bool] = lambda name: False) -> None:
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
