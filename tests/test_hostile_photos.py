"""Photos crafted to hurt the decoder or the paste: damaged files of every format Pillow writes,
decoder warnings, JPEGs of endless scans, very large photos, names with terminal escapes."""

from __future__ import annotations

import io
import random
import struct
import time
import tracemalloc
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from lowrankgan.cli import main
from lowrankgan.errors import LowRankGANError
from lowrankgan.limits import MAX_JPEG_SCANS
from lowrankgan.photos import photo as ph
from lowrankgan.photos.photo import center_alignment, decode_photo, jpeg_scans, load_photo, paste, paste_many

FORMATS = ["BMP", "GIF", "PNG", "TIFF", "WEBP", "DDS", "ICO", "PCX", "TGA", "JPEG", "PPM", "SGI", "IM", "QOI",
           "AVIF", "JPEG2000"]


def encoded(fmt: str, size=(48, 40), **kwargs) -> bytes:
    rng = np.random.default_rng(0)
    im = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    buf = io.BytesIO()
    try:
        im.save(buf, format=fmt, **kwargs)
    except (KeyError, OSError, ValueError) as exc:  # a Pillow built without this codec
        pytest.skip(f"Pillow cannot write {fmt}: {exc}")
    return buf.getvalue()


def mutants(data: bytes, seed: int, count: int = 60):
    """Damaged copies: bytes overwritten in the header and body, truncations, insertions."""
    rng = random.Random(seed)
    for i in range(count):
        b = bytearray(data)
        how = i % 4
        if how == 0:
            for _ in range(rng.randint(1, 4)):
                pos = rng.randrange(min(len(b), 160))
                b[pos] = rng.choice([0, 255, rng.randrange(256)])
        elif how == 1:
            pos = rng.randrange(len(b))
            b[pos:pos + 4] = struct.pack("<I", rng.choice([0, 1, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF]))
        elif how == 2:
            b = b[:rng.randrange(8, len(b))]
        else:
            pos = rng.randrange(len(b))
            b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        yield bytes(b)


@pytest.mark.parametrize("fmt", FORMATS)
def test_damaged_files_of_every_format_are_an_image_or_one_line(fmt):
    original = encoded(fmt)
    assert decode_photo(original).shape[2] == 3
    for data in mutants(original, seed=FORMATS.index(fmt)):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            try:
                image = decode_photo(data, f"a damaged {fmt}")
                assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
            except LowRankGANError as exc:
                assert "\n" not in str(exc)
        assert seen == [], [str(w.message) for w in seen]  # no decoder warning reaches the user


def dds_with_fourcc(fourcc: bytes) -> bytes:
    header = struct.pack("<7I44x", 124, 0x1007, 64, 64, 0, 0, 0)
    pixel_format = struct.pack("<2I4s5I", 32, 0x4, fourcc, 0, 0, 0, 0, 0)
    return b"DDS " + header + pixel_format + struct.pack("<5I", 0x1000, 0, 0, 0, 0) + b"\0" * 4096


@pytest.mark.parametrize("fourcc", [b"XYZW", b"DX10", b"ATI9"])
def test_unimplemented_pixel_formats_are_one_line(fourcc):
    with pytest.raises(LowRankGANError, match="cannot read"):
        decode_photo(dds_with_fourcc(fourcc), "a DDS")


def tiff_with_bad_tags() -> bytes:
    data = bytearray(encoded("TIFF"))
    first_ifd = struct.unpack("<I", data[4:8])[0]
    count = struct.unpack("<H", data[first_ifd:first_ifd + 2])[0]
    for i in range(count):  # give every non-essential tag an unknown type
        entry = first_ifd + 2 + 12 * i
        tag = struct.unpack("<H", data[entry:entry + 2])[0]
        if tag == 277:  # samples per pixel: more than any mode holds
            data[entry + 8:entry + 10] = struct.pack("<H", 2048)
        elif tag not in (256, 257, 258, 259, 262, 273, 278, 279, 284):
            data[entry + 2:entry + 4] = struct.pack("<H", 99)
    return bytes(data)


