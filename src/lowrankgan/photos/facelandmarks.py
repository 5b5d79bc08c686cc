"""Region presets that follow one generated face (the fixed presets fit the mean face only).

The landmarks are found on the image itself, with the idea of ``models.presets.derive_face_presets``
(eyes and mouth are the darkest spots of the face) made robust for a single, possibly turned face:
darkness is measured against the surroundings (a 9x9 mean minus the 3x3-smoothed luminance), so
that dark hair or background does not pass for an eye. The eyes are the best pair of local
maxima of that contrast with a plausible spacing and tilt; the mouth is the strongest spot below
them. When a check fails (no such pair, spots too faint, mouth where no mouth can be) the answer
is ``None`` and the caller keeps the fixed boxes.
"""

from __future__ import annotations

import numpy as np

from ..models.presets import face_boxes

FACE_MODELS = frozenset({"dcgan-faces"})  # models whose images are faces (64x64, roughly centred)
MEAN_EYE_ROW = 28  # the mean face's eye row (presets.PRESETS["dcgan-faces"]["eyes"])
MIN_CONTRAST = 0.06  # an eye spot is at least this much darker than its surroundings ([-1, 1] scale)


def _contrast(image: np.ndarray) -> np.ndarray:
    from scipy.ndimage import uniform_filter

    lum = uniform_filter(image.mean(0), 3)
    return uniform_filter(lum, 9) - lum  # > 0 where darker than the surroundings


def _peaks(con: np.ndarray, rows: slice, cols: slice, limit: int = 12) -> list[tuple[float, int, int]]:
    from scipy.ndimage import maximum_filter

    sub = con[rows, cols]
    is_peak = (sub == maximum_filter(sub, 5)) & (sub > MIN_CONTRAST)
    found = [(float(sub[r, c]), int(r) + rows.start, int(c) + cols.start) for r, c in zip(*np.nonzero(is_peak))]
    return sorted(found, reverse=True)[:limit]


def face_landmarks(image: np.ndarray) -> tuple[tuple[int, int], tuple[int, int], int] | None:
    """``(left eye (row, col), right eye (row, col), mouth row)`` of one face image ``[3, H, W]``
    in [-1, 1] (64x64 layout), or ``None`` when no plausible face layout is found."""
    from scipy.ndimage import uniform_filter1d

    size = image.shape[-1]
    scale = size / 64
    con = _contrast(np.asarray(image, np.float32))
    eyes = _peaks(con, slice(int(16 * scale), int(40 * scale)), slice(int(6 * scale), int(58 * scale)))
    best = None
    for i, (ca, ya, xa) in enumerate(eyes):
        for cb, yb, xb in eyes[i + 1:]:
            (yl, xl), (yr, xr) = sorted([(ya, xa), (yb, xb)], key=lambda p: p[1])
            d = xr - xl
            if not 8 * scale <= d <= 20 * scale or abs(yl - yr) > 0.4 * d:
                continue
            bridge = con[(yl + yr) // 2, (xl + xr) // 2]
            if bridge > 0.5 * min(ca, cb):  # between the eyes lies the (lighter) nose bridge
                continue
            # faces sit near the middle: a pair far from the mean face's eyes must be much darker
            drift = (((yl + yr) / 2 - MEAN_EYE_ROW * scale) ** 2 + ((xl + xr) / 2 - size / 2) ** 2) / (8 * scale) ** 2
            score = (ca + cb) * np.exp(-drift / 2)
            if best is None or score > best[0]:
                best = (score, (yl, xl), (yr, xr))
    if best is None:
        return None
    _, left, right = best
    d = right[1] - left[1]
    eye_y, cx = (left[0] + right[0]) / 2, (left[1] + right[1]) / 2
    # The mouth: a wide dark line (smoothed along the row, so that nostrils count less) between
    # 1.1 and 2.8 eye distances below the eyes (the mean face has it at 1.85).
    top, bottom = int(round(eye_y + 1.1 * d)), int(round(min(size - 2, eye_y + 2.8 * d)))
    lo, hi = int(max(0, cx - d)), int(min(size, cx + d + 1))
    if bottom <= top:
        return None
    sub = uniform_filter1d(con, max(3, int(round(0.4 * d))), axis=1)[top:bottom, lo:hi]
    r, _ = np.unravel_index(int(sub.argmax()), sub.shape)
    if sub.max() <= MIN_CONTRAST / 2:
        return None
    return left, right, int(r + top)


def image_face_presets(image: np.ndarray) -> dict[str, str] | None:
    """The face presets (``eyes``, ``mouth``, ...) laid out on this image's own landmarks, or
    ``None`` (keep the fixed boxes) when the landmarks fail their checks."""
    marks = face_landmarks(image)
    return None if marks is None else face_boxes(image.shape[-1], *marks)
