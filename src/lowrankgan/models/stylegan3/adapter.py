"""StyleGAN3 seen through the ``GeneratorAdapter`` protocol (spaces z, w, w+), plus the input
transform (translate / rotate the Fourier features) as adapter state."""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Iterator, Sequence

import torch

from ...errors import LowRankGANError
from ...limits import MAX_TRANSLATE
from ..stylebased import StyleBasedAdapter, file_model_id
from .config import StyleGAN3Config
from .loader import load_stylegan3
from .network import StyleGAN3Generator, build_generator

NVIDIA_STYLEGAN3 = "nvidia-stylegan3"

# From benchmarks/bench_stylegan3.py (median leak of 4-row W+ spans on a random-weight 16-row model,
# README "StyleGAN3 checkpoints"): rows 0-3 scored 0.649, 1-4 0.670, 2-5 0.693, later spans 0.74-1.38. Row 0
# only predicts the global rotation/translation of the Fourier features, so a default that touches
# it would move the whole picture on a trained model: rows 1-4, the best span without it.
_DEFAULT_FIRST, _DEFAULT_COUNT, _DEFAULT_ROWS = 1, 4, 16


def default_layers_for(num_ws: int) -> list[int]:
    """The default W+ rows for ``num_ws`` rows (16 in every published StyleGAN3 config)."""
    first = max(1, round(_DEFAULT_FIRST * num_ws / _DEFAULT_ROWS))  # never row 0 (see above)
    count = max(1, round(_DEFAULT_COUNT * num_ws / _DEFAULT_ROWS))
    return list(range(first, min(num_ws, first + count)))


def make_transform(translate: tuple[float, float], rotate: float) -> torch.Tensor:
    """The input layer's ``transform`` buffer for moving the image by ``translate`` (fractions of
    its width and height) and turning it by ``rotate`` degrees: the inverse of the similarity
    that maps content to image, as NVIDIA's gen_images.py builds it."""
    a = math.radians(rotate)
    m = torch.tensor([[math.cos(a), math.sin(a), translate[0]],
                      [-math.sin(a), math.cos(a), translate[1]],
                      [0.0, 0.0, 1.0]], dtype=torch.float64)
    return torch.linalg.inv(m).float()


_SCOPED = threading.local()  # {id(adapter): ((tx, ty), deg)} set by scoped_input_transform


