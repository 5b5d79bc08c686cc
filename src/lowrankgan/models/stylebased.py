"""What the StyleGAN2 and StyleGAN3 adapters share: a mapping network (StyleGAN2's, in both) takes
z to w, and one w per W+ row drives a synthesis network. Spaces z, w (default) and w+; truncation
and the class as adapter state; the mean w as the inversion's start.

The families differ in their synthesis network, their default W+ rows, their SeFa weights and, for
StyleGAN3, the input transform: those live in each family's ``adapter.py``.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from ..errors import LowRankGANError
from .base import GeneratorAdapter, check_truncation, seed_codes

if TYPE_CHECKING:  # stylegan2's package imports this module: a module-level import would be circular
    from .stylegan2.network import StyleGenerator


def file_model_id(family: str, path: str | os.PathLike) -> str:
    """``<family>-<stem>@<file>`` like the other file-based adapters; the family (before '@') names
    the weights, so directions carry over between copies of one file whatever its format."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(path).stem) or "checkpoint"
    return f"{family}-{stem}@{Path(path).name}"


class StyleBasedAdapter(GeneratorAdapter):
    """A style-based generator; codes are z ``[n, z_dim]``, w ``[n, w_dim]``, w+ ``[n, L, w_dim]``.

    Adapter state: ``truncation`` / ``truncation_cutoff`` (used when synthesising from z) and the
    selected class for conditional models. Noise is the checkpoint's constant noise.
    """

    family = "stylegan"  # describe()'s "family"; each subclass names its own
    latent_spaces = ("z", "w", "w+")
    default_space = "w"
    face_alignment = "ffhq"
    presets: dict[str, str] = {}

    def __init__(self, generator: StyleGenerator, model_id: str, source: str | os.PathLike | None = None,
                 kind: str = "random") -> None:
        self.generator = generator.eval().requires_grad_(False)
        self.model_id = model_id
        self.kind = kind
        self.source = str(source) if source is not None else None  # base.cache_key stats it
        self.z_dim = generator.z_dim
        self.latent_dim = generator.w_dim
        self.num_layers = generator.num_ws
        self.resolution = generator.img_resolution
        self.classes = tuple(str(i) for i in range(generator.c_dim))
        self._class_index: int | None = 0 if generator.c_dim > 0 else None
        self.truncation = 1.0
        self.truncation_cutoff: int | None = None
        self.device = next(generator.parameters()).device
        self._sha256: str | None = None

    # -- protocol -------------------------------------------------------------------------

    def latent_dim_for(self, space: str) -> int:
        """Width of a code row in ``space`` (z_dim may differ from w_dim)."""
        return self.z_dim if self.check_space(space) == "z" else self.latent_dim

    def set_truncation(self, psi: float) -> float:
        """ψ applies inside z-space synthesis (adapter state) and to w / w+ codes in ``sample``."""
        self.truncation = check_truncation(psi)
        return self.truncation

    @property
    def w_avg(self) -> torch.Tensor:
        return self.generator.mapping.w_avg

    def mean_code(self, space: str) -> torch.Tensor:
        """The mean w as a ``[1, w_dim]`` (w) or ``[1, L, w_dim]`` (w+) code."""
        if self.check_space(space) == "z":
            return super().mean_code(space)
        w = self.w_avg.detach().to(self.device).view(1, -1)
        return w if space == "w" else w[:, None].repeat(1, self.num_layers, 1)

    def modules(self) -> list[torch.nn.Module]:
        return [self.generator]

    def sample(self, seeds: Sequence[int], space: str = "z", trunc: float = 1.0) -> torch.Tensor:
        """z from ``seed_codes``; w / w+ through the mapping with truncation ``trunc`` (in w+ only
        the first ``truncation_cutoff`` rows are truncated). ``trunc`` has no meaning in z: the
        z codes are returned unchanged (set ``self.truncation`` to truncate z-space synthesis)."""
        from .stylegan2.network import truncate  # here, not at the top: see TYPE_CHECKING above
        space = self.check_space(space)
        z = seed_codes(seeds, self.z_dim).to(self.device)
        if space == "z":
            return z
        with torch.no_grad():
            # One row at a time: a seed's code is then bit-identical whichever seeds come with it
            # (a batched matmul may round differently for different batch sizes).
            c = self._conditioning(1)
            ws = torch.cat([self.generator.mapping(z[i:i + 1], c) for i in range(len(z))]) \
                if len(z) else torch.zeros(0, self.num_layers, self.latent_dim, device=self.device)
            if space == "w":
                return truncate(ws[:, :1], self.w_avg, trunc)[:, 0].contiguous()
            return truncate(ws, self.w_avg, trunc, self.truncation_cutoff).contiguous()

    def synthesize(self, codes: torch.Tensor, space: str = "z") -> torch.Tensor:
        """Images ``[n, 3, H, W]``, roughly in [-1, 1] (not clamped, so gradients survive)."""
        space = self.check_space(space)
        codes = codes.to(self.device, self.w_avg.dtype)  # float32 unless a test asks for float64
        want = [self.num_layers, self.latent_dim] if space == "w+" else [self.latent_dim_for(space)]
        if codes.ndim != len(want) + 1 or list(codes.shape[1:]) != want:
            raise LowRankGANError(
                f"{space} codes for {self.model_id} must have shape [n, {', '.join(map(str, want))}], "
                f"got {list(codes.shape)}")
        if space == "z":
            ws = self.generator.mapping(codes, self._conditioning(codes.shape[0]),
                                        self.truncation, self.truncation_cutoff)
        elif space == "w":
            ws = codes.unsqueeze(1).expand(-1, self.num_layers, -1)
        else:
            ws = codes
        img = self.generator.synthesis(ws)
        if img.shape[1] == 1:  # grayscale models: show as RGB
            img = img.expand(-1, 3, -1, -1)
        return img

    # -- conditioning ---------------------------------------------------------------------

    def set_class(self, name_or_index: str | int | None) -> None:
        super().set_class(name_or_index)
        if name_or_index is None:
            return
        if isinstance(name_or_index, str) and name_or_index in self.classes:
            index = self.classes.index(name_or_index)
        else:
            try:
                index = int(name_or_index)
            except (TypeError, ValueError):
                index = -1
        if not 0 <= index < len(self.classes):
            raise LowRankGANError(
                f"class '{name_or_index}' is not one of {self.model_id}'s classes "
                f"0..{len(self.classes) - 1}")
        self._class_index = index

    @property
    def class_name(self) -> str | None:
        return None if self._class_index is None else self.classes[self._class_index]

    def _conditioning(self, n: int) -> torch.Tensor | None:
        if self._class_index is None:
            return None
        idx = torch.full((n,), self._class_index, dtype=torch.long, device=self.device)
        return F.one_hot(idx, len(self.classes)).to(self.w_avg.dtype)

    # -- provenance -----------------------------------------------------------------------

    def cache_key(self) -> str:
        # z-space images depend on the truncation state too; w / w+ codes already include it.
        return f"{super().cache_key()}|psi={self.truncation}|cutoff={self.truncation_cutoff}"

    def checkpoint_sha256(self) -> str | None:
        """sha256 of the checkpoint file (computed once, on first use)."""
        if self._sha256 is None and self.source is not None and os.path.isfile(self.source):
            h = hashlib.sha256()
            with open(self.source, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            self._sha256 = h.hexdigest()
        return self._sha256

    def describe(self) -> dict:
        info = super().describe()
        sha = self.checkpoint_sha256()
        info.update({
            "family": self.family, "format": self.kind, "z_dim": self.z_dim,
            "w_dim": self.latent_dim, "checkpoint": Path(self.source).name if self.source else None,
            "sha256": sha[:16] if sha else None, "truncation": self.truncation,
            "truncation_cutoff": self.truncation_cutoff, "default_layers": self.default_layers,
        })
        return info
