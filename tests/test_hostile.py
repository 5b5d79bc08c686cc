"""Hostile and broken inputs through the command line: each crafted file or value is refused with
exit code 2 and one `lowrankgan: error:` line, no traceback, within a memory limit and a timeout,
and leaves no file behind. Each case runs in its own process (see hostile_inputs.run_cases)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import hostile_inputs as H
from lowrankgan.cli import main
from lowrankgan.errors import LowRankGANError

MEMORY_MB = 1500  # above what the runner has mapped already: far below what the attacks ask for


@pytest.fixture(scope="module")
def cases(tmp_path_factory, faces):
    """(name, argv, files the case's folder must hold afterwards) for every hostile input."""
    root = tmp_path_factory.mktemp("hostile")
    before = set(sys.modules)
    made: list[dict] = []

    def case(name, argv, setup=None):
        cwd = root / name
        cwd.mkdir()
        if setup is not None:
            setup(cwd)
        made.append({"name": name, "argv": [str(a) for a in argv], "cwd": str(cwd), "files": H.listing(cwd)})

    def model_case(name, writer):
        case(name, ["models", "ckpt"], lambda d: writer(d / "ckpt"))

    # Checkpoints: sizes the loaders must check before building anything.
    model_case("nvidia-shared-records", H.nvidia_shared_records)
    model_case("nvidia-mapping-1e7-layers", lambda p: H.nvidia_kwargs(p, mapping_kwargs={"num_layers": 10**7}))
    model_case("nvidia-dims-12000", lambda p: H.nvidia_kwargs(p, z_dim=12000, w_dim=12000))
    model_case("nvidia-expanded-tensor", H.nvidia_expanded_tensor)
    model_case("tf-wide-components", H.tf_wide_components)
    model_case("dcgan-30M-layers", lambda p: H.torch_file(p, H.dcgan_state(**{"main.30000000.bias": H.torch.ones(1)})))
    model_case("dcgan-layer-64", lambda p: H.torch_file(p, H.dcgan_state(**{"main.64.bias": H.torch.ones(1)})))
    model_case("dcgan-key-main.x", lambda p: H.torch_file(p, H.dcgan_state(**{"main.x.weight": H.torch.ones(1)})))
    model_case("dcgan-key-main.", lambda p: H.torch_file(p, {"main.": H.torch.ones(1)}))
    model_case("dcgan-integer-key", lambda p: H.torch_file(p, {0: H.torch.ones(1), "main.0.weight": H.torch.ones(1)}))
    model_case("dcgan-0dim-running-mean", lambda p: H.torch_file(p, H.dcgan_state(**{"main.1.running_mean": H.torch.tensor(0.0)})))
    model_case("dcgan-expanded-40000", lambda p: H.torch_file(p, {"main.0.weight": H.torch.zeros(1).expand(1, 1, 40000, 40000)}))
    model_case("dcgan-nan-weights", lambda p: H.torch_file(p, H.dcgan_state(**{"main.3.weight": H.torch.full((8, 3, 4, 4), float("nan"))})))
    model_case("dcgan-inf-weights", lambda p: H.torch_file(p, H.dcgan_state(**{"main.1.running_var": H.torch.full((8,), float("inf"))})))
    model_case("dcgan-layers-do-not-chain", lambda p: H.torch_file(p, H.dcgan_state(**{"main.3.weight": H.torch.zeros(5, 3, 4, 4)})))
    model_case("zip-bomb", H.zip_bomb)
    model_case("legacy-storage-claim", H.legacy_storage_claim)
    model_case("sparse-giant", H.sparse_giant)
    case("model-fifo", ["models", "ckpt"], lambda d: os.mkfifo(d / "ckpt"))
    case("model-symlink-dev-zero", ["sample", "--model", "ckpt", "--out", "o.png"],
         lambda d: os.symlink("/dev/zero", d / "ckpt"))

    def biggan(config):
        def setup(d):
            (d / "bg").mkdir()
            (d / "bg" / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
            (d / "bg" / "pytorch_model.bin").write_bytes(b"")
        return setup
    case("biggan-config-deep", ["models", "bg"], biggan("[" * 100_000 + "]" * 100_000))
    case("biggan-config-list", ["models", "bg"], biggan([1, 2, 3]))
    case("biggan-channel-width-1e5", ["models", "bg"], biggan({"channel_width": 100_000}))
    case("biggan-layers-wrong", ["models", "bg"], biggan({"layers": [[True, 16]]}))

    # Direction files.
    def edit(name, setup, *extra):
        case(name, ["edit", "--directions", "d", "--seeds", "0", "--out", "out.png", *extra], setup)

    def meta(m):
        return lambda d: H.direction_folder(d / "d", m)

    def raw(data):
        return lambda d: H.direction_folder(d / "d", raw_json=data)

    def json_to_dev_zero(d):
        H.direction_folder(d / "d")
        os.symlink("/dev/zero", d / "d" / "directions.json")

    def npy_fifo(d):
        (d / "d").mkdir()
        os.mkfifo(d / "d" / "directions.npy")

    def npy(header, data=b""):
        def setup(d):
            (d / "d").mkdir()
            H.npy_with_header(d / "d" / "directions.npy", header, data)
        return setup

    edit("json-symlink-dev-zero", json_to_dev_zero)
    edit("npy-fifo", npy_fifo)
    edit("npy-huge-shape", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }", b"\0" * 64))
    edit("npy-int-dtype", npy("{'descr': '<i8', 'fortran_order': False, 'shape': (1, 100), }", b"\0" * 800))
    edit("npy-object-dtype", npy("{'descr': '|O', 'fortran_order': False, 'shape': (1, 100), }", b"\0" * 800))
    edit("npy-bad-header", npy("{'descr': '<f4', 'shape': __import__('os')}"))
    edit("npy-truncated", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 100), }", b"\0" * 100))
    edit("json-analysis-size-4097", meta({"analysis_size": 4097}), "--path-steps", "1")
    edit("json-5000-digit-int", raw(b'{"analysis_size": ' + b"9" * 5000 + b"}"))
    edit("json-200k-deep", raw(b"[" * 200_000 + b"]" * 200_000))
    edit("json-top-level-list", raw(b"[1, 2]"))
    edit("json-top-level-string", raw(b'"hello"'))
    edit("json-invalid-utf8", raw(b'{"model": "\xff\xfe"}'))
    edit("json-params-string", meta({"params": "lam"}))
    edit("json-lambda-negative", meta({"params": {"lambda": -1}}))
    edit("json-lambda-string", meta({"params": {"lambda": "big"}}))
    edit("json-region-number", meta({"region": 5}))
    edit("json-region-outside-folder", meta({"region": "../../secret.png"}), "--outline")
    edit("json-layers-string", meta({"layers": "4-7"}))
    edit("json-layers-huge", meta({"layers": [10**15]}))
    edit("json-latent-space-bad", meta({"latent_space": "q"}))
    edit("json-model-escape-sequence", meta({"model": "\x1b[31mevil\x1b[0m\r\nlowrankgan: ok",
                                             "model_family": "other"}))

    # Masks.
    case("mask-bomb-20000", ["directions", "--seed", "0", "--region", "m.png", "--out", "o"],
         lambda d: H.png_header_only(d / "m.png", 20000, 20000))
    case("mask-12000", ["directions", "--seed", "0", "--region", "m.png", "--out", "o"],
         lambda d: H.png_header_only(d / "m.png", 12000, 12000, rows=12000))
    case("mask-not-an-image", ["directions", "--seed", "0", "--region", "m.png", "--out", "o"],
         lambda d: (d / "m.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really"))
    case("mask-fifo", ["directions", "--seed", "0", "--region", "m.png", "--out", "o"],
         lambda d: os.mkfifo(d / "m.png"))

    # Command-line values, checked before any work.
    case("seeds-0-99999999", ["sample", "--seeds", "0-99999999", "--out", "o.png"])
    case("seed-2**66", ["sample", "--seeds", str(2**66), "--out", "o.png"])
    case("directions-seed-2**66", ["directions", "--seed", str(2**66), "--region", "eyes", "--out", "o"])
    case("strengths-nan-inf", ["edit", "--directions", "d", "--strengths", "nan,inf", "--out", "o.png"], meta({}))
    case("strengths-inf-range", ["edit", "--directions", "d", "--strengths", "-inf:3:7", "--out", "o.png"], meta({}))
    case("trunc-nan", ["sample", "--trunc", "nan", "--out", "o.png"])
    case("path-steps-1e9", ["edit", "--directions", "d", "--path-steps", "1000000000", "--out", "o.png"], meta({}))
    case("evaluate-source-seed-2**66", ["evaluate", "--region", "eyes", "--source-seed", str(2**66), "--out", "o"])
    case("out-proc", ["sample", "--seeds", "0", "--out", "/proc/lowrankgan-x.png"])
    case("out-is-a-folder", ["sample", "--seeds", "0", "--out", "o.png"], lambda d: (d / "o.png").mkdir())
    case("sample-dir-grid-is-a-folder", ["sample", "--seeds", "0-1", "--out", "o"],
         lambda d: (d / "o" / "grid.png").mkdir(parents=True))
    case("directions-json-is-a-folder", ["directions", "--seed", "0", "--region", "eyes", "--out", "o"],
         lambda d: (d / "o" / "directions.json").mkdir(parents=True))
    case("cache-size-bad", ["directions", "--seed", "0", "--region", "eyes", "--out", "o", "--cache-size", "lots"])

    for name in set(sys.modules) - before:  # the stand-in modules the pickles were written with
        del sys.modules[name]
    return made


@pytest.fixture(scope="module")
def results(cases):
    return {r["name"]: r for r in H.run_cases(cases, MEMORY_MB, timeout=60)}


@pytest.mark.slow
def test_every_hostile_input_is_one_line_exit_2_nothing_left(cases, results):
    problems = []
    for case in cases:
        r = results[case["name"]]
        lines = r["stderr"].strip().splitlines()
        left = H.listing(Path(case["cwd"]))
        if r["timed_out"]:
            problems.append(f"{case['name']}: still running after 60 s")
        elif r["rc"] != 2 or len(lines) != 1 or not lines[0].startswith("lowrankgan: error: "):
            problems.append(f"{case['name']}: rc {r['rc']}, stderr {r['stderr'][-600:]!r}")
        elif "Traceback" in r["stderr"] or "\x1b" in r["stderr"]:
            problems.append(f"{case['name']}: {r['stderr']!r}")
        elif left != case["files"]:
            problems.append(f"{case['name']}: left {sorted(set(left) - set(case['files']))}")
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_messages_name_the_problem(results):
    assert not set(MESSAGES) - set(results), "cases without a crafted input"
    wrong = {name: results[name]["stderr"] for name, expected in MESSAGES.items()
             if expected not in results[name]["stderr"]}
    assert not wrong, wrong


MESSAGES = {
    "nvidia-mapping-1e7-layers": "mapping_layers = 10000000 is beyond",
    "nvidia-dims-12000": "z_dim = 12000 is beyond",
    "nvidia-expanded-tensor": "larger than its storage",
    "dcgan-30M-layers": "main.30000000.bias",
    "dcgan-expanded-40000": "claims more bytes than its storage",
    "dcgan-nan-weights": "NaN or infinite",
    "zip-bomb": "zip bomb",
    "sparse-giant": "sparse tensor",
    "biggan-channel-width-1e5": "channel_width = 100000 is out of range",
    "json-symlink-dev-zero": "not a regular file",
    "npy-fifo": "not a regular file",
    "model-fifo": "not a regular file",
    "npy-huge-shape": "the header says shape [1000000, 1000000]",
    "json-analysis-size-4097": "analysis_size = 4097 is out of range 2..4096",
    "json-200k-deep": "nests more than",
    "json-invalid-utf8": "not UTF-8",
    "json-params-string": "field 'params'",
    "json-lambda-negative": "params.lambda",
    "json-region-number": "field 'region'",
    "json-region-outside-folder": "outside the direction folder",
    "json-layers-huge": "layers[0]",
    "json-model-escape-sequence": "\\x1b[31mevil",
    "mask-bomb-20000": "claims more than 16777216 pixels",
    "mask-12000": "12000x12000 pixels",
    "seeds-0-99999999": "too many --seeds (100000000)",
    "trunc-nan": "truncation nan",
    "out-proc": "not writable",
    "sample-dir-grid-is-a-folder": "is not a plain file",
}


# ------------------------------------------------------------------------------- in-process parts

def test_region_paths_resolve_inside_the_direction_folder(tmp_path, monkeypatch, faces, capsys):
    folder = H.direction_folder(tmp_path / "d", {"region": "mask.png"})
    mask = np.zeros((64, 64), np.uint8)
    mask[20:30, 10:40] = 255
    Image.fromarray(mask).save(folder / "mask.png")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the mask is found beside directions.json, not in the working folder
    assert main(["edit", "--directions", str(folder), "--seeds", "0", "--strengths", "0,1",
                 "--out", "o.png", "--outline"]) == 0, capsys.readouterr().err
    from lowrankgan.files.directionfile import load_directions
    assert load_directions(folder).meta["region"] == str((folder / "mask.png").resolve())


def test_failed_sample_into_a_folder_leaves_nothing(tmp_path, monkeypatch, faces, capsys):
    from lowrankgan.cli import commands as cli

    calls = []

    def failing_save(image, path):  # the disk fills up at the second file
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        image.save(path, format="PNG")
    monkeypatch.setattr(cli.api, "save_png", failing_save)
    out = tmp_path / "samples"
    assert main(["sample", "--seeds", "0-2", "--out", str(out)]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert not out.exists() and H.listing(tmp_path) == []


def test_sample_into_a_folder_of_other_files_adds_them_when_forced(tmp_path, faces):
    out = tmp_path / "samples"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["sample", "--seeds", "3-4", "--out", str(out)]) == 2  # not empty: --force to write beside
    assert H.listing(tmp_path) == ["samples", "samples/keep.txt"]
    assert main(["sample", "--seeds", "3-4", "--out", str(out), "--force"]) == 0
    assert H.listing(tmp_path) == ["samples", "samples/grid.png", "samples/keep.txt",
                                   "samples/seed0003.png", "samples/seed0004.png"]


@pytest.mark.slow
def test_files_of_every_method_pass_the_sidecar_checks(tmp_path, faces):
    from lowrankgan import api
    from lowrankgan.files.directionfile import load_directions, save_directions
    from lowrankgan.maths.methods import METHODS
    for method in METHODS:
        dirset = api.find_directions(faces, 0, "eyes", method=method, top_k=2, analysis_size=16, progress=False)
        dirset.meta = json.loads(json.dumps(dirset.meta))  # as the file will hold it
        loaded = load_directions(save_directions(dirset, tmp_path / method))
        assert loaded.meta["params"] == dirset.meta["params"] and loaded.meta["region"] == "eyes"
        assert np.allclose(loaded.vectors, dirset.vectors, atol=1e-6)


def test_non_finite_grams_are_refused_before_any_factorisation(faces):
    from lowrankgan.maths.jacobian import RegionGrams
    from lowrankgan.maths.methods import METHODS, find
    M = torch.eye(100, dtype=torch.float64)
    for bad in (float("nan"), float("inf")):
        broken = M.clone()
        broken[3, 3] = bad
        for method in ("lowrankgan", "resefa"):
            assert method in METHODS
            with pytest.raises(LowRankGANError, match="NaN or infinite"):
                find(RegionGrams(broken, M, 10, 90, faces, "z", None), method)
