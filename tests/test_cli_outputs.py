"""One output policy for the commands that write a folder: a new or empty folder is written; an
earlier output of the same command is refused unless --force; a folder holding anything else is
refused unless --force, and never has another command's file replaced."""

import json

import numpy as np
import pytest

from helpers import run_cli as run

QUICK = ["--region", "mouth", "--top-k", "2", "--analysis-size", "32"]


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_directions_refuse_their_earlier_output_until_forced(capsys, tmp_path):
    out = tmp_path / "mouth"
    assert run(capsys, "directions", "--seed", "2", *QUICK, "--out", out)[0] == 0
    before = np.load(out / "directions.npy")
    code, _, err = run(capsys, "directions", "--seed", "5", *QUICK, "--out", out)
    assert code == 2
    assert (f"--out {out} already holds directions found earlier (lowrankgan, region mouth, seed 2); "
            "pass --force to replace them, or choose another --out") in one_line(err)
    assert np.array_equal(np.load(out / "directions.npy"), before)
    assert run(capsys, "directions", "--seed", "5", *QUICK, "--out", out, "--force")[0] == 0
    assert json.loads((out / "directions.json").read_text())["seeds"] == [5]


def test_another_commands_files_are_never_replaced(capsys, tmp_path):
    me = tmp_path / "me"
    me.mkdir()
    np.save(me / "latent.npy", np.ones((1, 100), np.float32))
    (me / "invert.json").write_text("{}")
    for force in ([], ["--force"]):
        code, _, err = run(capsys, "directions", "--seed", "2", *QUICK, "--out", me, *force)
        assert code == 2 and "did not write (invert.json, latent.npy), among them latent.npy" in one_line(err)
    assert np.array_equal(np.load(me / "latent.npy"), np.ones((1, 100), np.float32))
    assert not (me / "directions.npy").exists()


def test_a_folder_of_other_files_needs_force_and_keeps_them(capsys, tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("keep me")
    code, _, err = run(capsys, "directions", "--seed", "2", *QUICK, "--out", notes)
    assert code == 2 and ("is not empty (todo.txt) and holds no earlier `directions` output; choose another --out, "
                          "or pass --force to write beside those files") in one_line(err)
    assert run(capsys, "directions", "--seed", "2", *QUICK, "--out", notes, "--force")[0] == 0
    assert (notes / "todo.txt").read_text() == "keep me" and (notes / "directions.npy").is_file()


def test_sample_folder_forced_holds_only_the_new_seeds(capsys, tmp_path):
    out = tmp_path / "faces"
    assert run(capsys, "sample", "--seeds", "0-2", "--out", out)[0] == 0
    code, _, err = run(capsys, "sample", "--seeds", "7", "--out", out)
    assert code == 2 and "already holds sampled images (4 PNGs)" in one_line(err)
    assert run(capsys, "sample", "--seeds", "7", "--out", out, "--force")[0] == 0
    assert sorted(p.name for p in out.iterdir()) == ["grid.png", "seed0007.png"]


@pytest.mark.parametrize("argv", [["evaluate", "--region", "eyes", "--seeds", "0-1", "--top-k", "1"],
                                  ["invert", "photo.jpg"]])
def test_evaluate_and_invert_refuse_before_any_work(capsys, tmp_path, argv):
    folder = tmp_path / "taken"
    folder.mkdir()
    (folder / "todo.txt").write_text("keep me")
    code, _, err = run(capsys, *argv, "--out", folder)  # the photo does not exist: the policy answers first
    assert code == 2 and f"holds no earlier `{argv[0]}` output" in one_line(err)
    assert [p.name for p in folder.iterdir()] == ["todo.txt"]


def test_invert_refuses_its_earlier_output(capsys, tmp_path):
    me = tmp_path / "me"
    me.mkdir()
    np.save(me / "latent.npy", np.ones((1, 100), np.float32))
    (me / "invert.json").write_text(json.dumps({"photo": "me.jpg"}))
    code, _, err = run(capsys, "invert", "me.jpg", "--out", me)
    assert code == 2 and f"--out {me} already holds an inverted photo (of me.jpg); pass --force" in one_line(err)
