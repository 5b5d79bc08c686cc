"""StyleGAN3's input transform (move / turn the whole image) for front ends that serve several
requests at once: ``with input_transform(gen, translate, rotate):`` applies it to the calling
thread only, so that two requests with different transforms on one shared adapter never see
each other's (the CLI sets it once for the process with ``gen.set_input_transform``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence

from ..errors import LowRankGANError
from ..limits import MAX_TRANSLATE
from .base import GeneratorAdapter

Transform = tuple[tuple[float, float], float]  # ((tx, ty) image widths/heights, degrees)
NO_TRANSFORM: Transform = ((0.0, 0.0), 0.0)


def supports_input_transform(gen: GeneratorAdapter) -> bool:
    """Whether ``gen`` can move and turn its images (StyleGAN3); others accept only none."""
    return gen.supports_input_transform


@contextlib.contextmanager
def input_transform(gen: GeneratorAdapter, translate: Sequence[float] = (0.0, 0.0),
                    rotate: float = 0.0) -> Iterator[GeneratorAdapter]:
    """Every image, Jacobian and cache key of ``gen`` in this thread uses the transform while
    inside (nested uses restore the outer one on leaving); other threads are not affected. A
    model without an input transform accepts only none."""
    with gen.scoped_input_transform(translate, rotate):
        yield gen


def check_transform(translate: Sequence[float], rotate: float, max_translate: float = MAX_TRANSLATE,
                    max_rotate: float = math.inf) -> Transform:
    """``((tx, ty), degrees)`` as floats, checked against the bounds (the library's by default: a
    front end passes its own smaller ones); one-line error otherwise."""
    try:
        tx, ty = (float(v) for v in translate)
        deg = float(rotate)
    except (TypeError, ValueError, OverflowError):
        raise LowRankGANError("translate takes two numbers TX,TY (image widths/heights) and rotate one "
                              "number (degrees)", ("translate", "rotate")) from None
    if not all(math.isfinite(v) for v in (tx, ty)) or max(abs(tx), abs(ty)) > max_translate:
        raise LowRankGANError(f"translate {tx:g},{ty:g} is out of range: use finite numbers within "
                              f"±{max_translate:g} (image widths/heights)", "translate")
    if not math.isfinite(deg) or abs(deg) > max_rotate:
        raise LowRankGANError(f"rotate {deg:g} is out of range: use a finite number of degrees within ±{max_rotate:g}", "rotate")
    return (tx, ty), deg
