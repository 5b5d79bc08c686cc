"""The "(this face)" presets on a real photo, against landmarks marked by hand
(tests/data/photo_face_marks.json): on the photo and on moved copies of it (mirrored, turned, shrunk
into a wide frame off centre, cut to a portrait), aligned as `invert` aligns them, each region holds
its own landmarks and none of the others'. The copies and the scoring are the benchmark's
(`benchmarks/bench_face_regions.py --photos`), so the test checks what the README reports."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lowrankgan import api
from lowrankgan.photos.facelandmarks import image_face_presets
from lowrankgan.photos.invert import invert_image
from lowrankgan.photos.photo import crop
from lowrankgan.photos.photoinvert import align_photo

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "photo_face_marks.json"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_face_regions", ROOT / "benchmarks" / "bench_face_regions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BENCH = _bench()


@pytest.fixture(scope="module")
def copies():
    data = json.loads(DATA.read_text())
    photo = np.asarray(Image.open(DATA.parent / data["photo"]).convert("RGB"))
    return BENCH.moved_copies(photo, data["marks"])


def in_crop(al, marks: dict) -> dict:
    inv = al.inverse()
    return {k: (inv @ np.array([x, y, 1.0])).tolist() for k, (x, y) in marks.items()}


def masks_of(specs: dict, size: int) -> dict:
    return {k: api.parse_region(v, size).mask for k, v in specs.items()}


def test_presets_hold_the_hand_marked_landmarks_on_moved_copies_of_a_photo(faces, copies):
    assert len(copies) == 5
    for name, image, marks in copies:
        al = align_photo(faces, image, "auto")
        face = in_crop(al, marks)
        assert all(0 <= v < faces.resolution for p in face.values() for v in p), name  # the face is in the crop
        specs = image_face_presets(crop(image, al)[0].numpy())
        hits = BENCH.score(masks_of(specs, faces.resolution), face)
        assert all(hits.values()), (name, hits)


@pytest.mark.slow
def test_presets_on_the_inverted_photo_hold_the_landmarks(faces, copies):
    """What the page offers for an uploaded photo: presets found on its code's image."""
    name, image, marks = copies[2]  # turned: the regions must turn with the face
    al = align_photo(faces, image, "auto")
    inv = invert_image(faces, crop(image, al), steps=100, restarts=2, progress=False)
    specs = api.face_presets(faces, "dcgan-faces", api.Latents(inv.code.numpy(), faces.default_space))
    hits = BENCH.score(masks_of(specs, faces.resolution), in_crop(al, marks))
    assert all(hits.values()), (name, hits)
