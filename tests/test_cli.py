"""The command line as a user meets it: outputs, and one clear line with exit code 2 on bad input."""

import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from lowrankgan.cli import main

from helpers import run_cli as run


@pytest.fixture(scope="module")
def eyes_dirs(tmp_path_factory, faces):
    out = tmp_path_factory.mktemp("dirs") / "eyes"
    assert main(["directions", "--seed", "0", "--region", "eyes", "--out", str(out), "--top-k", "5"]) == 0
    return out


def test_directions_writes_the_three_files(eyes_dirs):
    vectors = np.load(eyes_dirs / "directions.npy")
    meta = json.loads((eyes_dirs / "directions.json").read_text())
    latent = np.load(eyes_dirs / "latent.npy")
    assert vectors.shape == (5, 100) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert latent.shape == (1, 100)
    assert meta["model"] == "dcgan-faces" and meta["latent_space"] == "z" and meta["region"] == "eyes"
    assert meta["method"] == "lowrankgan" and meta["seeds"] == [0] and meta["analysis_size"] == 64
    assert 0 < meta["leak_source_top1"] < 0.7


def test_directions_prints_the_leak(capsys, tmp_path):
    code, out, _ = run(capsys, "directions", "--seed", "2", "--region", "mouth", "--out", tmp_path / "d")
    assert code == 0 and "leak of direction 0 on seed 2:" in out
    strong = next(line for line in out.splitlines() if "inside RMS 0.3" in line)
    assert "on the straight line" in strong and "--strong-leak" in strong  # the local path only when asked


def test_directions_measures_the_local_paths_strong_leak_when_asked(capsys, tmp_path):
    code, out, _ = run(capsys, "directions", "--seed", "2", "--region", "mouth", "--top-k", "2", "--strong-leak",
                       "--out", tmp_path / "d")
    line = next(line for line in out.splitlines() if "inside RMS 0.3" in line)
    local, straight = (float(w) for w in re.findall(r"(\d+\.\d+) (?:along|on the)", line))
    assert code == 0 and 0 < local < straight  # the default edit's path spills less than the straight line here
    # The straight line's figure printed without --strong-leak (recorded by find_directions) is the same one.
    meta = json.loads((tmp_path / "d" / "directions.json").read_text())
    assert abs(meta["leak_slider_straight_top1"] - straight) < 2e-3


def test_directions_are_deterministic(tmp_path, eyes_dirs):
    assert main(["directions", "--seed", "0", "--region", "eyes", "--out", str(tmp_path / "again"),
                 "--top-k", "5", "--no-cache"]) == 0
    assert np.array_equal(np.load(tmp_path / "again" / "directions.npy"), np.load(eyes_dirs / "directions.npy"))


def test_edit_grid_rows_are_seeds_columns_strengths(capsys, tmp_path, eyes_dirs):
    out = tmp_path / "grid.png"
    code, _, _ = run(capsys, "edit", "--directions", eyes_dirs, "--seeds", "0-2", "--strengths", "-2:2:5",
                     "--out", out, "--outline")
    assert code == 0
    img = np.asarray(Image.open(out))
    # 3 rows × 5 columns of 128-px cells (64-px faces doubled) with 4-px gaps.
    assert img.shape[:2] == (3 * 132 + 4, 5 * 132 + 4)
    cells = [[img[4 + r * 132: 132 + r * 132, 4 + c * 132: 132 + c * 132].astype(int) for c in range(5)] for r in range(3)]
    # The sweep changes the image, more at larger strengths.
    assert np.abs(cells[0][4] - cells[0][2]).mean() > np.abs(cells[0][3] - cells[0][2]).mean() > 0


def test_edit_gif_and_html(capsys, tmp_path, eyes_dirs):
    code, _, _ = run(capsys, "edit", "--directions", eyes_dirs, "--seeds", "0,1", "--out", tmp_path / "s.gif")
    assert code == 0
    gif = Image.open(tmp_path / "s.gif")
    assert gif.n_frames == 12  # 7 strengths there and back
    code, _, _ = run(capsys, "edit", "--directions", eyes_dirs, "--seeds", "0", "--out", tmp_path / "r.html", "--outline")
    html = (tmp_path / "r.html").read_text()
    assert code == 0 and "data:image/png;base64" in html and "data:image/gif;base64" in html and "leak, seed 0" in html


