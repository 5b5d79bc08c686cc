"""StyleGAN2 seen through the ``GeneratorAdapter`` protocol (spaces z, w, w+)."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from ...errors import LowRankGANError
from ..base import GeneratorAdapter, check_truncation, seed_codes
from .loaders import load_stylegan2_with_kind
from .network import StyleGAN2Config, StyleGAN2Generator, build_generator, truncate

# The authors edit W+ rows 4-7 of the 18 of a 1024² model (features at 16..64 px).
_AUTHORS_NUM_WS = 18
_AUTHORS_FIRST, _AUTHORS_COUNT = 4, 4


def default_layers_for(num_ws: int) -> list[int]:
    """The authors' layers 4-7 of 18, scaled to ``num_ws`` rows (same relative depth and span).

    18 -> [4..7], 16 (512²) -> [4..7], 14 (256²) -> [3, 4, 5], 12 -> [3, 4, 5], 10 -> [2, 3],
    8 -> [2, 3], 6 -> [1], 4 -> [1], 2 -> [0].
    """
    if num_ws == _AUTHORS_NUM_WS:
        return list(range(_AUTHORS_FIRST, _AUTHORS_FIRST + _AUTHORS_COUNT))
    first = round(_AUTHORS_FIRST * num_ws / _AUTHORS_NUM_WS)
    count = max(1, round(_AUTHORS_COUNT * num_ws / _AUTHORS_NUM_WS))
    first = min(first, num_ws - 1)
    return list(range(first, min(num_ws, first + count)))


class StyleGAN2Adapter(GeneratorAdapter):
    """A StyleGAN2 generator; codes are z ``[n, z_dim]``, w ``[n, w_dim]``, w+ ``[n, L, w_dim]``.

    Adapter state: ``truncation`` / ``truncation_cutoff`` (used when synthesising from z) and the
    selected class for conditional models. Noise is the checkpoint's constant noise.
    """

    latent_spaces = ("z", "w", "w+")
    default_space = "w"
    presets: dict[str, str] = {}

    def __init__(self, generator: StyleGAN2Generator, model_id: str = "stylegan2",
                 source: str | os.PathLike | None = None, kind: str = "random") -> None:
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

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "StyleGAN2Adapter":
        """Load any supported StyleGAN2 checkpoint (format chosen by content)."""
        gen, kind = load_stylegan2_with_kind(path)
        name = Path(path).name
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(path).stem) or "checkpoint"
        # "<family>@<file>" like the other file-based adapters; the family (before '@') names the
        # weights, so directions carry over between copies of one file whatever its format.
        return cls(gen, model_id=f"stylegan2-{stem}@{name}", source=path, kind=kind)

    # -- protocol -------------------------------------------------------------------------

    def latent_dim_for(self, space: str) -> int:
        """Width of a code row in ``space`` (z_dim may differ from w_dim)."""
        return self.z_dim if self.check_space(space) == "z" else self.latent_dim

    @property
    def default_layers(self) -> list[int]:
        return default_layers_for(self.num_layers)

    def set_truncation(self, psi: float) -> float:
        """ψ applies inside z-space synthesis (adapter state) and to w / w+ codes in ``sample``."""
        self.truncation = check_truncation(psi)
        return self.truncation

    def sefa_weight(self, space: str, layers: Sequence[int] | None = None) -> torch.Tensor:
        """The style-affine weights ``[out, w_dim]`` of the modulated convs (of the W+ rows in
        ``layers`` for w+), stacked."""
        if self.check_space(space) == "z":
            raise LowRankGANError("sefa needs the style space: use --space w or w+ with StyleGAN2 "
                                  "(its first layers acting on z are the mapping network, not modulation weights)")
        synthesis = self.generator.synthesis
        wanted = set(layers) if space == "w+" and layers is not None else None
        weights, row = [], 0
        for res in synthesis.block_resolutions:
            block = getattr(synthesis, f"b{res}")
            convs = [block.conv1] if block.num_conv == 1 else [block.conv0, block.conv1]
            for i, conv in enumerate(convs):
                if wanted is None or row + i in wanted:
                    weights.append((conv.affine.weight * getattr(conv.affine, "weight_gain", 1.0)).detach())
            row += block.num_conv
        if not weights:
            raise LowRankGANError(f"sefa needs modulated conv layers among W+ rows {sorted(wanted or [])}")
        return torch.cat(weights, 0)

    @property
    def w_avg(self) -> torch.Tensor:
        return self.generator.mapping.w_avg

    def modules(self) -> list[torch.nn.Module]:
        return [self.generator]

    def sample(self, seeds: Sequence[int], space: str = "z", trunc: float = 1.0) -> torch.Tensor:
        """z from ``seed_codes``; w / w+ through the mapping with truncation ``trunc`` (in w+ only
        the first ``truncation_cutoff`` rows are truncated). ``trunc`` has no meaning in z: the
        z codes are returned unchanged (set ``self.truncation`` to truncate z-space synthesis)."""
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
            "family": "stylegan2", "format": self.kind, "z_dim": self.z_dim,
            "w_dim": self.latent_dim, "checkpoint": Path(self.source).name if self.source else None,
            "sha256": sha[:16] if sha else None, "truncation": self.truncation,
            "truncation_cutoff": self.truncation_cutoff, "default_layers": self.default_layers,
        })
        return info


def load_stylegan2_adapter(path: str | os.PathLike) -> StyleGAN2Adapter:
    """``StyleGAN2Adapter.from_file``: any supported StyleGAN2 checkpoint as an adapter."""
    return StyleGAN2Adapter.from_file(path)


def build_random_stylegan2(resolution: int, w_dim: int, channel_base: int, channel_max: int,
                           c_dim: int = 0, seed: int = 0, *, z_dim: int | None = None,
                           mapping_layers: int = 8) -> StyleGAN2Adapter:
    """An adapter around a StyleGAN2 with reproducible random weights (tests, benchmarks)."""
    cfg = StyleGAN2Config(z_dim=z_dim or w_dim, w_dim=w_dim, c_dim=c_dim,
                          img_resolution=resolution, channel_base=channel_base,
                          channel_max=channel_max, mapping_layers=mapping_layers)
    # The id spells out every argument: it keys on-disk caches.
    model_id = (f"stylegan2-random-r{resolution}-z{cfg.z_dim}-w{w_dim}-c{c_dim}-b{channel_base}"
                f"-m{channel_max}-l{mapping_layers}-s{seed}")
    return StyleGAN2Adapter(build_generator(cfg, seed=seed), model_id=model_id)
