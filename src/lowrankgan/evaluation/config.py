"""What an evaluation measures: a validated, frozen description of the sweep."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ..maths.edit import check_seed
from ..errors import LowRankGANError
from ..maths.methods import METHODS, get_method
from ..maths.pathedit import check_path_steps

DEFAULT_METHODS = tuple(METHODS)  # every registered method, registry order
DEFAULT_TARGETS = (0.05, 0.1, 0.2)
PATH_MULTIPLES = (1, 2, 3)
SOURCE_FREE = tuple(name for name, m in METHODS.items() if not m.uses_image)  # same directions for every image


@dataclass(frozen=True)
class EvaluationConfig:
    """Regions × methods × source images × target images, and how each is measured.

    Sources: one seed (``source_seed``, default the first target seed), Grams averaged over
    ``source_seeds``, or each image on itself (``per_image``; with ``cross`` every image's
    directions on every image).
    """

    regions: tuple[str, ...]
    seeds: tuple[int, ...]
    methods: tuple[str, ...] = DEFAULT_METHODS
    source_seed: int | None = None
    source_seeds: tuple[int, ...] | None = None
    per_image: bool = False
    cross: bool = False
    top_k: int = 3
    targets: tuple[float, ...] = DEFAULT_TARGETS
    mse_strength: float = 3.0
    space: str | None = None
    layers: tuple[int, ...] | None = None
    analysis_size: int | None = None
    trunc: float = 1.0
    path_steps: int = 0
    path_methods: tuple[str, ...] = ("lowrankgan",)
    out: Path = Path("evaluation")
    examples: int = 4
    fresh: bool = False
    progress: bool = True
    plots: bool = True
    method_params: dict = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        fix = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731  (frozen)
        fix("regions", tuple([self.regions] if isinstance(self.regions, str) else self.regions))
        fix("seeds", tuple(dict.fromkeys(int(s) for s in self.seeds)))
        fix("methods", tuple(dict.fromkeys(self.methods)))
        fix("targets", tuple(sorted({float(t) for t in self.targets})))
        fix("source_seeds", tuple(self.source_seeds) if self.source_seeds else None)
        fix("layers", tuple(self.layers) if self.layers is not None else None)
        fix("path_methods", tuple(self.path_methods))
        fix("out", Path(self.out))
        fix("method_params", {m: get_method(m).check_params(p) for m, p in (self.method_params or {}).items()})
        self._validate()

    def _validate(self) -> None:
        if not self.seeds:
            raise LowRankGANError("no seeds given")
        if not self.regions:
            raise LowRankGANError("no region given: give regions", "regions")
        for m in self.methods:
            get_method(m)
        bad_path = [m for m in self.path_methods if m not in self.methods] if self.path_steps else []
        if bad_path:
            raise LowRankGANError(f"path_methods {', '.join(bad_path)} are not among methods", ("path_methods", "methods"))
        if self.top_k < 1:
            raise LowRankGANError(f"top_k must be at least 1, got {self.top_k}", "top_k")
        check_path_steps(self.path_steps)
        if not 0 < self.mse_strength < 1e6:  # also refuses nan
            raise LowRankGANError(f"mse_strength must be a positive finite number, got {self.mse_strength}", "mse_strength")
        if self.source_seed is not None:
            check_seed(int(self.source_seed), "source_seed")
        if not 0 <= self.examples <= 64:
            raise LowRankGANError(f"examples must be 0..64, got {self.examples}", "examples")
        if not self.targets or any(not math.isfinite(t) or t <= 0 for t in self.targets):
            raise LowRankGANError("targets must be positive numbers", "targets")
        if self.cross and not self.per_image:
            raise LowRankGANError("cross goes with per_image", ("cross", "per_image"))
        if sum(x is not None for x in (self.source_seed, self.source_seeds, True if self.per_image else None)) > 1:
            raise LowRankGANError("give at most one of source_seed, source_seeds, per_image", ("source_seed", "source_seeds", "per_image"))

    @property
    def mode(self) -> str:
        if self.per_image:
            return "per-image-cross" if self.cross else "per-image"
        return "averaged" if self.source_seeds else "seed"

    @property
    def sources(self) -> list[tuple[str, list[int]]]:
        """(label, seeds) of every direction source."""
        if self.per_image:
            return [(str(s), [s]) for s in self.seeds]
        if self.source_seeds:
            return [("avg", list(self.source_seeds))]
        s = self.seeds[0] if self.source_seed is None else int(self.source_seed)
        return [(str(s), [s])]

    def targets_of(self, label: str) -> list[int]:
        return [int(label)] if self.mode == "per-image" else list(self.seeds)

    @property
    def default_level(self) -> str:
        return f"t={min(self.targets, key=lambda t: abs(math.log(t / 0.1))):g}"

    @property
    def levels(self) -> list[str]:
        return [f"t={t:g}" for t in self.targets] + [f"mse@{self.mse_strength:g}"]