def test_edit_takes_a_bare_authors_npy(capsys, tmp_path, eyes_dirs):
    bare = tmp_path / "authors.npy"
    np.save(bare, np.load(eyes_dirs / "directions.npy")[:2] * 3.0)  # not unit: normalised on load
    code, _, err = run(capsys, "edit", "--directions", bare, "--seeds", "0", "--out", tmp_path / "b.png")
    assert code == 0, err
    unit = tmp_path / "unit.npy"
    np.save(unit, np.load(eyes_dirs / "directions.npy")[:2])
    code, _, err = run(capsys, "edit", "--directions", unit, "--seeds", "0", "--out", tmp_path / "u.png")
    assert code == 0, err
    # A direction three times as long edits exactly like the unit one: it was normalised on load.
    assert np.array_equal(np.asarray(Image.open(tmp_path / "b.png")), np.asarray(Image.open(tmp_path / "u.png")))


def test_direction_file_for_another_model_is_refused(capsys, tmp_path, eyes_dirs):
    code, _, err = run(capsys, "edit", "--model", "omniart-eyes", "--directions", eyes_dirs, "--seeds", "0",
                       "--out", tmp_path / "x.png")
    assert code == 2
    assert f"{eyes_dirs} was made with dcgan-faces, not omniart-eyes; drop --model or pass --model dcgan-faces" in err
    bare = tmp_path / "wrong_dim.npy"
    np.save(bare, np.ones((3, 512), np.float32))
    code, _, err = run(capsys, "edit", "--directions", bare, "--seeds", "0", "--out", tmp_path / "x.png")
    assert code == 2 and "d=512" in err and "d=100" in err
    assert not (tmp_path / "x.png").exists()


def test_sample_grid_and_folder(capsys, tmp_path):
    code, _, _ = run(capsys, "sample", "--seeds", "0-3", "--out", tmp_path / "g.png")
    assert code == 0 and (tmp_path / "g.png").exists()
    code, _, _ = run(capsys, "sample", "--seeds", "3,5", "--out", tmp_path / "each")
    img = np.asarray(Image.open(tmp_path / "each" / "seed0005.png"))
    assert code == 0 and img.shape == (64, 64, 3) and (tmp_path / "each" / "grid.png").exists()


def test_sample_pixels_follow_the_documented_conversion(capsys, tmp_path, faces):
    import torch
    run(capsys, "sample", "--seeds", "4", "--out", tmp_path / "one")
    got = np.asarray(Image.open(tmp_path / "one" / "seed0004.png"))
    x = faces.synthesize(faces.sample([4]))[0]
    want = (x * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.array_equal(got, want)


def test_class_selection_on_the_command_line(capsys, tmp_path):
    code, _, _ = run(capsys, "sample", "--model", "omniart-eyes", "--class", "green", "--seeds", "0",
                     "--out", tmp_path / "e")
    assert code == 0 and np.asarray(Image.open(tmp_path / "e" / "seed0000.png")).shape == (128, 128, 3)


@pytest.mark.parametrize("argv,message", [
    (["directions", "--model", "nope", "--seed", "0", "--region", "eyes"], "unknown model 'nope'"),
    (["directions", "--seed", "0", "--region", "box:1,2"], "four integers"),
    (["directions", "--seed", "0", "--region", "box:60,60,10,10"], "outside the 64x64 image"),
    (["directions", "--seed", "0", "--region", "eyes", "--method", "pca"], "unknown method 'pca'"),
    (["directions", "--seed", "0", "--region", "eyes", "--space", "w"], "latent space 'w' is not offered"),
    (["directions", "--seeds", "3-1", "--region", "eyes"], "bad --seeds '3-1': in a range A-B, A must be at most B"),
    (["edit", "--directions", "missing_dir", "--seeds", "0"], "does not exist"),
    (["directions", "--seed", "0", "--region", "eyes", "--top-k", "0"], "at least one direction"),
    (["directions", "--model", "omniart-eyes", "--seed", "0", "--region", "eyes"], "none for this model"),
    *([(["sample", "--device", "cuda", "--seeds", "0"], "no CUDA GPU; use --device cpu")] if not torch.cuda.is_available() else []),
])
def test_bad_input_is_one_line_exit_2_no_output(capsys, tmp_path, argv, message):
    out = tmp_path / "out"
    extra = ["--out", str(out / "x.png")] if argv[0] in ("edit", "sample") else ["--out", str(out)]
    code, stdout, err = run(capsys, *argv, *extra)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lowrankgan: error:") and message in lines[0], err
    assert not out.exists()


def test_empty_mask_image_and_corrupt_checkpoint(capsys, tmp_path):
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "empty.png")
    code, _, err = run(capsys, "directions", "--seed", "0", "--region", tmp_path / "empty.png", "--out", tmp_path / "o")
    assert code == 2 and "selects no pixel" in err
    (tmp_path / "bad.pt").write_bytes(b"\x80\x02garbage")
    code, _, err = run(capsys, "sample", "--model", tmp_path / "bad.pt", "--out", tmp_path / "o.png")
    assert code == 2 and "bad.pt" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.png").exists()


