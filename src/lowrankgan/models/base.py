"""The protocol every generator adapter implements.

Codes are float32 tensors: ``[n, d]`` in ``z`` / ``w``, ``[n, L, d]`` in ``w+``.
``synthesize`` returns images ``[n, 3, H, W]`` in [-1, 1]; it must be differentiable with
``torch.func.jvp`` (no in-place ops on tensors that carry tangents, no random noise).
"""

from __future__ import annotations

import contextlib
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence

import torch

from ..errors import LowRankGANError
from ..limits import MAX_TRUNCATION


def seed_codes(seeds: Sequence[int], dim: int) -> torch.Tensor:
    """Seed -> z, defined once for every model: one generator per seed, so a seed's code does not
    depend on which other seeds are asked for."""
    rows = [torch.randn(1, dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
    return torch.cat(rows, 0) if rows else torch.zeros(0, dim)


def check_truncation(psi: float) -> float:
    psi = float(psi)
    if not math.isfinite(psi) or not 0 < psi <= MAX_TRUNCATION:
        raise LowRankGANError(f"truncation {psi} is out of range: use a number in (0, {MAX_TRUNCATION:g}], 1 for none")
    return psi


class GeneratorAdapter(ABC):
    """A pretrained generator seen through one protocol."""

    model_id: str = "unknown"
    latent_dim: int
    resolution: int
    num_layers: int = 1  # number of W+ rows; 1 for models without W+
    latent_spaces: tuple[str, ...] = ("z",)
    default_space: str = "z"
    classes: tuple[str, ...] = ()  # class names for conditional models, empty otherwise
    presets: dict[str, str] = {}  # region preset name -> region spec in output pixels
    default_strengths: str = "-6:6:7"  # what `edit` sweeps when the user names no strengths
    device: torch.device = torch.device("cpu")
    supports_input_transform: bool = False  # StyleGAN3: the whole image can be moved / turned
    # The crop a face photo gets for this model: "ffhq" (FFHQ's alignment, for the StyleGAN
    # families) or "dcgan-faces" (the landmark template of the zoo's face DCGAN).
    face_alignment: str = "dcgan-faces"

    @property
    def default_layers(self) -> list[int]:
        """W+ rows an edit touches when the user names none."""
        return list(range(self.num_layers))

    def latent_dim_for(self, space: str) -> int:
        """Code dimension in ``space`` (StyleGAN's z and w may differ)."""
        return self.latent_dim

    def resolve_layers(self, space: str, layers: Sequence[int] | None = None) -> list[int] | None:
        """The W+ rows an edit in ``space`` touches: ``None`` outside w+, else ``layers`` checked
        against the model (the model's default rows when ``layers`` is None)."""
        if self.check_space(space) != "w+":
            return None
        if layers is None:
            return self.default_layers
        bad = [i for i in layers if not 0 <= int(i) < self.num_layers]
        if bad:
            raise LowRankGANError(f"layers {bad} do not exist: model {self.model_id} has W+ layers "
                                  f"0-{self.num_layers - 1}")
        return [int(i) for i in layers]

    def set_truncation(self, psi: float) -> float:
        """Truncation ψ for what follows. Models that keep it as state (BigGAN's batch-norm
        statistics, StyleGAN's z-space synthesis) store it here; returns the ψ that ``sample``
        must still apply to the codes it draws."""
        return check_truncation(psi)

    def set_input_transform(self, translate: Sequence[float] = (0.0, 0.0), rotate: float = 0.0) -> None:
        """Move / turn the whole image (StyleGAN3's input transform); others accept only none."""
        if any(float(v) != 0.0 for v in (*translate, rotate)):
            raise LowRankGANError(f"translate / rotate need a StyleGAN3 model; {self.model_id} "
                                  "has no input transform", ("translate", "rotate"))

    def input_transform(self) -> tuple[tuple[float, float], float]:
        """The transform in effect for the calling thread: ((tx, ty), degrees)."""
        return (0.0, 0.0), 0.0

    @contextlib.contextmanager
    def scoped_input_transform(self, translate: Sequence[float] = (0.0, 0.0),
                               rotate: float = 0.0) -> Iterator["GeneratorAdapter"]:
        """``set_input_transform`` for the calling thread only, undone on leaving: threads that
        share the adapter each render with their own transform."""
        self.set_input_transform(translate, rotate)  # here: only checks that it is none
        yield self

    def sefa_weight(self, space: str, layers: Sequence[int] | None = None) -> torch.Tensor:
        """SeFa's ``A`` ``[out, d]``: the weight of the first layer(s) acting on codes of ``space``."""
        raise LowRankGANError(f"sefa needs the first projection / modulation weights of the model, and "
                              f"model {self.model_id} (space {space}) does not expose them "
                              "(a DCGAN in z, StyleGAN2 in w / w+, or BigGAN in z)")

    def mean_code(self, space: str) -> torch.Tensor:
        """The model's average code in ``space`` as a ``[1, ...]`` code (a mapping network's mean
        w), where it has one: inversion starts there. Models without one refuse."""
        raise LowRankGANError(f"model {self.model_id} has no mean code in space {self.check_space(space)}; "
                              "invert it in z")

    def check_space(self, space: str) -> str:
        if space not in self.latent_spaces:
            raise LowRankGANError(
                f"latent space '{space}' is not offered by model {self.model_id}; "
                f"use one of: {', '.join(self.latent_spaces)}")
        return space

    @abstractmethod
    def sample(self, seeds: Sequence[int], space: str = "z", trunc: float = 1.0) -> torch.Tensor:
        """Deterministic codes for ``seeds`` in ``space`` (z from ``seed_codes``)."""

    @abstractmethod
    def synthesize(self, codes: torch.Tensor, space: str = "z") -> torch.Tensor:
        """Images ``[n, 3, H, W]`` in [-1, 1] from codes in ``space``."""

    def tangent_images(self, code: torch.Tensor, tangents: torch.Tensor, space: str) -> torch.Tensor | None:
        """Image tangents ``[k, 3, H, W]`` at one ``code`` for code tangents ``[k, *code.shape]``,
        for adapters that can propagate them by hand (faster, and no torch.func warm-up); ``None``
        (the default) makes ``compute_jacobian`` use ``torch.func.jvp`` on ``synthesize``."""
        return None

    def set_class(self, name_or_index: str | int | None) -> None:
        """Select the conditioning class (conditional models only)."""
        if name_or_index is not None and not self.classes:
            raise LowRankGANError(
                f"model {self.model_id} is not class-conditional; drop class_name", "class_name")

    @property
    def class_name(self) -> str | None:
        return None

    def to(self, device: torch.device | str) -> "GeneratorAdapter":
        self.device = torch.device(device)
        for module in self.modules():
            module.to(self.device)
        return self

    def modules(self) -> list[torch.nn.Module]:
        """The torch modules the adapter owns (moved by ``to``)."""
        return []

    @property
    def model_family(self) -> str:
        """The architecture and weights a direction file must match (``name@file`` -> ``name``)."""
        return self.model_id.split("@")[0]

    def checkpoint_reference(self) -> str | None:
        """The absolute path ``load_model`` reads this model from again (its checkpoint file); None
        for a model built in memory or loaded by name (``models.model_reference`` covers both)."""
        source = getattr(self, "source", "") or ""
        return os.path.abspath(source) if source and os.path.isfile(source) else None

    def cache_key(self) -> str:
        """Identifies the weights and conditioning for on-disk caches."""
        source = getattr(self, "source", "") or ""
        stamp = ""
        if source and os.path.isfile(source):
            st = os.stat(source)
            stamp = f"{os.path.abspath(source)}:{st.st_size}:{st.st_mtime_ns}"
        return f"{self.model_id}|{self.class_name}|{stamp}"

    def describe(self) -> dict:
        """What a direction file records about the model."""
        return {"model": self.model_id, "latent_dim": self.latent_dim,
                "resolution": self.resolution, "num_layers": self.num_layers,
                "latent_spaces": list(self.latent_spaces), "class": self.class_name}