class StyleGAN3Adapter(StyleBasedAdapter):
    """A StyleGAN3 generator; W+ row 0 drives the input transform, row ``i + 1`` layer ``L{i}``.

    State beyond ``StyleBasedAdapter``'s: ``translate`` (tx, ty) and ``rotate`` (degrees) of the input
    Fourier features — the whole image moves or turns, then edits apply as usual.
    ``scoped_input_transform`` sets them for one thread (the page's concurrent requests).
    """

    family = "stylegan3"
    generator: StyleGAN3Generator
    supports_input_transform = True

    def __init__(self, generator: StyleGAN3Generator, model_id: str = "stylegan3",
                 source: str | os.PathLike | None = None, kind: str = "random") -> None:
        super().__init__(generator, model_id, source, kind)
        self._file_transform = generator.synthesis.input.transform.detach().clone()
        self._shared: tuple[tuple[float, float], float] = ((0.0, 0.0), 0.0)  # set_input_transform's

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "StyleGAN3Adapter":
        return cls(load_stylegan3(path), model_id=file_model_id(cls.family, path), source=path,
                   kind=NVIDIA_STYLEGAN3)

    @property
    def default_layers(self) -> list[int]:
        return default_layers_for(self.num_layers)

    def set_input_transform(self, translate: Sequence[float] = (0.0, 0.0), rotate: float = 0.0) -> None:
        """Move the image by ``translate`` = (tx, ty) image widths/heights (positive: right, down)
        and turn it by ``rotate`` degrees; (0, 0), 0 restores the checkpoint's own transform."""
        (tx, ty), rotate = self._checked(translate, rotate)
        self._shared = ((tx, ty), rotate)
        self.generator.set_user_transform(self._matrix((tx, ty), rotate))

    @contextlib.contextmanager
    def scoped_input_transform(self, translate: Sequence[float] = (0.0, 0.0),
                               rotate: float = 0.0) -> Iterator["StyleGAN3Adapter"]:
        checked = self._checked(translate, rotate)
        table = _SCOPED.__dict__.setdefault("transforms", {})
        previous = table.get(id(self))
        table[id(self)] = checked
        try:
            with self.generator.thread_transform(self._matrix(*checked)):
                yield self
        finally:
            if previous is None:
                table.pop(id(self), None)
            else:
                table[id(self)] = previous

    def input_transform(self) -> tuple[tuple[float, float], float]:
        return getattr(_SCOPED, "transforms", {}).get(id(self), self._shared)

    @property
    def translate(self) -> tuple[float, float]:
        return self.input_transform()[0]

    @property
    def rotate(self) -> float:
        return self.input_transform()[1]

    @staticmethod
    def _checked(translate: Sequence[float], rotate: float) -> tuple[tuple[float, float], float]:
        tx, ty = (float(v) for v in translate)
        rotate = float(rotate)
        if not all(math.isfinite(v) for v in (tx, ty, rotate)) or max(abs(tx), abs(ty)) > MAX_TRANSLATE:
            raise LowRankGANError(f"translate {tx},{ty} / rotate {rotate}: use finite numbers, "
                                  f"|tx|, |ty| <= {MAX_TRANSLATE:g} image widths", ("translate", "rotate"))
        return (tx, ty), rotate

    def _matrix(self, translate: tuple[float, float], rotate: float) -> torch.Tensor:
        return make_transform(translate, rotate).to(self._file_transform) @ self._file_transform

    def sefa_weight(self, space: str, layers: Sequence[int] | None = None) -> torch.Tensor:
        """The style-affine weights of the modulated convs (W+ rows 1..L-2; row 0 predicts the input
        transform and the last row is the ToRGB, neither a modulation SeFa factorises)."""
        if self.check_space(space) == "z":
            raise LowRankGANError("sefa needs the style space: use space w or w+ with StyleGAN3", "space")
        synthesis = self.generator.synthesis
        rows = range(1, self.num_layers - 1)
        wanted = [r for r in rows if space != "w+" or layers is None or r in set(layers)]
        if not wanted:
            raise LowRankGANError(f"sefa needs modulated conv layers among W+ rows {sorted(layers or [])} "
                                  f"(StyleGAN3's are rows 1-{self.num_layers - 2})")
        weights = []
        for r in wanted:
            affine = getattr(synthesis, synthesis.layer_names[r - 1]).affine
            weights.append((affine.weight * affine.weight_gain).detach())
        return torch.cat(weights, 0)

    def cache_key(self) -> str:
        return f"{super().cache_key()}|translate={self.translate}|rotate={self.rotate}"

    def describe(self) -> dict:
        info = super().describe()
        info.update({"translate": list(self.translate), "rotate": self.rotate,
                     "config": "R" if self.generator.cfg.use_radial_filters else "T"})
        return info


def load_stylegan3_adapter(path: str | os.PathLike) -> StyleGAN3Adapter:
    return StyleGAN3Adapter.from_file(path)


def build_random_stylegan3(resolution: int, w_dim: int, channel_base: int, channel_max: int,
                           c_dim: int = 0, seed: int = 0, *, z_dim: int | None = None,
                           mapping_layers: int = 2, config: str = "T",
                           num_layers: int = 14) -> StyleGAN3Adapter:
    """An adapter around a StyleGAN3 with reproducible random weights (tests, benchmarks)."""
    r = config.upper() == "R"
    cfg = StyleGAN3Config(z_dim=z_dim or w_dim, w_dim=w_dim, c_dim=c_dim, img_resolution=resolution,
                          channel_base=channel_base, channel_max=channel_max,
                          mapping_layers=mapping_layers, num_layers=num_layers,
                          conv_kernel=1 if r else 3, use_radial_filters=r)
    model_id = (f"stylegan3{config.lower()}-random-r{resolution}-z{cfg.z_dim}-w{w_dim}-c{c_dim}"
                f"-b{channel_base}-m{channel_max}-l{mapping_layers}-n{num_layers}-s{seed}")
    return StyleGAN3Adapter(build_generator(cfg, seed=seed), model_id=model_id)
