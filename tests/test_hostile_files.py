"""Files the project reads back, crafted to hurt: latent files and their sidecars, evaluate's log,
settings and stored directions, Ray addresses and command-line values. Each is refused in one
line (or, for the log, reported and measured again), within its bounds, touching nothing outside."""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from lowrankgan import api
from lowrankgan import evaluation as ev
from lowrankgan.cli import main
from lowrankgan.distributed.cluster import parse_address
from lowrankgan.errors import LowRankGANError, LowRankGANWarning
from lowrankgan.evaluation import log as evlog
from lowrankgan.files.latents import load_latents
from lowrankgan.limits import MAX_CODES
from lowrankgan.photos.photo import Alignment, read_alignment

ONE_LINE = "\n"


def npy_bytes(header: str, data: bytes = b"", version: int = 1) -> bytes:
    """A ``.npy`` file with any header text (numpy's own writer refuses the odd ones)."""
    text = header.encode("latin1")
    pad = 64 - (10 + len(text) + 1) % 64
    body = text + b" " * pad + b"\n"
    size = struct.pack("<H", len(body)) if version == 1 else struct.pack("<I", len(body))
    return b"\x93NUMPY" + bytes([version, 0]) + size + body + data


def save(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def npz_bytes() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, codes=np.zeros((2, 8), np.float32))
    return buf.getvalue()


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/lowrankgan-pwned",))


LATENT_CORPUS = {
    "header claims a trillion codes": npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }"),
    "header is not a dict": npy_bytes("[1, 2, 3]"),
    "header with an unterminated string": npy_bytes("{'descr': '<f4, 'shape': (2, 8)"),
    "header calling a function": npy_bytes("{'descr': __import__('os').getcwd(), 'fortran_order': False, 'shape': (1,), }"),
    "negative dimension": npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 8), }", b"\0" * 32),
    "too few bytes for the shape": npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 8), }", b"\0" * 12),
    "an npz archive": npz_bytes(),
    "a bare pickle": pickle.dumps(Evil()),
    "a pickled object array": save(np.array([Evil(), 1], dtype=object)),
    "integer codes": save(np.arange(16, dtype=np.int32).reshape(2, 8)),
    "complex codes": save(np.zeros((2, 8), np.complex64)),
    "four dimensions": save(np.zeros((1, 1, 2, 8), np.float32)),
    "no codes": save(np.zeros((0, 8), np.float32)),
    "float64 beyond float32": save(np.full((2, 8), 3e300)),
    "NaN codes": save(np.full((2, 8), np.nan, np.float32)),
    "more codes than seeds may be": save(np.zeros((MAX_CODES + 1, 1), np.float32)),
    "empty file": b"",
    "version 9": npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }")[:6] + b"\x09\x00" + b"\0" * 60,
}


@pytest.mark.parametrize("case", sorted(LATENT_CORPUS))
def test_every_crafted_latent_file_is_one_line(tmp_path, case):
    folder = tmp_path / "inv"
    folder.mkdir()
    (folder / "latent.npy").write_bytes(LATENT_CORPUS[case])
    started = time.perf_counter()
    with pytest.raises(LowRankGANError) as err:
        load_latents(folder)
    assert ONE_LINE not in str(err.value) and "\x1b" not in str(err.value)
    assert time.perf_counter() - started < 5
    assert not Path("/tmp/lowrankgan-pwned").exists()


def test_special_files_and_links_out_of_the_folder_are_refused(tmp_path):
    outside = tmp_path / "elsewhere.npy"
    outside.write_bytes(save(np.zeros((1, 8), np.float32)))
    for name, make in {"fifo": lambda p: os.mkfifo(p), "device": lambda p: p.symlink_to("/dev/zero"),
                       "link out": lambda p: p.symlink_to(outside)}.items():
        folder = tmp_path / name.replace(" ", "_")
        folder.mkdir()
        make(folder / "latent.npy")
        started = time.perf_counter()
        with pytest.raises(LowRankGANError) as err:
            load_latents(folder)
        assert time.perf_counter() - started < 5, name  # a FIFO never blocks
        assert ONE_LINE not in str(err.value)
    inside = tmp_path / "inside"
    inside.mkdir()
    (inside / "real.npy").write_bytes(save(np.ones((2, 8), np.float32)))
    (inside / "latent.npy").symlink_to("real.npy")  # a link within the folder is fine
    assert load_latents(inside).codes.shape == (2, 8)


