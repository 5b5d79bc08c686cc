"""Photos: reading any file safely, the crop / paste geometry, face alignment."""

import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from lowrankgan import LowRankGANError
from lowrankgan.photos.photo import (Alignment, box_alignment, center_alignment, crop, ffhq_alignment, load_photo, paste,
                              similarity_alignment)


def _photo(h=90, w=120, seed=0):
    rng = np.random.default_rng(seed)
    # smooth content (a blurred random field): resampling errors then stay small
    small = rng.integers(0, 256, (h // 10, w // 10, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC))


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "I;16", "LA", "1"])
def test_any_mode_reads_as_rgb(tmp_path, mode):
    im = Image.fromarray(_photo()).convert(mode if mode != "I;16" else "L")
    if mode == "I;16":
        im = Image.fromarray(np.asarray(im).astype(np.uint16) * 257).convert("I;16")
    path = tmp_path / ("x.tif" if mode in ("CMYK", "I;16") else "x.png")
    im.save(path)
    got = load_photo(path)
    assert got.dtype == np.uint8 and got.shape == (90, 120, 3)


def test_transparent_pixels_become_white(tmp_path):
    a = np.zeros((20, 20, 4), np.uint8)
    Image.fromarray(a, "RGBA").save(tmp_path / "t.png")
    assert (load_photo(tmp_path / "t.png") == 255).all()


def test_exif_orientation_is_applied(tmp_path):
    im = Image.fromarray(_photo(40, 60))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    im.save(tmp_path / "r.jpg", exif=exif)
    assert load_photo(tmp_path / "r.jpg").shape == (60, 40, 3)


def _png_header_only(path, width, height):
    """A PNG whose header claims ``width`` x ``height``, with no real pixel data."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [7000, 100_000])  # above our limit; above PIL's own guard too
def test_huge_header_is_refused_before_decoding(tmp_path, side):
    _png_header_only(tmp_path / "bomb.png", side, side)
    with pytest.raises(LowRankGANError, match="larger than 40 megapixels; scale it down"):
        load_photo(tmp_path / "bomb.png")


@pytest.mark.parametrize("content,message", [(b"not an image at all", "cannot read photo"),
                                             (None, "does not exist")])
def test_bad_files_are_named(tmp_path, content, message):
    path = tmp_path / "p.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(LowRankGANError, match=message):
        load_photo(path)


def test_truncated_file_is_an_error(tmp_path):
    Image.fromarray(_photo()).save(tmp_path / "p.png")
    data = (tmp_path / "p.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(LowRankGANError, match="cannot read photo"):
        load_photo(tmp_path / "cut.png")


def test_box_crop_is_the_photo_square_resized():
    photo = _photo(100, 100)
    al = box_alignment((100, 100), 25, 20, 10, 50)
    got = ((crop(photo, al)[0].permute(1, 2, 0) + 1) * 127.5).numpy()
    want = np.asarray(Image.fromarray(photo[10:60, 20:70]).resize((25, 25), Image.Resampling.LANCZOS), np.float32)
    assert np.abs(got - want).mean() < 2.0


def test_center_crop_of_a_wide_photo_is_its_middle():
    al = center_alignment((300, 100), 50)
    assert np.allclose(al.matrix @ [0, 0, 1], [100, 0]) and np.allclose(al.matrix @ [50, 50, 1], [200, 100])


def test_paste_of_the_unchanged_crop_returns_the_photo():
    photo = _photo(120, 160)
    al = similarity_alignment([[40, 30], [100, 50]], [[8, 8], [24, 8]], 32, (160, 120), "test")
    face = crop(photo, al)[0]
    back = paste(photo, al, face, feather=0.1)
    inside = np.zeros(photo.shape[:2], bool)
    ys, xs = np.mgrid[0:120, 0:160] + 0.5
    inv = al.inverse()
    u, v = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2], inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    inside = (u > 4) & (u < 28) & (v > 4) & (v < 28)
    outside = (u < -1) | (u > 33) | (v < -1) | (v > 33)
    assert (back[outside] == photo[outside]).all()  # nothing outside the crop changes
    # inside, the crop went down to 32 px and back: only the detail finer than that is lost
    assert np.abs(back[inside].astype(float) - photo[inside]).mean() < 12


def test_delta_paste_adds_only_the_edit():
    photo = _photo(80, 80)
    al = box_alignment((80, 80), 16, 20, 20, 40)
    base = torch.zeros(3, 16, 16)
    assert (paste(photo, al, base.clone(), base) == photo).all()  # no edit, no change at all
    edited = base.clone()
    edited[:, 6:10, 6:10] = 0.5  # a bright square in the middle of the crop
    out = paste(photo, al, edited, base).astype(int) - photo
    assert out[35:45, 35:45].mean() > 40 and (out[:15] == 0).all() and (out[:, :15] == 0).all()


def test_paste_feathers_the_seam():
    photo = np.zeros((64, 64, 3), np.uint8)
    al = box_alignment((64, 64), 32, 0, 0, 64)
    white = torch.ones(3, 32, 32)
    out = paste(photo, al, white, feather=0.25)[32, :, 0].astype(int)
    assert out[0] < 20 and out[32] == 255 and np.all(np.diff(out[:17]) >= 0)  # ramps up from the edge


def test_similarity_fit_recovers_a_known_transform():
    angle, scale, shift = 0.3, 2.5, np.array([10.0, -4.0])
    R = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = np.array([[1, 2], [5, 3], [3, 8], [0, 6], [7, 7]], float)
    al = similarity_alignment(dst @ R.T + shift, dst, 16, (100, 100), "t")
    assert np.allclose(al.matrix[:, :2], R) and np.allclose(al.matrix[:, 2], shift)


def test_ffhq_crop_puts_the_eyes_where_ffhq_has_them():
    # An upright face: eyes 60 px apart, mouth 66 px below them.
    lm = np.array([[170, 200], [230, 200], [200, 235], [175, 266], [225, 266]], float)
    al = ffhq_alignment(lm, 1024, (400, 400))
    eyes = np.c_[lm[:2], np.ones(2)] @ np.linalg.inv(np.vstack([al.matrix, [0, 0, 1]])).T
    # FFHQ: the crop is 4x the eye distance wide (here 2x eye distance beats 1.8x eye-to-mouth),
    # centred 0.1 eye-to-mouth below the eyes' midpoint.
    assert np.allclose(eyes[:, 0], [512 - 128, 512 + 128], atol=1e-6)
    assert np.allclose(eyes[:, 1], 512 - 0.1 * 66 * 1024 / 240, atol=1e-6)


def test_alignment_round_trips_through_json():
    al = box_alignment((50, 40), 8, 1.5, 2.5, 30)
    back = Alignment.from_json(al.to_json())
    assert np.allclose(back.matrix, al.matrix) and back.photo_size == (50, 40)
    with pytest.raises(LowRankGANError, match="not an invertible"):
        Alignment.from_json({**al.to_json(), "matrix": [[0, 0, 0], [0, 0, 0]]})


def test_paste_into_another_photo_size_is_refused():
    al = box_alignment((50, 40), 8, 0, 0, 30)
    with pytest.raises(LowRankGANError, match="give the photo that was inverted"):
        paste(np.zeros((10, 10, 3), np.uint8), al, torch.zeros(3, 8, 8))
