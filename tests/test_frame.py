"""Inversion respects the model's own frame: an image already at the model's size and framing is
taken as it is (not warped by a few pixels), anything else is aligned; large photos are searched
for a face on a shrunk copy."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lowrankgan import api
from lowrankgan.photos.photo import crop
from lowrankgan.photos.photoinvert import align_photo, find_photo_landmarks


@pytest.fixture(scope="module")
def gen():
    return api.as_model("dcgan-faces", "cpu")


@pytest.fixture(scope="module")
def own_images(gen):
    seeds = list(range(7000101, 7000109))  # not the benchmark's seeds
    return api.to_uint8(api.sample(gen, seeds))


def test_the_models_own_images_are_taken_as_they_are(gen, own_images):
    kept = [align_photo(gen, u8, "auto").method == "center (already framed)" for u8 in own_images]
    assert sum(kept) >= 7, kept
    u8 = own_images[int(np.argmax(kept))]
    target = crop(u8, align_photo(gen, u8, "auto"))
    assert np.abs(api.to_uint8(target)[0].astype(int) - u8).max() <= 1  # the image itself, not resampled
    assert align_photo(gen, u8, "face").method == "dcgan-faces-template"  # asked for: aligned


def test_a_face_off_the_frame_is_aligned(gen, own_images):
    canvas = np.full((64, 64, 3), 90, np.uint8)  # the face at 60 %, in the top left corner
    canvas[:38, :38] = np.asarray(Image.fromarray(own_images[0]).resize((38, 38), Image.LANCZOS))
    assert align_photo(gen, canvas, "auto").method == "dcgan-faces-template"


def test_a_large_photo_is_searched_on_a_shrunk_copy(own_images):
    face = np.asarray(Image.fromarray(own_images[1]).resize((1536, 1536), Image.BICUBIC))
    big = np.full((3000, 4000, 3), 120, np.uint8)  # 12 megapixels, the face off centre
    big[700:2236, 1900:3436] = face
    found = find_photo_landmarks(big)
    reference = find_photo_landmarks(own_images[1]) * 24 + [1900, 700]
    assert found is not None and np.abs(found - reference).max() < 0.05 * 1536, (found, reference)
