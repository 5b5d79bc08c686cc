"""Region presets that follow one face: eyes, each eye, brows, nose, mouth and chin, shaped from
the five landmarks of the face detector the photo path uses (MTCNN, ``faces.detect_faces``).

The fixed presets fit the mean face only. Here the detector runs on the image itself, enlarged to
``DETECT_SIDE`` first: MTCNN's smallest window is 12 px, and a 64x64 model image's eyes are a few
pixels wide. Each region is an ellipse laid along the face's own axes (the eye line and the
perpendicular towards the mouth), sized in units of the distance between the eyes, so that a turned
or tilted face gets turned regions. No face found: no presets (the caller says so and keeps the
fixed ones).
"""

from __future__ import annotations

import numpy as np

FACE_MODELS = frozenset({"dcgan-faces"})  # models whose images are faces
DETECT_SIDE = 256  # smaller images are enlarged to this side before detection
PAD = 0.25  # the margin added on each side before detection, in image sides
FACE_REGIONS = ("eyes", "left eye", "right eye", "brows", "nose", "mouth", "chin")


def find_landmarks(image: np.ndarray) -> np.ndarray | None:
    """The five landmarks ``[5, 2]`` (x, y: left eye, right eye, nose tip, left and right mouth
    corner, left and right as seen) of the most confident face in ``image`` ``[3, H, W]`` in
    [-1, 1], in that image's pixels (continuous: pixel i covers [i, i+1)); ``None`` if none."""
    u8 = ((np.clip(np.asarray(image, np.float32), -1, 1) + 1) * 127.5).round().astype(np.uint8).transpose(1, 2, 0)
    return small_image_landmarks(u8)


def small_image_landmarks(u8: np.ndarray) -> np.ndarray | None:
    """``find_landmarks`` of an RGB ``uint8 [H, W, 3]`` image (a model's image, or a photo of about
    that size), in its pixels; ``None`` if no face is found."""
    from PIL import Image

    from .faces import detect_faces

    h, w = u8.shape[:2]
    # A margin of the image's mean colour: a face model's faces fill the frame, and a face box cut
    # by the border puts MTCNN's landmarks low (the eyes onto the cheeks).
    pad = int(round(PAD * max(h, w)))
    u8 = np.pad(u8, ((pad, pad), (pad, pad), (0, 0)), mode="constant")
    u8[:pad], u8[-pad:], u8[:, :pad], u8[:, -pad:] = (u8[pad:-pad, pad:-pad].reshape(-1, 3).mean(0).astype(np.uint8),) * 4
    scale = max(1.0, DETECT_SIDE / max(h, w))
    if scale > 1:
        u8 = np.asarray(Image.fromarray(u8).resize((round(u8.shape[1] * scale), round(u8.shape[0] * scale)),
                                                   Image.BICUBIC))
    # A face the regions could use fills a good part of the image: smaller finds are background.
    faces = detect_faces(u8, min_face=max(20, int(0.25 * DETECT_SIDE)))
    if not faces:
        return None
    return (faces[0].landmarks + 0.5) / scale - pad


def _ellipse(shape: tuple[int, int], centre: np.ndarray, along: np.ndarray, a: float, b: float) -> np.ndarray:
    """Pixels whose centres lie in the ellipse with semi-axis ``a`` along the unit vector ``along``
    and ``b`` across it."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]] + 0.5
    dx, dy = xx - centre[0], yy - centre[1]
    u = dx * along[0] + dy * along[1]
    v = -dx * along[1] + dy * along[0]
    return (u / max(a, 0.5)) ** 2 + (v / max(b, 0.5)) ** 2 <= 1


def landmark_regions(points: np.ndarray, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """The face regions (``FACE_REGIONS``) as boolean masks of ``shape``, from five landmarks."""
    left, right, nose, mouth_l, mouth_r = np.asarray(points, np.float64)
    eye_line = right - left
    d = float(np.hypot(*eye_line))
    across = eye_line / d
    eyes_mid, mouth_mid = (left + right) / 2, (mouth_l + mouth_r) / 2
    down = np.array([-across[1], across[0]])  # perpendicular to the eye line, towards the mouth
    if down @ (mouth_mid - eyes_mid) < 0:
        down = -down
    eye = {side: _ellipse(shape, p, across, 0.34 * d, 0.24 * d) for side, p in (("left", left), ("right", right))}
    brows = _ellipse(shape, left - 0.33 * d * down, across, 0.4 * d, 0.12 * d) | \
        _ellipse(shape, right - 0.33 * d * down, across, 0.4 * d, 0.12 * d)
    # The nose: from a quarter of the way down from the eye line to just under the tip.
    top, bottom = eyes_mid + 0.25 * (nose - eyes_mid), nose + 0.2 * d * down
    ridge = bottom - top
    length = float(np.hypot(*ridge))
    nose_mask = _ellipse(shape, (top + bottom) / 2, ridge / max(length, 1e-6), length / 2, 0.3 * d)
    lips = mouth_r - mouth_l
    width = float(np.hypot(*lips))
    lips_dir = lips / max(width, 1e-6)
    mouth = _ellipse(shape, mouth_mid, lips_dir, width / 2 + 0.15 * d, 0.25 * d)
    chin = _ellipse(shape, mouth_mid + 0.55 * d * down, lips_dir, 0.42 * d, 0.22 * d)
    regions = {"eyes": eye["left"] | eye["right"], "left eye": eye["left"], "right eye": eye["right"],
               "brows": brows, "nose": nose_mask, "mouth": mouth, "chin": chin}
    return {name: m for name, m in regions.items() if m.any() and not m.all()}


def image_face_presets(image: np.ndarray) -> dict[str, str]:
    """The face regions of this image's own face as region specs (box unions that reproduce the
    shaped masks exactly); empty when no face is found."""
    from ..maths.regions import mask_to_spec

    points = find_landmarks(image)
    if points is None:
        return {}
    return {name: mask_to_spec(m) for name, m in landmark_regions(points, image.shape[-2:]).items()}
