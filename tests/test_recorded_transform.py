"""The StyleGAN3 input transform directions were found at travels with them: `directions --translate
--rotate` records it in directions.json, and every `edit` mode applies it (explicit --translate /
--rotate win), so an edit is of the picture the directions were found on, not the unmoved one."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from lowrankgan import api
from lowrankgan.cli import main
from lowrankgan.files.directionfile import load_directions
from lowrankgan.models.stylegan3 import build_generator
from lowrankgan.maths.regions import parse_region
from lowrankgan.files.report import grid_image, to_uint8
from helpers import run_cli as cli

from test_stylegan2 import _one_thread, fake_modules  # noqa: F401
from test_stylegan3 import _cfg, write_sg3_pkl

SEED = 1
REGION = "box:8,8,12,12"
MOVE = ((0.125, 0.0625), 15.0)  # 4 px right, 2 px down, 15 degrees
MOVE_ARGS = ["--translate", "0.125,0.0625", "--rotate", "15"]
NOTE = "applying the direction file's input transform (translate 0.125,0.0625, rotate 15 degrees)"


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tmp_path_factory.mktemp("sg3rec") / "tiny-sg3.pkl"


@pytest.fixture(autouse=True)
def _written(ckpt, fake_modules):
    if not ckpt.exists():
        write_sg3_pkl(ckpt, build_generator(_cfg(), seed=3), fake_modules)


@pytest.fixture
def moved_dirs(ckpt, _written):
    """Directions found on seed 1's picture moved and turned first, from the command line (once:
    a function fixture, as the pickle needs the function-scoped stand-in modules to be written)."""
    out = ckpt.parent / "dirs"
    if not out.exists():
        assert main(["directions", "--model", str(ckpt), "--seed", str(SEED), "--region", REGION, "--space", "w",
                     "--top-k", "2", "--device", "cpu", "--out", str(out), *MOVE_ARGS]) == 0
    return out


@pytest.fixture
def gen(ckpt, _written):
    return api.load_model(str(ckpt), device="cpu")


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def grid(images, strengths, mask=None) -> np.ndarray:
    return np.asarray(grid_image(images, strengths, mask).convert("RGB"))


def test_directions_record_the_transform_only_when_there_is_one(moved_dirs, ckpt, tmp_path):
    meta = json.loads((moved_dirs / "directions.json").read_text())
    assert meta["translate"] == [0.125, 0.0625] and meta["rotate"] == 15.0
    assert api.recorded_transform(load_directions(moved_dirs)) == MOVE
    still = tmp_path / "still"
    assert main(["directions", "--model", str(ckpt), "--seed", str(SEED), "--region", REGION, "--space", "w",
                 "--top-k", "1", "--device", "cpu", "--out", str(still)]) == 0
    meta = json.loads((still / "directions.json").read_text())
    assert "translate" not in meta and "rotate" not in meta


def test_every_edit_mode_applies_the_recorded_transform(moved_dirs, ckpt, gen, tmp_path, capsys):
    dirset, strengths = load_directions(moved_dirs), [-2.0, 0.0, 2.0]
    base = ["edit", "--model", ckpt, "--directions", moved_dirs, "--seeds", SEED, "--device", "cpu"]
    # --strengths (with --outline): the API's edit inside the transform, not the unmoved picture's.
    code, out, err = cli(capsys, *base, "--strengths", "-2:2:3", "--outline", "--out", tmp_path / "s.png")
    assert code == 0 and NOTE in out, err
    mask = parse_region(REGION, 32).mask
    with api.input_transform(gen, *MOVE):
        want = grid(api.edit(gen, dirset, [SEED], strengths), strengths, mask)
    still = grid(api.edit(gen, dirset, [SEED], strengths), strengths, mask)
    assert (pixels(tmp_path / "s.png") == want).all() and not (want == still).all()
    # An explicit transform wins (here: none), and nothing is said about the recorded one.
    code, out, _ = cli(capsys, *base, "--strengths", "-2:2:3", "--outline", "--rotate", "0", "--out", tmp_path / "n.png")
    assert code == 0 and "input transform" not in out and (pixels(tmp_path / "n.png") == still).all()
    # --alphas: the composed edit on the moved picture.
    code, out, _ = cli(capsys, *base, "--alphas", "1.5,-1", "--out", tmp_path / "a.png")
    with api.input_transform(gen, *MOVE):
        want = np.asarray(Image.fromarray(to_uint8(api.composed_edit(gen, dirset, [SEED], [1.5, -1]))[0]))
    assert code == 0 and NOTE in out and (pixels(tmp_path / "a.png") == want).all()
    # Path following: each step's Jacobian is the moved picture's.
    code, out, _ = cli(capsys, *base, "--strengths", "-2:2:3", "--path-steps", "1", "--path-follow", "project",
                       "--out", tmp_path / "p.png")
    with api.input_transform(gen, *MOVE):
        want = grid(api.path_edit(gen, dirset, [SEED], strengths, 1), strengths)
    assert code == 0 and NOTE in out and (pixels(tmp_path / "p.png") == want).all()
    # A GIF: as with the transform given explicitly, unlike without.
    gifs = {}
    for name, extra in (("recorded", []), ("explicit", MOVE_ARGS), ("none", ["--translate", "0,0"])):
        assert cli(capsys, *base, "--strengths", "-2:2:3", *extra, "--out", tmp_path / f"{name}.gif")[0] == 0
        gifs[name] = (tmp_path / f"{name}.gif").read_bytes()
    assert gifs["recorded"] == gifs["explicit"] != gifs["none"]


def test_page_zips_from_before_the_field_still_apply_their_transform(moved_dirs, ckpt, tmp_path, capsys):
    """Page ZIPs written before ``translate`` / ``rotate`` recorded ``slider_translate`` / ``slider_rotate``."""
    old = tmp_path / "old"
    old.mkdir()
    meta = json.loads((moved_dirs / "directions.json").read_text())
    meta["slider_translate"], meta["slider_rotate"] = meta.pop("translate"), meta.pop("rotate")
    (old / "directions.json").write_text(json.dumps(meta))
    for name in ("directions.npy", "latent.npy"):
        (old / name).write_bytes((moved_dirs / name).read_bytes())
    assert api.recorded_transform(load_directions(old)) == MOVE
    outs = []
    for folder in (old, moved_dirs):
        out = tmp_path / f"{folder.name}.png"
        code, text, _ = cli(capsys, "edit", "--model", ckpt, "--directions", folder, "--seeds", SEED,
                            "--strengths", "-2:2:3", "--device", "cpu", "--out", out)
        assert code == 0 and NOTE in text
        outs.append(pixels(out))
    assert (outs[0] == outs[1]).all()


@pytest.mark.parametrize("fields, message", [
    ({"translate": [9, 0]}, "translate[0]"),
    ({"translate": ["x", 0]}, "translate[0]"),
    ({"translate": [0.1]}, "'translate' must be a list of two numbers"),
    ({"rotate": "x"}, "rotate must be a number"),
    ({"rotate": [15]}, "rotate must be a number"),
])
def test_recorded_transform_is_checked(moved_dirs, ckpt, tmp_path, capsys, fields, message):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "directions.npy").write_bytes((moved_dirs / "directions.npy").read_bytes())
    meta = {**json.loads((moved_dirs / "directions.json").read_text()), **fields}
    (bad / "directions.json").write_text(json.dumps(meta))
    code, _, err = cli(capsys, "edit", "--model", ckpt, "--directions", bad, "--seeds", SEED, "--out", tmp_path / "x.png")
    assert code == 2 and message in err and err.count("\n") == 1 and not (tmp_path / "x.png").exists()


def test_a_model_without_an_input_transform_refuses_a_moved_file(tmp_path, capsys, faces):
    folder = tmp_path / "d"
    folder.mkdir()
    np.save(folder / "directions.npy", np.eye(2, 100, dtype=np.float32))
    (folder / "directions.json").write_text(json.dumps({"model": "dcgan-faces", "latent_space": "z",
                                                        "translate": [0.1, 0.0], "rotate": 0.0}))
    for extra in ([], ["--alphas", "1"]):
        code, out, err = cli(capsys, "edit", "--directions", folder, "--seeds", "0", *extra, "--out", tmp_path / "x.png")
        assert code == 2 and err.count("\n") == 1 and not (tmp_path / "x.png").exists()
        assert "no input transform" in err and "translate 0.1,0" in err and "StyleGAN3" in err
    # Said explicitly that the picture is not moved, the directions apply as they are.
    code, _, err = cli(capsys, "edit", "--directions", folder, "--seeds", "0", "--translate", "0,0",
                       "--out", tmp_path / "x.png")
    assert code == 0, err