def test_decoder_warnings_never_reach_the_terminal(tmp_path):
    # In a process of its own: pytest's own log capture would hide what a user's terminal shows.
    import subprocess
    import sys
    path = tmp_path / "tags.tif"
    path.write_bytes(tiff_with_bad_tags())
    script = ("import sys\nfrom lowrankgan.photos.photo import load_photo\nfrom lowrankgan.errors import LowRankGANError\n"
              "try:\n    load_photo(sys.argv[1])\nexcept LowRankGANError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.count("\n") == 1 and "cannot read" in done.stdout


def many_scans(count: int) -> bytes:
    """A progressive JPEG whose last scan is repeated ``count`` times (a few bytes each)."""
    data = encoded("JPEG", (64, 64), progressive=True, quality=90)
    last = data.rindex(b"\xff\xda")
    scan = data[last:-2]
    return data[:-2] + scan * count + b"\xff\xd9"


def test_progressive_scans_are_counted_before_decoding():
    plain = encoded("JPEG", (64, 64), progressive=True)
    assert 2 <= jpeg_scans(plain) <= 20
    assert jpeg_scans(encoded("JPEG", (64, 64))) == 1
    assert decode_photo(plain).shape == (64, 64, 3)
    assert jpeg_scans(many_scans(MAX_JPEG_SCANS * 4)) > MAX_JPEG_SCANS * 4
    started = time.perf_counter()
    with pytest.raises(LowRankGANError, match="scans"):
        decode_photo(many_scans(50_000), "a JPEG of many scans")
    assert time.perf_counter() - started < 5


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400), st.lists(st.sampled_from([b"\xff\xda\x00\x02", b"\xff\x00", b"\xff\xd9",
                                                          b"\xff\xe0\xff\xff", b"\xff\xd0"]), max_size=30))
def test_scan_counting_never_fails_and_never_overcounts(noise, markers):
    data = b"\xff\xd8" + b"".join(m + noise[:7] for m in markers) + noise
    scans = jpeg_scans(data)
    assert 0 <= scans <= data.count(b"\xff\xda")


def test_a_photo_path_that_is_a_fifo_is_refused(tmp_path):
    import os
    os.mkfifo(tmp_path / "photo.png")
    with pytest.raises(LowRankGANError, match="not a regular file"):
        load_photo(tmp_path / "photo.png")


# ------------------------------------------------------------------------------------- pasting

def test_banded_paste_is_the_paste(monkeypatch):
    rng = np.random.default_rng(1)
    photo = rng.integers(0, 255, (90, 130, 3), dtype=np.uint8)
    al = center_alignment((130, 90), 32)
    face = torch.rand(3, 32, 32) * 2 - 1
    base = torch.rand(3, 32, 32) * 2 - 1
    whole = paste(photo, al, face, base)
    monkeypatch.setattr(ph, "PASTE_TILE_PIXELS", 7 * 90)  # bands of a few rows
    assert np.array_equal(paste(photo, al, face, base), whole)
    assert np.array_equal(paste(photo, al, face), paste(photo, al, face))
    assert not np.array_equal(whole, photo)


def test_pasting_into_a_large_photo_stays_within_its_bound():
    h, w = 3000, 4000  # 12 megapixels, 36 MB of RGB
    photo = np.full((h, w, 3), 128, np.uint8)
    al = center_alignment((w, h), 64)  # the crop covers 9 of the 12 megapixels
    face, base = torch.zeros(3, 64, 64), torch.full((3, 64, 64), -0.5)
    tracemalloc.start()
    try:  # "add": the change as it is, so the centre's value is known exactly (tone blending is banded alike)
        out = paste_many(photo, al, face[None], base, blend="add")[0]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out[h // 2, w // 2, 0] == 128 + 64  # the change was added where the crop lies
    assert out[h // 2, 10, 0] == 128  # and nowhere else
    # The output plus the band's working set; the whole-photo float64 grids took over 1 GB here.
    assert peak < photo.nbytes + 200 << 20, peak


def test_names_are_escaped_on_success_too(tmp_path, capsys, faces):
    name = tmp_path / "me\x1b[31mred\x07.png"
    Image.fromarray(np.full((70, 60, 3), 90, np.uint8)).save(tmp_path / "plain.png")
    (tmp_path / "plain.png").rename(name)
    code = main(["invert", str(name), "--steps", "1", "--restarts", "1", "--align", "center", "--device", "cpu",
                 "--no-progress", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0 and "\x1b" not in out and "\x07" not in out and "\\x1b" in out