SIDECAR_CORPUS = {
    "deep nesting": "[" * 50_000 + "]" * 50_000,
    "a 5000-digit integer": '{"latent_dim": ' + "9" * 5000 + "}",
    "Infinity": '{"latent_dim": Infinity}',
    "not UTF-8": b'{"model": "\xff\xfe"}',
    "a list": "[1, 2]",
    "latent space of another kind": '{"latent_space": "q"}',
    "alignment as a number": '{"alignment": 3}',
}


@pytest.mark.parametrize("sidecar", ["invert.json", "directions.json"])
@pytest.mark.parametrize("case", sorted(SIDECAR_CORPUS))
def test_every_crafted_sidecar_is_one_line(tmp_path, sidecar, case):
    (tmp_path / "latent.npy").write_bytes(save(np.zeros((1, 8), np.float32)))
    text = SIDECAR_CORPUS[case]
    (tmp_path / sidecar).write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(LowRankGANError) as err:
        load_latents(tmp_path)
    assert ONE_LINE not in str(err.value)


GOOD_ALIGNMENT = {"matrix": [[2.0, 0.0, 10.0], [0.0, 2.0, 5.0]], "size": 64, "photo_size": [200, 150],
                  "method": "center", "landmarks": None}
ALIGNMENT_CORPUS = {
    "infinite scale": {"matrix": [[1e999, 0, 0], [0, 1, 0]]},
    "one photo side": {"photo_size": [200]},
    "fractional photo side": {"photo_size": [200.5, 150]},
    "a photo of 10^12 pixels": {"photo_size": [1_000_000, 1_000_000]},
    "a 2x2 matrix": {"matrix": [[1, 0], [0, 1]]},
    "a singular matrix": {"matrix": [[0, 0, 1], [0, 0, 1]]},
    "nested matrix rows": {"matrix": [[[1], 0, 0], [0, 1, 0]]},
    "size as text": {"size": "64"},
    "size 10^9": {"size": 10**9},
    "landmarks of three numbers": {"landmarks": [[1, 2, 3]]},
    "a million landmarks": {"landmarks": [[1, 2]] * 1_000_001},
    "boolean size": {"size": True},
}


@pytest.mark.parametrize("case", sorted(ALIGNMENT_CORPUS))
def test_every_crafted_alignment_is_one_line(tmp_path, case):
    data = {**GOOD_ALIGNMENT, **ALIGNMENT_CORPUS[case]}
    (tmp_path / "invert.json").write_text(json.dumps({"alignment": data}).replace("Infinity", "1e999"))
    with pytest.raises(LowRankGANError) as err:
        read_alignment(tmp_path)
    assert ONE_LINE not in str(err.value)


def test_a_good_alignment_reads_back():
    al = Alignment.from_json(GOOD_ALIGNMENT)
    assert al.size == 64 and al.photo_size == (200, 150) and al.scale == pytest.approx(2.0)


def test_codes_are_bounded_and_checked_in_the_models_dtype(faces):
    d = faces.latent_dim
    with pytest.raises(LowRankGANError, match="infinite"):
        api.sample(faces, np.full((1, d), 1e300))  # finite in float64, infinite in float32
    with pytest.raises(LowRankGANError, match=f"at most {MAX_CODES}"):
        api.sample(faces, torch.zeros(MAX_CODES + 1, d))
    assert api.sample(faces, np.zeros((1, d))).shape[0] == 1


# ------------------------------------------------------------------------------------- evaluate

