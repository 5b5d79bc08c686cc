"""Property-based tests (Hypothesis) of the bounded readers: whatever the bytes, a reader returns a
value that means what it says or raises LowRankGANError in one line, never another exception."""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lowrankgan.distributed.cluster import parse_address
from lowrankgan.errors import LowRankGANError
from lowrankgan.evaluation.log import check_record, record_key
from lowrankgan.limits import parse_json
from lowrankgan.photos.photo import Alignment
from lowrankgan.readers import read_npy

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def npy_file(data: bytes) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="lowrankgan-props-"))
    path = folder / "x.npy"
    path.write_bytes(data)
    return path


def read_or_error(data: bytes, max_dims: int = 3):
    try:
        return read_npy(npy_file(data), "test file", max_dims=max_dims)
    except LowRankGANError as exc:
        assert "\n" not in str(exc)
        return None


@SETTINGS
@given(st.binary(max_size=300))
def test_any_bytes_are_an_array_or_one_line(data):
    for prefix in (b"", b"\x93NUMPY\x01\x00", b"\x93NUMPY\x02\x00", b"PK\x03\x04"):
        array = read_or_error(prefix + data)
        assert array is None or (array.dtype == np.float32 and 1 <= array.ndim <= 3 and np.isfinite(array).all())


descr = st.sampled_from(["<f4", ">f8", "<f2", "<i4", "|O", "<c8", "|b1", "<f4 ", "x", "<U3", "V8"])
dim = st.one_of(st.integers(0, 6), st.integers(-3, -1), st.just(10**12), st.just(2**63))


@SETTINGS
@given(descr, st.lists(dim, max_size=5), st.booleans(), st.integers(0, 200), st.sampled_from([1, 2, 3]))
def test_any_header_is_checked_before_the_data_is_read(kind, shape, fortran, nbytes, version):
    header = repr({"descr": kind, "fortran_order": fortran, "shape": tuple(shape)})
    text = header.encode("latin1")
    pad = 64 - (12 + len(text) + 1) % 64
    body = text + b" " * pad + b"\n"
    size = len(body).to_bytes(2 if version == 1 else 4, "little")
    raw = np.random.default_rng(nbytes).standard_normal(nbytes // 4 + 1).astype(np.float32).tobytes()[:nbytes]
    data = b"\x93NUMPY" + bytes([version, 0]) + size + body + raw
    array = read_or_error(data, max_dims=5)
    if array is not None:
        assert list(array.shape) == shape
        reference = np.load(io.BytesIO(data), allow_pickle=False)
        assert np.array_equal(array, reference.astype(np.float32))


@SETTINGS
@given(st.lists(st.integers(1, 5), min_size=1, max_size=3), st.sampled_from([np.float16, np.float32, np.float64]))
def test_numpys_own_files_read_back_exactly(shape, dtype):
    array = np.random.default_rng(len(shape)).standard_normal(shape).astype(dtype)
    buf = io.BytesIO()
    np.save(buf, array)
    assert np.array_equal(read_npy(npy_file(buf.getvalue()), "test file", max_dims=3), array.astype(np.float32))


json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**25, 10**25), st.floats(allow_nan=False), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20)
record_field = st.sampled_from(["region", "method", "source", "target", "index", "level", "kind", "leak", "strength",
                                "mse_in", "mse_out", "multiple", "path_steps"])


@SETTINGS
@given(st.dictionaries(record_field, json_value, max_size=12), st.binary(max_size=40))
def test_any_log_line_is_a_record_or_one_line(fields, noise):
    base = {"region": "eyes", "method": "lowrankgan", "source": "0", "target": 0, "index": 0, "level": "mse@2",
            "kind": "mse", "strength": 2.0, "mse_in": 0.1, "mse_out": "inf"}
    for line in (json.dumps({**base, **fields}).encode(), noise, json.dumps(fields).encode()):
        try:
            rec = check_record(parse_json(line, "line 1"), "line 1")
        except LowRankGANError as exc:
            assert "\n" not in str(exc)
            continue
        key = record_key(rec)
        assert isinstance(key[3], int) and key[3] >= 0 and all(isinstance(k, str) for k in (key[0], key[1], key[5]))


@SETTINGS
@given(st.dictionaries(st.sampled_from(["matrix", "size", "photo_size", "method", "landmarks"]), json_value, max_size=5),
       st.lists(st.lists(st.floats(-1e8, 1e8), min_size=3, max_size=3), min_size=2, max_size=2))
def test_any_recorded_alignment_is_usable_or_one_line(fields, matrix):
    for data in (fields, {"matrix": matrix, "size": 64, "photo_size": [100, 80], **fields}):
        try:
            al = Alignment.from_json(data)
        except LowRankGANError as exc:
            assert "\n" not in str(exc)
            continue
        assert al.matrix.shape == (2, 3) and np.isfinite(al.inverse()).all()
        assert 1 <= al.size and al.photo_size[0] * al.photo_size[1] <= 40_000_000


@SETTINGS
@given(st.text(max_size=40))
def test_any_ray_address_is_a_port_in_range_or_one_line(text):
    try:
        host, port = parse_address(text)
    except LowRankGANError as exc:
        assert "\n" not in str(exc)
        return
    assert 1 <= port <= 65535 and host and host.isascii()