def test_output_under_a_file_is_refused(capsys, tmp_path, eyes_dirs):
    (tmp_path / "file").write_text("x")
    code, _, err = run(capsys, "directions", "--seed", "0", "--region", "eyes", "--out", tmp_path / "file" / "d")
    assert code == 2 and "is a file, not a folder" in err
    code, _, err = run(capsys, "edit", "--directions", eyes_dirs, "--out", tmp_path / "out.jpg")
    assert code == 2 and "unknown output type '.jpg'" in err


def test_path_following_edit_from_the_command_line(capsys, tmp_path, eyes_dirs):
    straight, path = tmp_path / "line.png", tmp_path / "path.png"
    assert main(["edit", "--directions", str(eyes_dirs), "--seeds", "0", "--strengths", "0,3", "--path", "straight",
                 "--out", str(straight)]) == 0
    assert main(["edit", "--directions", str(eyes_dirs), "--seeds", "0", "--strengths", "0,3", "--path-steps", "3",
                 "--out", str(path)]) == 0  # the local path (the default), 3 steps
    assert "local path: 3 Jacobians" in capsys.readouterr().out
    a, b = np.asarray(Image.open(straight)).astype(int), np.asarray(Image.open(path)).astype(int)
    half = a.shape[1] // 2
    assert np.array_equal(a[:, :half], b[:, :half])  # strength 0: the original either way
    assert np.abs(a[:, half:] - b[:, half:]).mean() > 0.5  # the path bends away from the line
    rederived = tmp_path / "rederive.png"
    assert main(["edit", "--directions", str(eyes_dirs), "--seeds", "0", "--strengths", "0,3", "--path-steps", "3",
                 "--path-follow", "rederive", "--out", str(rederived)]) == 0
    c = np.asarray(Image.open(rederived)).astype(int)
    assert np.array_equal(a[:, :half], c[:, :half]) and np.abs(c[:, half:] - b[:, half:]).mean() > 0.5


def test_edit_without_seeds_edits_the_codes_the_directions_were_found_on(capsys, tmp_path, faces, eyes_dirs):
    """`directions --latent FILE` then `edit --directions DIR`: the file's own codes (its latent.npy),
    not seeds 0-3; here the codes of seeds 5 and 7, so the edit is `edit --seeds 5,7` pixel for pixel."""
    np.save(tmp_path / "codes.npy", faces.sample([5, 7]).numpy())
    dirs = tmp_path / "d"
    code, _, err = run(capsys, "directions", "--latent", tmp_path / "codes.npy", "--region", "eyes", "--top-k", "2",
                       "--out", dirs)
    assert code == 0, err
    for mode in (["--strengths", "-2:2:3"], ["--alphas", "2,-1"]):
        own, seeds = tmp_path / "own.png", tmp_path / "seeds.png"
        # (the straight line: which codes are edited is the question here, not the path)
        code, out, err = run(capsys, "edit", "--directions", dirs, *mode, "--path", "straight", "--out", own)
        assert code == 0 and f"editing the 2 codes the directions were found on ({dirs / 'latent.npy'})" in out, err
        assert run(capsys, "edit", "--directions", dirs, *mode, "--path", "straight", "--seeds", "5,7", "--out", seeds)[0] == 0
        assert np.array_equal(np.asarray(Image.open(own)), np.asarray(Image.open(seeds)))
    # Codes given are edited instead, and directions found on a seed keep editing seeds 0-3 (four rows).
    np.save(tmp_path / "one.npy", faces.sample([5]).numpy())
    for argv, rows in ((["--directions", dirs, "--latent", tmp_path / "one.npy"], 1), (["--directions", eyes_dirs], 4)):
        code, out, _ = run(capsys, "edit", *argv, "--strengths", "-2:2:3", "--path", "straight", "--out", tmp_path / "rows.png")
        assert code == 0 and "found on" not in out
        assert np.asarray(Image.open(tmp_path / "rows.png")).shape[0] == rows * 132 + 4
