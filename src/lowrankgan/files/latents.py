"""Latent code files: ``latent.npy`` (float32 ``[n, d]``, or ``[n, L, d]`` in w+) as ``directions``
and ``invert`` write it, with the sidecar beside it (``invert.json`` or ``directions.json``) saying
which model and latent space the codes belong to."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import LowRankGANError
from ..limits import MAX_LATENT_BYTES

SIDECARS = ("invert.json", "directions.json")


@dataclass
class Latents:
    """Codes standing in for seeds: every API function that takes seeds takes these too."""

    codes: np.ndarray  # float32 [n, d] or [n, L, d]
    space: str | None = None  # None: unknown (a bare .npy), taken from the context
    meta: dict = field(default_factory=dict)
    source: str = ""

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    @property
    def model_family(self) -> str | None:
        family = self.meta.get("model_family") or self.meta.get("model")
        return str(family).split("@")[0] if family else None

    @property
    def label(self) -> str:
        return self.source or "codes"


def load_latents(path: str | Path) -> Latents:
    """``latent.npy`` from a folder written by ``invert`` or ``directions``, or any ``.npy`` file."""
    path = Path(path).expanduser()
    npy = path / "latent.npy" if path.is_dir() else path
    if not npy.is_file():
        where = f"{path} holds no latent.npy" if path.is_dir() else f"latent file {path} does not exist"
        raise LowRankGANError(f"{where}; give a folder written by `lowrankgan invert` or a .npy file")
    if npy.stat().st_size > MAX_LATENT_BYTES:
        raise LowRankGANError(f"latent file {npy} is larger than {MAX_LATENT_BYTES >> 20} MB; it is not a code file")
    try:
        codes = np.load(npy, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise LowRankGANError(f"cannot read {npy} as a numpy array ({str(exc).splitlines()[0][:120]})") from None
    if codes.ndim == 1:
        codes = codes[None]
    if codes.ndim not in (2, 3) or not np.issubdtype(codes.dtype, np.floating) or codes.shape[0] == 0:
        raise LowRankGANError(f"{npy} has shape {list(codes.shape)} ({codes.dtype}); codes are a float "
                              "[n, d] array ([n, layers, d] in w+)")
    if not np.isfinite(codes).all():
        raise LowRankGANError(f"{npy} holds NaN or infinite values")
    meta = _sidecar(npy)
    space = meta.get("latent_space") if isinstance(meta.get("latent_space"), str) else None
    return Latents(codes.astype(np.float32), space, meta, str(npy))


def _sidecar(npy: Path) -> dict:
    if npy.name != "latent.npy":
        return {}
    for name in SIDECARS:
        side = npy.with_name(name)
        if side.is_file():
            try:
                meta = json.loads(side.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise LowRankGANError(f"sidecar {side} is not valid JSON; fix or delete it") from None
            return meta if isinstance(meta, dict) else {}
    return {}


def check_codes(codes: torch.Tensor, space: str, dim: int, num_layers: int, model_id: str, source: str) -> torch.Tensor:
    """Refuse codes of the wrong shape for ``space`` with a message naming both shapes."""
    want = [num_layers, dim] if space == "w+" else [dim]
    if codes.dim() != len(want) + 1 or list(codes.shape[1:]) != want or codes.shape[0] == 0:
        raise LowRankGANError(f"codes from {source} have shape {list(codes.shape)}, but {space} codes of model "
                              f"{model_id} are [n, {', '.join(map(str, want))}]")
    return codes