SMALL = dict(regions=["eyes"], seeds=[0], methods=["lowrankgan"], top_k=1, targets=[0.1], mse_strength=2.0,
             progress=False, device="cpu", examples=1, plots=False)

LOG_CORPUS = [
    "[" * 10_000 + "]" * 10_000,
    '{"region": "eyes", "method": "lowrankgan", "source": "0", "target": 0, "index": 0, "level": "t=0.1", '
    '"kind": "leak", "leak": Infinity}',
    '{"region": 5, "method": "lowrankgan", "source": "0", "target": 0, "index": 0, "level": "t=0.1"}',
    '{"region": "eyes", "method": "lowrankgan", "source": "0", "target": 0, "index": 0}',
    '{"region": "eyes", "method": "lowrankgan", "source": "0", "target": ' + "7" * 30 + ', "index": 0}',
    '{"region": "eyes", "method": "lowrankgan", "source": "0", "target": 0, "index": -4, "level": "mse@2",'
    ' "kind": "mse", "strength": 2, "mse_in": 1, "mse_out": 1}',
    '{"region": "eyes", "method": "lowrankgan", "source": "0", "target": 0, "index": 0, "level": "mse@2",'
    ' "kind": "mse", "strength": "two", "mse_in": 1, "mse_out": 1}',
    "\"just a string\"",
    "x" * 70_000,
]


@pytest.fixture(scope="module")
def finished(faces, tmp_path_factory):
    """A finished small evaluation: its folder and summary, copied by each test that tampers."""
    out = tmp_path_factory.mktemp("eval") / "out"
    return out, ev.evaluate(faces, out=out, **SMALL)


def _copy(src: Path, dst: Path) -> Path:
    import shutil
    shutil.copytree(src, dst, symlinks=True)
    return dst


def test_a_tampered_log_is_reported_and_its_cells_measured_again(faces, finished, tmp_path):
    out, summary = finished
    out = _copy(out, tmp_path / "out")
    log = out / evlog.LOG_NAME
    lines = log.read_bytes().splitlines()
    # Every valid record replaced by the corpus: everything must be measured again.
    log.write_bytes(b"\n".join(x.encode() for x in LOG_CORPUS) + b"\n\xff\xfe\n")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        again = ev.evaluate(faces, out=out, **SMALL)
    reports = [w for w in seen if issubclass(w.category, LowRankGANWarning)]
    assert len(reports) == 1 and ONE_LINE not in str(reports[0].message)
    assert f"{len(LOG_CORPUS) + 1} line(s)" in str(reports[0].message)
    assert again["new_records"] == len(lines)
    assert again["records"] == summary["records"]


def test_the_cli_reports_a_bad_log_line_in_one_line(faces, finished, tmp_path, capsys):
    out = _copy(finished[0], tmp_path / "out")
    with open(out / evlog.LOG_NAME, "a") as f:
        f.write('{"region": [[[[]]]]}\n')
    args = ["evaluate", "--region", "eyes", "--seeds", "0", "--methods", "lowrankgan", "--top-k", "1",
            "--targets", "0.1", "--mse-strength", "2", "--examples", "1", "--device", "cpu", "--no-progress",
            "--out", str(out)]
    assert main(args) == 0
    err = capsys.readouterr().err
    warned = [x for x in err.splitlines() if x.startswith("lowrankgan: warning:")]
    assert len(warned) == 1 and "Traceback" not in err


@pytest.mark.parametrize("kind", ["symlink", "hardlink"])
def test_a_log_linked_outside_out_is_never_written(faces, finished, tmp_path, kind):
    out = _copy(finished[0], tmp_path / "out")
    victim = tmp_path / "victim.txt"
    victim.write_bytes((out / evlog.LOG_NAME).read_bytes()[:-40] + b"precious, no newline at the end")
    before = victim.read_bytes()
    (out / evlog.LOG_NAME).unlink()
    (os.symlink if kind == "symlink" else os.link)(victim, out / evlog.LOG_NAME)
    with pytest.raises(LowRankGANError) as err:
        ev.evaluate(faces, out=out, **SMALL)
    assert ONE_LINE not in str(err.value)
    assert victim.read_bytes() == before


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero"])
def test_a_log_that_is_not_a_file_is_refused_at_once(faces, finished, tmp_path, kind):
    out = _copy(finished[0], tmp_path / "out")
    (out / evlog.LOG_NAME).unlink()
    os.mkfifo(out / evlog.LOG_NAME) if kind == "fifo" else os.symlink(kind, out / evlog.LOG_NAME)
    started = time.perf_counter()
    with pytest.raises(LowRankGANError):
        ev.evaluate(faces, out=out, **SMALL)
    assert time.perf_counter() - started < 30


