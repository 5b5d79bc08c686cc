"""The locality protocol: a tuning split to choose defaults on, a held-out split to report on.

Every default is chosen on the tuning split and reported on the held-out split, which is never
looked at while tuning.

- Tuning: seeds ``0..99`` and the model's named presets, plus boxes drawn from the tuning stream.
- Held-out: seeds ``>= 10000`` and boxes drawn by a seeded generator (held-out stream) over sizes
  (4-30 % of the image) and positions, half of them centred on the face area (the middle of the
  image, where the DCGAN faces sit) and half anywhere, so some lie off the face.

The boxes are a pure function of (resolution, stream, index): a test pins that the held-out split
is deterministic and disjoint from the tuning split.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TUNING_SEEDS = range(0, 100)
HELDOUT_FIRST_SEED = 10_000
MIN_FRACTION, MAX_FRACTION = 0.04, 0.30
_STREAMS = {"tuning": 1, "heldout": 2}


@dataclass(frozen=True)
class Case:
    """One (image, region) pair of a split."""

    seed: int
    region: str  # a region spec (``box:...``) or a preset name
    kind: str  # "preset", "face" (box centred on the face area) or "any"

    @property
    def label(self) -> str:
        return f"{self.region}@{self.seed}"


def draw_box(resolution: int, stream: str, index: int) -> tuple[str, str]:
    """Box spec ``box:TOP,LEFT,HEIGHT,WIDTH`` and its kind, for case ``index`` of ``stream``.

    Area fraction uniform in [4 %, 30 %], aspect ratio log-uniform in [1/2, 2]; even indices are
    centred in the middle 60 % of the image (the face), odd ones anywhere the box fits."""
    rng = np.random.default_rng([20261126, _STREAMS[stream], index])
    area = rng.uniform(MIN_FRACTION, MAX_FRACTION) * resolution ** 2
    aspect = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))
    h = int(np.clip(round(math.sqrt(area * aspect)), 2, resolution))
    w = int(np.clip(round(area / h), 2, resolution))
    kind = "face" if index % 2 == 0 else "any"
    if kind == "face":
        cy, cx = rng.uniform(0.2, 0.8, size=2) * resolution
        top = int(np.clip(round(cy - h / 2), 0, resolution - h))
        left = int(np.clip(round(cx - w / 2), 0, resolution - w))
    else:
        top = int(rng.integers(0, resolution - h + 1))
        left = int(rng.integers(0, resolution - w + 1))
    return f"box:{top},{left},{h},{w}", kind


def tuning_cases(presets: dict[str, str], resolution: int, seeds: list[int], boxes: int = 0) -> list[Case]:
    """Every named preset and ``boxes`` drawn boxes (tuning stream) on each of ``seeds`` (< 10000)."""
    bad = [s for s in seeds if s >= HELDOUT_FIRST_SEED]
    if bad:
        raise ValueError(f"tuning seeds must be below {HELDOUT_FIRST_SEED}, got {bad[:3]}")
    regions = [(name, "preset") for name in presets] + [draw_box(resolution, "tuning", i) for i in range(boxes)]
    return [Case(s, r, k) for s in seeds for r, k in regions]


def heldout_cases(resolution: int, images: int, boxes_per_image: int) -> list[Case]:
    """``images`` seeds from 10000 on, each with its own ``boxes_per_image`` drawn boxes."""
    cases = []
    for i in range(images):
        for j in range(boxes_per_image):
            box, kind = draw_box(resolution, "heldout", i * boxes_per_image + j)
            cases.append(Case(HELDOUT_FIRST_SEED + i, box, kind))
    return cases
