"""Region presets per model, in output pixels (``box:TOP,LEFT,HEIGHT,WIDTH``).

The ``dcgan-faces`` presets are derived from the mean of 1000 generated faces (seeds 0-999) by
``derive_face_presets``: the eye centres are the darkest points (3x3 box-smoothed luminance) of the
left and right halves of rows 16-39, the mouth is the darkest point of rows 42-59 / columns 20-43,
and every box is laid out from those landmarks in units of the inter-eye distance ``D``. The test
suite re-derives them from the model and checks they equal the table below, so the table cannot
drift from the method.
"""

from __future__ import annotations

import numpy as np


def derive_face_presets(mean_face: np.ndarray) -> dict[str, str]:
    """Preset boxes from a mean face ``[3, H, W]`` (values in [-1, 1]) of a 64x64 face model."""
    from scipy.ndimage import uniform_filter

    lum = uniform_filter(mean_face.mean(0), 3)
    size = lum.shape[0]

    def darkest(rows: slice, cols: slice) -> tuple[int, int]:
        sub = lum[rows, cols]
        r, c = np.unravel_index(int(sub.argmin()), sub.shape)
        return r + rows.start, c + cols.start

    half = size // 2
    (ly, lx), (ry, rx) = darkest(slice(16, 40), slice(8, half)), darkest(slice(16, 40), slice(half, size - 8))
    mouth_y, _ = darkest(slice(42, 60), slice(20, 44))
    return face_boxes(size, (ly, lx), (ry, rx), mouth_y)


def face_boxes(size: int, left_eye: tuple[int, int], right_eye: tuple[int, int], mouth_y: int) -> dict[str, str]:
    """The preset boxes laid out from eye centres ``(row, col)`` and the mouth row, in units of the
    inter-eye distance ``D``."""
    (ly, lx), (ry, rx) = left_eye, right_eye
    eye_y, d = round((ly + ry) / 2), rx - lx
    cx = (lx + rx) / 2

    def box(top: float, left: float, height: float, width: float) -> str | None:
        # Clipped to the image; None when nothing of it is inside (landmarks near an edge put the
        # background's far side past the image).
        t, l = max(0, round(top)), max(0, round(left))
        h, w = min(size - t, round(height)), min(size - l, round(width))
        if h < 1 or w < 1:
            return None
        return f"box:{t},{l},{h},{w}"

    def union(*parts: str | None) -> str | None:
        inside = [p for p in parts if p is not None]
        return "+".join(inside) if inside else None

    forehead_top = eye_y - 1.5 * d
    side = 1.2 * d
    boxes = {
        "eyes": box(eye_y - 0.4 * d, lx - 0.7 * d, 0.8 * d, d + 1.4 * d),
        "mouth": box(mouth_y - 0.3 * d, cx - 0.65 * d, 0.6 * d, 1.3 * d),
        "nose": box(eye_y + 0.4 * d, cx - 0.4 * d, mouth_y - 0.35 * d - (eye_y + 0.4 * d), 0.8 * d),
        "forehead": box(forehead_top, lx - 0.5 * d, 0.9 * d, d + d),
        "hair": box(0, 0, forehead_top, size),
        "background": union(box(0, 0, size, lx - side), box(0, rx + side, size, size - (rx + side))),
    }
    return {name: spec for name, spec in boxes.items() if spec is not None}


# Output of derive_face_presets on dcgan-faces (see module docstring); `tests/test_regions.py`
# recomputes it.
PRESETS: dict[str, dict[str, str]] = {
    "dcgan-faces": {
        "eyes": "box:23,16,10,31",
        "mouth": "box:48,23,8,17",
        "nose": "box:33,26,14,10",
        "forehead": "box:8,18,12,26",
        "hair": "box:0,0,8,64",
        "background": "box:0,0,64,9+box:0,54,64,10",
    },
}
