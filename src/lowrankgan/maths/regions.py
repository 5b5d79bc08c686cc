"""Region specs -> boolean masks at any resolution.

A spec is ``box:TOP,LEFT,HEIGHT,WIDTH`` (output pixels), a path to a mask image (white = region),
a preset name of the model, or several of these joined by ``+`` (their union).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import LowRankGANError
from ..limits import MAX_MASK_FILE_BYTES, MAX_MASK_PIXELS, MAX_REGION_CHARS, printable, read_regular

MASK_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")  # a region part naming an image


@dataclass(frozen=True)
class Region:
    """A parsed region: the spec as given and its mask at the model's output resolution."""

    spec: str
    mask: np.ndarray  # bool [H, W] at output resolution

    def at(self, size: int) -> torch.Tensor:
        """The mask at ``size``x``size``: a pixel is in the region when most of it is."""
        return resize_mask(self.mask, size)

    @property
    def fraction(self) -> float:
        return float(self.mask.mean())


def resize_mask(mask: np.ndarray, size: int) -> torch.Tensor:
    m = torch.from_numpy(mask.astype(np.float32))[None, None]
    if m.shape[-1] == size and m.shape[-2] == size:
        return m[0, 0] > 0.5
    mode = "area" if size < m.shape[-1] else "nearest"
    return F.interpolate(m, size=(size, size), mode=mode)[0, 0] >= 0.5


def _parse_box(body: str, resolution: int, mask: np.ndarray | None = None) -> np.ndarray:
    """The box ``TOP,LEFT,HEIGHT,WIDTH`` painted into ``mask`` (a new one when None)."""
    try:
        top, left, height, width = (int(v) for v in body.split(","))
    except ValueError:
        raise LowRankGANError(f"bad box 'box:{printable(body, 60)}': expected box:TOP,LEFT,HEIGHT,WIDTH with four integers") from None
    if height <= 0 or width <= 0:
        raise LowRankGANError(f"box 'box:{printable(body, 60)}' is empty: HEIGHT and WIDTH must be positive")
    if top < 0 or left < 0 or top + height > resolution or left + width > resolution:
        raise LowRankGANError(f"box 'box:{printable(body, 60)}' lies outside the {resolution}x{resolution} image; "
                              f"keep 0 <= TOP, LEFT and TOP+HEIGHT, LEFT+WIDTH <= {resolution}")
    if mask is None:
        mask = np.zeros((resolution, resolution), bool)
    mask[top:top + height, left:left + width] = True
    return mask




