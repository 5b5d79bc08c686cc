"""Commands that read a direction folder or a latent file use the model the file records when
--model is not given, say so in one line, and refuse another model naming the fix."""

import json

import numpy as np
import pytest
from PIL import Image

from lowrankgan.cli import main

from helpers import run_cli as run


@pytest.fixture(scope="module")
def eyes_dirs(tmp_path_factory, eyes_model):
    out = tmp_path_factory.mktemp("dirs") / "iris"
    assert main(["directions", "--model", "omniart-eyes", "--class", "green", "--seed", "3",
                 "--region", "box:40,40,48,48", "--top-k", "2", "--analysis-size", "32", "--out", str(out)]) == 0
    return out


def test_edit_uses_the_recorded_model_and_class(capsys, tmp_path, eyes_dirs):
    # (the straight line: which model is used is the question here, not the path)
    code, out, err = run(capsys, "edit", "--directions", eyes_dirs, "--seeds", "3", "--strengths", "-2:2:3",
                         "--path", "straight", "--out", tmp_path / "e.png")
    assert code == 0, err
    assert f"using model omniart-eyes (class green), recorded in {eyes_dirs}; --model overrides it" in out
    # The same picture as with --model and --class named: the recorded model and class were used.
    img = np.asarray(Image.open(tmp_path / "e.png"))
    code, _, err = run(capsys, "edit", "--model", "omniart-eyes", "--class", "green", "--directions", eyes_dirs,
                       "--seeds", "3", "--strengths", "-2:2:3", "--path", "straight", "--out", tmp_path / "named.png")
    assert code == 0, err
    assert np.array_equal(img, np.asarray(Image.open(tmp_path / "named.png")))


def test_another_model_is_refused_naming_the_fix(capsys, tmp_path, eyes_dirs):
    code, _, err = run(capsys, "edit", "--model", "dcgan-faces", "--directions", eyes_dirs, "--seeds", "0",
                       "--out", tmp_path / "x.png")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert (f"{eyes_dirs} was made with omniart-eyes, not dcgan-faces; drop --model or pass --model omniart-eyes"
            in err)
    assert not (tmp_path / "x.png").exists()


def test_directions_on_recorded_codes_use_their_model(capsys, tmp_path, eyes_dirs):
    code, out, err = run(capsys, "directions", "--latent", eyes_dirs, "--region", "box:40,40,48,48", "--top-k", "2",
                         "--analysis-size", "32", "--out", tmp_path / "again")
    assert code == 0, err
    assert "using model omniart-eyes (class green)" in out
    assert json.loads((tmp_path / "again" / "directions.json").read_text())["model"] == "omniart-eyes"


def test_a_model_that_cannot_be_loaded_by_name_asks_for_the_checkpoint(capsys, tmp_path, eyes_dirs):
    folder = tmp_path / "moved"
    folder.mkdir()
    for name in ("directions.npy", "latent.npy"):
        (folder / name).write_bytes((eyes_dirs / name).read_bytes())
    meta = json.loads((eyes_dirs / "directions.json").read_text())
    meta.update(model="stylegan2-mine@mine.pkl", model_family="stylegan2-mine", model_source="/nowhere/mine.pkl")
    (folder / "directions.json").write_text(json.dumps(meta))
    code, out, err = run(capsys, "edit", "--directions", folder, "--seeds", "0", "--out", tmp_path / "x.png")
    assert code == 2 and "using model" not in out
    assert (f"{folder} was made with stylegan2-mine@mine.pkl, not dcgan-faces; pass --model with the checkpoint "
            "file it was made with") in err
