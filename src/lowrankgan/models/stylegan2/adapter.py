"""StyleGAN2 seen through the ``GeneratorAdapter`` protocol (spaces z, w, w+)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch

from ...errors import LowRankGANError
from ..stylebased import StyleBasedAdapter, file_model_id
from .loaders import load_stylegan2_with_kind
from .network import StyleGAN2Config, StyleGAN2Generator, build_generator

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


class StyleGAN2Adapter(StyleBasedAdapter):
    """A StyleGAN2 generator (see ``StyleBasedAdapter`` for the codes and the state)."""

    family = "stylegan2"
    generator: StyleGAN2Generator

    def __init__(self, generator: StyleGAN2Generator, model_id: str = "stylegan2",
                 source: str | os.PathLike | None = None, kind: str = "random") -> None:
        super().__init__(generator, model_id, source, kind)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "StyleGAN2Adapter":
        """Load any supported StyleGAN2 checkpoint (format chosen by content)."""
        gen, kind = load_stylegan2_with_kind(path)
        return cls(gen, model_id=file_model_id(cls.family, path), source=path, kind=kind)

    @property
    def default_layers(self) -> list[int]:
        return default_layers_for(self.num_layers)

    def sefa_weight(self, space: str, layers: Sequence[int] | None = None) -> torch.Tensor:
        """The style-affine weights ``[out, w_dim]`` of the modulated convs (of the W+ rows in
        ``layers`` for w+), stacked."""
        if self.check_space(space) == "z":
            raise LowRankGANError("sefa needs the style space: use space w or w+ with StyleGAN2 "
                                  "(its first layers acting on z are the mapping network, not modulation weights)", "space")
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
