"""Read NVIDIA stylegan3 pickles (``G_ema``) into our generator without running anything they embed.

The file goes through the restricted unpickler of ``models.nvidia`` (the allow-list StyleGAN2 files
use too: containers, tensors, numpy scalars/arrays, and plain records in place of NVIDIA's persistent
classes). The generator
is rebuilt from the ``Generator`` record's ``init_kwargs`` — checked against ceilings before
anything is allocated — and every layer attribute the file stores (sizes, paddings, resampling
factors, channels) is compared with what those kwargs imply before the weights are loaded by name.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ...errors import LowRankGANError
from ..nvidia import (NVIDIA_PYTORCH_GLOBALS, PersistentRecord, check_weight_names, first_line, flatten_record,
                      generator_record, init_kwargs, read_pickle, to_tensor)
from .config import StyleGAN3Config, check_budget
from .network import StyleGAN3Generator

_GENERATOR_KEYS = {"z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs",
                   "synthesis_kwargs"}
# init_kwargs that change the network, and the StyleGAN3Config field each one sets.
_SYNTHESIS_KEYS = {"channel_base": int, "channel_max": int, "num_layers": int, "num_critical": int,
                   "first_cutoff": float, "first_stopband": float, "last_stopband_rel": float,
                   "margin_size": int, "output_scale": float, "conv_kernel": int,
                   "filter_size": int, "lrelu_upsampling": int, "use_radial_filters": bool,
                   "conv_clamp": float}
# Settings of training only (mixed precision, EMA rates, frozen layers): no effect on images.
_TRAINING_ONLY = {"num_fp16_res", "magnitude_ema_beta", "w_avg_beta", "freeze_layers", "freeze_embed"}
# Layer attributes a file stores that our geometry must reproduce exactly.
_LAYER_ATTRS = ("in_channels", "out_channels", "in_size", "out_size", "in_sampling_rate",
                "out_sampling_rate", "conv_kernel", "up_factor", "down_factor", "up_taps",
                "down_taps", "down_radial", "padding", "is_torgb")


def load_stylegan3(path: str | os.PathLike) -> StyleGAN3Generator:
    """Our StyleGAN3 generator (eval mode, no gradients) with the ``G_ema`` weights of ``path``."""
    path = Path(path)
    if not path.is_file():
        raise LowRankGANError(f"{path}: no such checkpoint file")
    data = read_pickle(path, NVIDIA_PYTORCH_GLOBALS)
    g = generator_record(data)
    if not isinstance(g, PersistentRecord) or g.class_name != "Generator":
        raise LowRankGANError(f"{path}: NVIDIA pickle without a 'G_ema' Generator network")
    try:
        gen = _build(g, path)
    except LowRankGANError:
        raise
    except Exception as e:  # well-formed pickle, unexpected content (types, nesting)
        raise LowRankGANError(f"{path}: unexpected StyleGAN3 checkpoint content "
                              f"({type(e).__name__}: {first_line(e)})") from None
    return gen.eval().requires_grad_(False)


def is_stylegan3_record(g: PersistentRecord) -> bool:
    synthesis = (g.state.get("_modules") or {}).get("synthesis")
    return isinstance(synthesis, PersistentRecord) and isinstance(
        (synthesis.state.get("_modules") or {}).get("input"), PersistentRecord)


def _build(g: PersistentRecord, path: Path) -> StyleGAN3Generator:
    if not is_stylegan3_record(g):
        raise LowRankGANError(f"{path}: not a StyleGAN3 generator (no synthesis.input layer)")
    cfg = config_from_init_kwargs(init_kwargs(g), path)
    check_budget(cfg)
    synthesis = g.state["_modules"]["synthesis"]
    gen = StyleGAN3Generator(cfg)
    _check_layers(synthesis, gen, path)
    _assign(gen, flatten_record(g, "", path), path)
    num_ws = g.state.get("num_ws")
    if num_ws is not None and int(num_ws) != gen.num_ws:
        raise LowRankGANError(f"{path}: file says num_ws={num_ws}, its init_kwargs give {gen.num_ws}")
    return gen


def config_from_init_kwargs(kw: Mapping[str, Any], path: Path) -> StyleGAN3Config:
    """StyleGAN3Config from a Generator's ``init_kwargs`` (synthesis settings flat, as the
    stylegan3 repo stores them, or nested under ``synthesis_kwargs``)."""
    for key in ("z_dim", "w_dim", "img_resolution"):
        if key not in kw:
            raise LowRankGANError(f"{path}: Generator init_kwargs lack '{key}'")
    mk = dict(kw.get("mapping_kwargs") or {})
    sk = {**dict(kw.get("synthesis_kwargs") or {}),
          **{k: v for k, v in kw.items() if k not in _GENERATOR_KEYS}}
    unknown = sorted(k for k in sk if k not in _SYNTHESIS_KEYS and k not in _TRAINING_ONLY)
    unknown += sorted(f"mapping_kwargs.{k}" for k in mk
                      if k not in ("num_layers", "lr_multiplier") and k not in _TRAINING_ONLY)
    if unknown:
        raise LowRankGANError(
            f"{path}: StyleGAN3 settings {', '.join(unknown)} are not part of NVIDIA's stylegan3 "
            f"Generator; a modified architecture cannot be rebuilt safely")
    values: dict[str, Any] = {}
    for key, kind in _SYNTHESIS_KEYS.items():
        if key in sk:
            values[key] = _number(sk[key], kind, key, path)
    return StyleGAN3Config(
        z_dim=_number(kw["z_dim"], int, "z_dim", path), w_dim=_number(kw["w_dim"], int, "w_dim", path),
        c_dim=_number(kw.get("c_dim") or 0, int, "c_dim", path),
        img_resolution=_number(kw["img_resolution"], int, "img_resolution", path),
        img_channels=_number(kw.get("img_channels", 3), int, "img_channels", path),
        mapping_layers=_number(mk.get("num_layers", 2), int, "mapping_kwargs.num_layers", path),
        mapping_lr_multiplier=_number(mk.get("lr_multiplier", 0.01), float, "lr_multiplier", path),
        **values)


def _number(value: Any, kind: type, name: str, path: Path) -> Any:
    """``value`` as ``kind``; refuses strings, containers, non-finite and non-integral values."""
    if value is None and name == "conv_clamp":  # None disables clamping
        return None
    if isinstance(value, (bool, np.bool_)):
        if kind is bool:
            return bool(value)
    elif isinstance(value, (int, float, np.integer, np.floating)) and math.isfinite(float(value)):
        if kind is float:
            return float(value)
        if kind is int and float(value) == int(value):
            return int(value)
        if kind is bool and value in (0, 1):
            return bool(value)
    raise LowRankGANError(f"{path}: StyleGAN3 setting {name}={value!r} is not a valid "
                          f"{kind.__name__}")


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()] if value.ndim else value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    return value


def _check_layers(synthesis: PersistentRecord, gen: StyleGAN3Generator, path: Path) -> None:
    """The file's layers are the ones the config implies, with the same stored geometry."""
    ours = gen.synthesis.layer_names
    theirs = [k for k, v in (synthesis.state.get("_modules") or {}).items()
              if k != "input" and v is not None]
    if theirs != ours:
        raise LowRankGANError(
            f"{path}: the file's synthesis layers ({', '.join(theirs[:4])}…, {len(theirs)} in all) "
            f"differ from those its init_kwargs give ({', '.join(ours[:4])}…, {len(ours)})")
    for name in ours:
        rec, spec = synthesis.state["_modules"][name], getattr(gen.synthesis, name).spec
        for attr in _LAYER_ATTRS:
            if attr not in rec.state:
                continue
            stored, expected = _plain(rec.state[attr]), getattr(spec, attr)
            if isinstance(stored, list) and not isinstance(expected, tuple):
                expected = [expected] * len(stored)  # sizes are stored as [width, height]
            if stored != (list(expected) if isinstance(expected, tuple) else expected):
                raise LowRankGANError(f"{path}: layer {name} stores {attr}={stored}, but its "
                                      f"init_kwargs give {expected}")


def _assign(gen: StyleGAN3Generator, tensors: Mapping[str, Any], path: Path) -> None:
    """Every parameter and buffer must come from the file, with our shape."""
    own = gen.state_dict()
    check_weight_names(own, tensors, path, "StyleGAN3")
    new = {}
    for k, ref in own.items():
        t = to_tensor(tensors[k], path, k)
        if tuple(t.shape) != tuple(ref.shape):
            raise LowRankGANError(f"{path}: {k} has shape {tuple(t.shape)}, expected {tuple(ref.shape)}")
        new[k] = t
    gen.load_state_dict(new)
