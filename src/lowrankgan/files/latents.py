"""Latent code files: ``latent.npy`` (float32 ``[n, d]``, or ``[n, L, d]`` in w+) as ``directions``
and ``invert`` write it, with the sidecar beside it (``invert.json`` or ``directions.json``) saying
which model and latent space the codes belong to."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import LowRankGANError
from ..limits import MAX_CODES, MAX_LATENT_BYTES, printable
from ..readers import read_json, read_npy
from .dirmeta import check_meta

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
    """``latent.npy`` from a folder written by ``invert`` or ``directions``, or any ``.npy`` file;
    its sidecar (``invert.json`` / ``directions.json``) beside it, every field the tool reads checked."""
    path = Path(path).expanduser()
    npy = path / "latent.npy" if path.is_dir() else path
    if not (npy.exists() or npy.is_symlink()):
        where = f"{printable(path)} holds no latent.npy" if path.is_dir() else f"latent file {printable(path)} does not exist"
        raise LowRankGANError(f"{where}; give a folder written by `lowrankgan invert` or a .npy file")
    codes = read_npy(npy, "latent file", max_dims=3, max_bytes=MAX_LATENT_BYTES,
                     root=npy.parent if path.is_dir() else None)
    if codes.ndim == 1:
        codes = codes[None]
    if codes.shape[0] == 0 or 0 in codes.shape:
        raise LowRankGANError(f"latent file {printable(npy)} has shape {list(codes.shape)}; it holds no code")
    check_count(codes.shape[0], f"latent file {printable(npy)}")
    meta = _sidecar(npy)
    space = meta.get("latent_space") if isinstance(meta.get("latent_space"), str) else None
    return Latents(codes, space, meta, str(npy))


def check_count(n: int, source: str) -> int:
    """Codes stand in for seeds, and are bounded like them."""
    if n > MAX_CODES:
        raise LowRankGANError(f"{source} holds {n} codes; at most {MAX_CODES} are used at once (as for seeds): "
                              "split the file")
    return n


def _sidecar(npy: Path) -> dict:
    if npy.name != "latent.npy":
        return {}
    for name in SIDECARS:
        side = npy.with_name(name)
        if side.exists() or side.is_symlink():
            where = f"sidecar {printable(side)}"
            meta = check_meta(read_json(side, "sidecar", root=npy.parent), where, npy.parent)
            if meta.get("alignment") is not None and not isinstance(meta["alignment"], dict):
                raise LowRankGANError(f"{where}: field 'alignment' must be an object; run `lowrankgan invert` again")
            return meta
    return {}


def check_codes(codes: torch.Tensor, space: str, dim: int, num_layers: int, model_id: str, source: str) -> torch.Tensor:
    """Refuse codes of the wrong shape for ``space`` with a message naming both shapes."""
    want = [num_layers, dim] if space == "w+" else [dim]
    if codes.dim() != len(want) + 1 or list(codes.shape[1:]) != want or codes.shape[0] == 0:
        raise LowRankGANError(f"codes from {source} have shape {list(codes.shape)}, but {space} codes of model "
                              f"{model_id} are [n, {', '.join(map(str, want))}]")
    check_count(int(codes.shape[0]), f"codes from {source}")
    if not bool(torch.isfinite(codes).all()):  # checked in the model's dtype: 1e300 is finite in float64 only
        raise LowRankGANError(f"codes from {source} hold NaN or infinite values in {str(codes.dtype).split('.')[-1]} "
                              "(values beyond its range become infinite)")
    return codes
