"""The model's change reaches a photo as a tone change in the photo's own colours: luminance in
full (relative, never past black or white), the model's chroma damped, and no change at all where
the model changed nothing."""

from __future__ import annotations

import numpy as np
import torch

from lowrankgan.photos.blend import CHROMA_KEEP, LUMA
from lowrankgan.photos.photo import center_alignment, paste_many

AL = center_alignment((128, 128), 64)  # the crop is the whole photo at 2x
INNER = np.s_[16:112, 16:112]  # away from the seam's feather


def _luma(x: np.ndarray) -> np.ndarray:
    return (x.astype(float) * LUMA).sum(-1)


def _paste(photo: np.ndarray, face: torch.Tensor, base: torch.Tensor, blend: str = "tone") -> np.ndarray:
    return paste_many(photo, AL, face[None], base, out=None, blend=blend)[0].astype(int)


def test_no_change_leaves_the_photo_exact():
    rng = np.random.default_rng(1)
    photo = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    base = torch.from_numpy(rng.uniform(-1, 1, (3, 64, 64)).astype(np.float32))
    base[:, :8] = 1.0  # white and black in the reconstruction too
    base[:, 8:16] = -1.0
    assert np.array_equal(_paste(photo, base.clone(), base), photo)


def test_a_chroma_shift_is_damped_and_luminance_kept():
    rng = np.random.default_rng(2)
    photo = rng.integers(60, 190, (128, 128, 3), dtype=np.uint8)
    base = torch.zeros(3, 64, 64)
    shift = torch.tensor([0.3, -0.3 * LUMA[0] / LUMA[1], 0.0])  # redder and less green, same luminance
    face = base + shift[:, None, None]
    tone = _paste(photo, face, base) - photo
    add = _paste(photo, face, base, "add") - photo
    assert np.abs(add[INNER][..., 0] - 38).max() <= 1  # added as it is: +0.3 of the half range
    red = tone[INNER][..., 0]
    assert np.abs(red - CHROMA_KEEP * 38).max() <= 1  # only a quarter of the model's colour
    assert np.abs(_luma(tone[INNER])).max() <= 1  # and no lightening or darkening


def test_luminance_is_the_models_change_within_the_photos_room():
    rng = np.random.default_rng(3)
    photo = np.full((128, 128, 3), 245, np.uint8)  # white teeth on the left, grey texture on the right
    photo[:, 64:] = rng.integers(60, 240, (128, 64, 1), dtype=np.uint8)
    base = torch.full((3, 64, 64), -0.4)  # the model's mouth: 0.3 in [0, 1]
    lighter = torch.full((3, 64, 64), 0.6)  # lightened to 0.8
    tone, add = _paste(photo, lighter, base), _paste(photo, lighter, base, "add")
    teeth = np.s_[16:112, 16:56]
    assert (add[teeth] == 255).all()  # added as it is: the teeth burn out to white
    assert np.abs(tone[teeth] - (255 - 10 * 0.2 / 0.7)).max() <= 1  # 5/7 of the room left to white
    darker = _paste(photo, base, lighter)  # the reverse edit, 0.8 -> 0.3, on the texture
    tex = np.s_[16:112, 72:112]
    y = photo[tex].astype(float)
    assert np.abs(darker[tex] - (y - np.minimum(127.5, y * 0.5 / 0.8))).max() <= 1
    assert (darker[tex] > 0).all()  # dark pixels darken in proportion, none is crushed to black
    light = y[..., 0] >= 0.8 * 255  # skin lighter than the model's: the model's own change, detail kept
    assert light.sum() > 100 and np.abs((y - darker[tex])[light] - 127.5).max() <= 1