@pytest.mark.parametrize("text", ["[" * 100_000, '{"top_k": ' + "1" * 4000 + "}", "\xff"])
def test_crafted_settings_are_other_settings(faces, finished, tmp_path, text):
    out = _copy(finished[0], tmp_path / "out")
    (out / "config.json").write_bytes(text.encode("latin1"))
    with pytest.raises(LowRankGANError, match="other settings"):
        ev.evaluate(faces, out=out, **SMALL)


@pytest.mark.parametrize("case", ["header claims a trillion codes", "an npz archive", "a pickled object array",
                                  "four dimensions", "float64 beyond float32"])
def test_crafted_stored_directions_are_one_line(faces, finished, tmp_path, case):
    out = _copy(finished[0], tmp_path / "out")
    stored = next((out / "directions").rglob("*.npy"))
    stored.write_bytes(LATENT_CORPUS[case])
    (out / evlog.LOG_NAME).write_text("")  # the cells are measured again: the stored file is read
    with pytest.raises(LowRankGANError) as err:
        ev.evaluate(faces, out=out, **SMALL)
    assert ONE_LINE not in str(err.value)


def test_stored_directions_of_the_wrong_shape_are_refused(faces, finished, tmp_path):
    out = _copy(finished[0], tmp_path / "out")
    stored = next((out / "directions").rglob("*.npy"))
    stored.write_bytes(save(np.ones((1, faces.latent_dim + 1), np.float32)))
    (out / evlog.LOG_NAME).write_text("")
    with pytest.raises(LowRankGANError, match="shape"):
        ev.evaluate(faces, out=out, **SMALL)


# ------------------------------------------------------------------------------- ray and argparse

@pytest.mark.parametrize("address", ["10.0.0.1:" + "9" * 25, "host:\u0663\u0663", "host:\u00b3", "host:65536",
                                     "host:0", "host:+80", "host: 80", "ho st:80", "host:", ":6379", "h\x1b[2J:1"])
def test_bad_ray_addresses_are_one_line(address):
    with pytest.raises(LowRankGANError) as err:
        parse_address(address)
    assert ONE_LINE not in str(err.value) and "\x1b" not in str(err.value)


def test_good_ray_addresses_parse():
    assert parse_address("ray://10.0.0.5:6379") == ("10.0.0.5", 6379)
    assert parse_address("[fe80::1]:65535") == ("fe80::1", 65535)
    assert parse_address("head.example:1") == ("head.example", 1)


@pytest.mark.parametrize("argv", [["sample", "--out", "x.png", "--trunc", "lots"], ["edit", "--index", "two"],
                                  ["invert"], ["nonsense"], ["evaluate", "--region", "eyes", "--top-k", "1.5",
                                                             "--out", "o"], ["serve", "--port", "http"]])
def test_argument_errors_are_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert err.count("\n") == 1 and err.startswith("lowrankgan: error: ") and "usage" not in err


def test_help_still_shows_the_usage(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["edit", "--help"])
    assert exit_.value.code == 0 and "usage" in capsys.readouterr().out


def test_an_npz_is_refused_by_name_with_its_zip(tmp_path):
    path = tmp_path / "codes.npy"
    path.write_bytes(npz_bytes())
    assert zipfile.is_zipfile(path)
    with pytest.raises(LowRankGANError, match="npz"):
        load_latents(path)
