"""A local edit pasted into a photo changes the photo only where it was made: the change is
weighted by the region, mapped through the alignment and feathered at its edge."""

from __future__ import annotations

import numpy as np
import torch

from lowrankgan.photos.blend import LUMA
from lowrankgan.photos.photo import center_alignment, paste_many, region_weight


def test_only_the_regions_change_reaches_the_photo():
    rng = np.random.default_rng(0)
    photo = rng.integers(40, 200, (128, 160, 3), dtype=np.uint8)  # the crop: the centre 128 x 128, 2x
    al = center_alignment((160, 128), 64)
    base = torch.zeros(3, 64, 64)
    lighter = base + 0.4  # an "edit" that lightens the whole crop, as the model's colour gap does
    region = np.zeros((64, 64), bool)
    region[40:50, 20:44] = True  # a mouth-sized box
    weight = region_weight(region, 64)
    out = paste_many(photo, al, lighter[None], base, out=None, weight=weight)[0].astype(int)
    change = out - photo.astype(int)
    box = np.s_[2 * 42:2 * 48, 16 + 2 * 24:16 + 2 * 40]
    # in full inside the region: the model's 0.5 -> 0.7, within the photo's room to white
    y = (photo[box].astype(float) * LUMA).sum(-1, keepdims=True)
    full = 51 * np.minimum(1, (255 - y) / 127.5)
    assert np.abs(change[box] - full).max() <= 1
    far = np.ones((128, 160), bool)
    far[2 * 28:2 * 62, 16 + 2 * 8:16 + 2 * 56] = False  # beyond the feathered edge (12 crop pixels)
    assert np.abs(change[far]).max() == 0  # the rest of the face keeps its colours exactly
    edge = np.abs(change[2 * 50 + 2, 16 + 2 * 30])  # just outside: faded, not cut
    assert 0 < edge.max() < 51
    whole = paste_many(photo, al, lighter[None], base)[0].astype(int) - photo.astype(int)
    assert np.abs(whole[far]).max() > 20  # without the region the whole crop is lightened


def test_region_weight_is_one_inside_and_fades_outside():
    region = np.zeros((64, 64), bool)
    region[20:30, 20:30] = True
    w = region_weight(region, 64).numpy()
    assert w[region].min() > 0.95 and w[0, 0] == 0 and 0 < w[31, 25] < 1
    assert region_weight(region, 128).shape == (128, 128)
