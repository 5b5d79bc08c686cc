"""Property-based tests (Hypothesis) of the parsers that read outside input: whatever the input,
they return a well-formed value or raise LowRankGANError, never another exception, and what they
accept means what it says."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from lowrankgan.files.directionfile import load_directions, read_npy
from lowrankgan.maths.edit import MAX_STRENGTH, parse_int_list, parse_strengths
from lowrankgan.errors import LowRankGANError
from lowrankgan.limits import json_depth, parse_json, printable
from lowrankgan.maths.regions import mask_to_spec, parse_region

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RES = 32
PRESETS = {"eyes": "box:8,4,6,24", "mouth": "box:22,10,5,12"}


# ----------------------------------------------------------------------------------- region specs

box = st.tuples(st.integers(0, RES - 1), st.integers(0, RES - 1), st.integers(1, RES), st.integers(1, RES))


@SETTINGS
@given(st.lists(box, min_size=1, max_size=6))
def test_region_spec_is_the_union_of_its_boxes(boxes):
    expected = np.zeros((RES, RES), bool)
    parts = []
    for top, left, h, w in boxes:
        h, w = min(h, RES - top), min(w, RES - left)
        expected[top:top + h, left:left + w] = True
        parts.append(f"box:{top},{left},{h},{w}")
    assume(not expected.all())
    assert np.array_equal(parse_region("+".join(parts), RES).mask, expected)
    assert np.array_equal(parse_region(mask_to_spec(expected), RES).mask, expected)


spec_text = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(st.sampled_from(["eyes", "mouth", "box:", "nope.png", "+", ",", "-1", "1e9"]),
                       st.integers(-5, 10**12).map(str)), max_size=12).map("".join),
    st.lists(st.integers(-3, 40).map(str), min_size=0, max_size=6).map(lambda v: "box:" + ",".join(v)))


@SETTINGS
@given(spec_text)
def test_any_region_text_is_a_mask_or_one_clear_error(spec):
    try:
        region = parse_region(spec, RES, PRESETS)
    except LowRankGANError as exc:
        assert "\n" not in str(exc) and "\x1b" not in str(exc)
        return
    assert region.mask.shape == (RES, RES) and region.mask.any() and not region.mask.all()


# ----------------------------------------------------------------------------------- seed lists

span = st.tuples(st.integers(0, 50), st.integers(0, 20))


@SETTINGS
@given(st.lists(span, min_size=1, max_size=5))
def test_seed_lists_expand_as_written(spans):
    text = ",".join(f"{a}-{a + n}" if n else str(a) for a, n in spans)
    assert parse_int_list(text) == [v for a, n in spans for v in range(a, a + n + 1)]


@SETTINGS
@given(st.integers(0, 2**70), st.integers(0, 2**70))
def test_huge_ranges_are_refused_without_building_them(a, b):
    lo, hi = min(a, b), max(a, b)
    try:
        seeds = parse_int_list(f"{lo}-{hi}")
    except LowRankGANError as exc:
        assert "too many seeds" in str(exc) or "too large" in str(exc)
        assert hi - lo + 1 > 10_000 or hi > 2**63 - 1
        return
    assert len(seeds) == hi - lo + 1 <= 10_000 and seeds[-1] <= 2**63 - 1


@SETTINGS
@given(st.text(max_size=40))
def test_any_seed_text_is_a_list_or_one_clear_error(text):
    try:
        seeds = parse_int_list(text)
    except LowRankGANError:
        return
    assert seeds and all(0 <= s <= 2**63 - 1 for s in seeds) and len(seeds) <= 10_000


# ----------------------------------------------------------------------------------- strengths

@SETTINGS
@given(st.one_of(st.text(max_size=30),
                 st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=5).map(
                     lambda v: ",".join(map(repr, v))),
                 st.tuples(st.floats(), st.floats(), st.integers(-2, 300)).map(lambda t: f"{t[0]}:{t[1]}:{t[2]}")))
def test_strengths_are_finite_or_one_clear_error(text):
    try:
        values = parse_strengths(text)
    except LowRankGANError:
        return
    assert 1 <= len(values) <= 256
    assert all(np.isfinite(v) and abs(v) <= MAX_STRENGTH * 1.0001 for v in values)


# ----------------------------------------------------------------------------------- direction JSON

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
              st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=20)

FIELDS = ["model", "model_family", "latent_space", "latent_dim", "layers", "region", "analysis_size",
          "params", "seeds", "trunc", "info", "timing_s", "format_version", "shape", "region_fraction"]


def _load_with_sidecar(data: bytes):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        np.save(folder / "directions.npy", np.eye(2, 100, dtype=np.float32))
        (folder / "directions.json").write_bytes(data)
        return load_directions(folder)


@SETTINGS
@given(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6))
def test_any_sidecar_fields_load_or_name_the_field(meta):
    try:
        dirset = _load_with_sidecar(json.dumps(meta).encode())
    except LowRankGANError as exc:
        assert "\n" not in str(exc)
        return
    for key in ("analysis_size", "latent_dim"):
        if dirset.meta.get(key) is not None:
            assert isinstance(dirset.meta[key], int) and not isinstance(dirset.meta[key], bool)
    if dirset.meta.get("layers") is not None:
        assert all(isinstance(v, int) and 0 <= v < 64 for v in dirset.meta["layers"])
    assert isinstance(dirset.meta.get("params", {}), dict)


@SETTINGS
@given(st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode())))
def test_any_sidecar_bytes_load_or_fail_cleanly(data):
    try:
        _load_with_sidecar(data)
    except LowRankGANError:
        pass


@SETTINGS
@given(st.text(alphabet='[]{}"\\ab,:', max_size=60))
def test_json_depth_matches_the_parser(text):
    try:
        value = json.loads(text)
    except ValueError:
        return

    def depth(v):
        if isinstance(v, list):
            return 1 + max((depth(x) for x in v), default=0)
        if isinstance(v, dict):
            return 1 + max((depth(x) for x in v.values()), default=0)
        return 0
    assert json_depth(text) == depth(value)
    assert parse_json(text.encode(), "x", max_depth=100) == value


@SETTINGS
@given(st.text(max_size=80))
def test_printable_leaves_no_control_characters(text):
    out = printable(text, 1000)
    assert all(c.isprintable() for c in out)


# ----------------------------------------------------------------------------------- npy headers

@SETTINGS
@given(st.sampled_from(["<f2", "<f4", ">f8", "<i4", "|O", "<c8", "|b1", "<U3", "x"]),
       st.lists(st.integers(0, 10**7), max_size=4), st.booleans(), st.integers(0, 400))
def test_npy_headers_are_checked_before_reading(descr, shape, fortran, nbytes):
    header = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {tuple(shape)}, }}"
    text = header + " " * (-(10 + len(header) + 1) % 64) + "\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.npy"
        path.write_bytes(b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode() + b"\0" * nbytes)
        try:
            array = read_npy(path, "direction file", max_dims=3)
        except LowRankGANError:
            return
    assert descr in ("<f2", "<f4", ">f8") and 1 <= len(shape) <= 3
    assert array.shape == tuple(shape) and array.dtype == np.float32


# ----------------------------------------------------------------------------------- mask images

@SETTINGS
@given(st.integers(1, 64), st.integers(1, 64), st.sampled_from(["L", "RGB", "RGBA", "1", "P"]),
       st.integers(0, 2**32 - 1))
def test_mask_images_threshold_at_half(width, height, mode, seed):
    rng = np.random.default_rng(seed)
    gray = (rng.random((height, width)) > 0.5).astype(np.uint8) * 255
    image = Image.fromarray(gray).convert(mode)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.png"
        image.save(path)
        try:
            region = parse_region(str(path), RES)
        except LowRankGANError as exc:
            assert "empty" in str(exc) or "whole image" in str(exc)
            return
    assert region.mask.shape == (RES, RES)
    if (width, height) == (RES, RES):
        assert np.array_equal(region.mask, gray >= 128)


@SETTINGS
@given(st.binary(max_size=300))
def test_any_mask_bytes_are_a_mask_or_one_clear_error(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.png"
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + data if data[:1] == b"\0" else data)
        try:
            parse_region(str(path), RES)
        except LowRankGANError:
            pass


def test_a_png_claiming_a_huge_size_is_refused_from_its_header(tmp_path):
    import hostile_inputs as H
    path = H.png_header_only(tmp_path / "m.png", 5000, 5000)
    with pytest.raises(LowRankGANError, match="5000x5000 pixels"):
        parse_region(str(path), RES)