def _load_mask_image(path: Path, resolution: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    data = read_regular(path, MAX_MASK_FILE_BYTES, "mask image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we check the size ourselves
            img = Image.open(io.BytesIO(data))
            # The header gives the size; a 135-byte PNG can claim 20000² pixels (a decompression
            # bomb), so the size is checked before a single pixel is decoded.
            width, height = img.size
            if width * height > MAX_MASK_PIXELS:
                raise LowRankGANError(f"mask image {path} is {width}x{height} pixels; at most "
                                      f"{MAX_MASK_PIXELS} pixels (e.g. 4096x4096) are accepted: scale it down")
            img.load()
            gray = img.convert("L")
            low, high = gray.getextrema()
            if "A" in img.getbands() and low == high:
                gray = img.getchannel("A")  # a flat colour with a drawn alpha: alpha is the mask
    except Image.DecompressionBombError:  # PIL's own, coarser limit caught it first
        raise LowRankGANError(f"mask image {path} claims more than {MAX_MASK_PIXELS} pixels (e.g. 4096x4096, "
                              "the most accepted): scale it down") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise LowRankGANError(f"cannot read mask image {path}: {printable(exc, 160)}") from None
    arr = np.asarray(gray, dtype=np.float32) / 255.0
    mask = resize_mask(arr >= 0.5, resolution).numpy()
    return mask


def parse_region(spec: str, resolution: int, presets: dict[str, str] | None = None) -> Region:
    """Parse ``spec`` for a model whose output is ``resolution``² with region ``presets``."""
    presets = presets or {}
    spec = (spec or "").strip()
    if not spec:
        raise LowRankGANError("empty region: give box:TOP,LEFT,HEIGHT,WIDTH, a mask image, or a preset")
    if len(spec) > MAX_REGION_CHARS:
        raise LowRankGANError(f"region spec is {len(spec)} characters long; at most {MAX_REGION_CHARS}")
    mask = np.zeros((resolution, resolution), bool)
    for part in spec.split("+"):
        part = part.strip()
        if part.startswith("box:"):
            _parse_box(part[4:], resolution, mask)  # painted in place: a spec of many boxes stays cheap
        elif part in presets:
            mask |= parse_region(presets[part], resolution).mask
        elif Path(part).expanduser().is_file():
            mask |= _load_mask_image(Path(part).expanduser(), resolution)
        elif Path(part).suffix.lower() in MASK_IMAGE_SUFFIXES:
            raise LowRankGANError(f"mask image {printable(part, 80)} does not exist; give an existing image path (white = region)")
        else:
            names = ", ".join(sorted(presets)) or "none for this model"
            raise LowRankGANError(f"unknown region '{printable(part, 80)}': not a box:TOP,LEFT,HEIGHT,WIDTH, "
                                  f"an existing mask image, or a preset (presets: {names})")
    if not mask.any():
        raise LowRankGANError(f"region '{printable(spec, 80)}' is empty: the mask selects no pixel")
    if mask.all():
        raise LowRankGANError(f"region '{printable(spec, 80)}' covers the whole image and leaves no background; "
                              "the method needs pixels outside the region")
    return Region(spec, mask)


def check_analysis_masks(region: Region, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Foreground and background masks at the analysis size; both must be non-empty."""
    fg = region.at(size)
    if not fg.any():
        raise LowRankGANError(f"region '{printable(region.spec, 80)}' vanishes at analysis size {size}; "
                              "enlarge it or raise analysis_size", "analysis_size")
    if fg.all():
        raise LowRankGANError(f"region '{printable(region.spec, 80)}' fills the whole image at analysis size {size}; "
                              "leave some background or raise analysis_size", "analysis_size")
    return fg, ~fg


def mask_to_spec(mask: np.ndarray) -> str:
    """A boolean mask as a union of ``box:TOP,LEFT,HEIGHT,WIDTH`` (runs of rows merged), so that
    ``parse_region(mask_to_spec(m), H)`` gives back ``m`` exactly."""
    boxes: list[tuple[int, int, int, int]] = []
    open_runs: dict[tuple[int, int], int] = {}  # (left, right) -> top row
    height = mask.shape[0]
    for r in range(height + 1):
        runs: set[tuple[int, int]] = set()
        if r < height:
            row = np.concatenate([[False], mask[r].astype(bool), [False]])
            edges = np.flatnonzero(row[1:] != row[:-1])
            runs = {(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])}
        for run in list(open_runs):
            if run not in runs:
                top = open_runs.pop(run)
                boxes.append((top, run[0], r - top, run[1] - run[0]))
        for run in runs:
            open_runs.setdefault(run, r)
    boxes.sort()
    return "+".join(f"box:{t},{l},{h},{w}" for t, l, h, w in boxes)


MAX_SPEC_CHARS = 4000  # a drawn region whose box union is longer is recorded as its mask image
DRAWN_MASK_NAME = "region.png"  # written beside the direction files; the spec names it


def region_from_mask(mask: np.ndarray, analysis_size: int) -> Region:
    """A drawn mask as a ``Region``, checked like ``parse_region`` and at the analysis size."""
    if not mask.any():
        raise LowRankGANError("the region is empty: draw on the image (brush or rectangle) first")
    if mask.all():
        raise LowRankGANError("the region covers the whole image; the method needs pixels outside it: erase some")
    spec = mask_to_spec(mask)
    if len(spec) > MAX_SPEC_CHARS:
        spec = DRAWN_MASK_NAME
    region = Region(spec, mask)
    check_analysis_masks(region, analysis_size)
    return region
