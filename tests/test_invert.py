"""Inversion: generated images come back from their codes, photos go through the command line,
codes stand in for seeds, faces are found and aligned as the model was trained."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from lowrankgan import api
from lowrankgan.cli import main
from lowrankgan.photos.invert import image_loss, invert_image, psnr, seed_target, ssim
from lowrankgan.models.stylegan2.adapter import build_random_stylegan2
from lowrankgan.photos.photoinvert import DCGAN_FACES_TEMPLATE, align_photo
from helpers import run_cli as run


@pytest.fixture(scope="module")
def sg2():
    return build_random_stylegan2(16, 32, 256, 32, seed=1, mapping_layers=2)


def test_metrics_agree_with_their_definitions():
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    y = (x + 0.2).clamp(-1, 1)
    mse = (((x - y) / 2) ** 2).mean()
    assert torch.allclose(psnr(x, y), 10 * torch.log10(1 / mse), atol=1e-4)
    assert float(ssim(x, x)) == pytest.approx(1.0, abs=1e-5) and float(ssim(x, -x)) < 0.2
    assert float(image_loss(x, x)[0]) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.slow
def test_dcgan_seed_image_comes_back_from_its_code(faces):
    target = seed_target(faces, 4242)  # a seed no other test or figure uses
    result = invert_image(faces, target, steps=150, restarts=2, progress=False)
    assert result.code.shape == (1, 100) and result.space == "z"
    assert result.psnr > 24 and result.ssim > 0.85  # a hard seed: 20 dB before the exploration phase
    assert result.losses[-1] < result.losses[0] / 5  # the curve falls
    again = faces.synthesize(result.code)  # the written code reproduces the reconstruction
    assert float(psnr(again, result.reconstruction)) > 40


@pytest.mark.parametrize("space", ["w", "w+"])
def test_stylegan2_round_trip_from_the_mean_w(sg2, space):
    target = seed_target(sg2, 7, "w")
    start = float(psnr(sg2.synthesize(sg2.mean_code("w"), "w"), target))
    result = invert_image(sg2, target, space, steps=100, restarts=2, progress=False)
    assert result.code.shape == ((1, 32) if space == "w" else (1, sg2.num_layers, 32))
    assert result.psnr > 25 and result.psnr > start + 10


def test_bad_settings_are_refused(sg2):
    target = seed_target(sg2, 1, "w")
    with pytest.raises(api.LowRankGANError, match="steps 0"):
        invert_image(sg2, target, "w", steps=0)
    with pytest.raises(api.LowRankGANError, match=r"target must be \[1, 3, 16, 16\]"):
        invert_image(sg2, target[:, :, :8], "w")


def test_codes_stand_in_for_seeds(faces):
    """The API takes codes wherever it takes seeds: the same codes give the same directions."""
    codes = api.sample_codes(faces, [3])
    by_seed = api.find_directions(faces, 3, "mouth", analysis_size=32, top_k=3, progress=False, leak_images=0)
    by_code = api.find_directions(faces, codes.numpy(), "mouth", analysis_size=32, top_k=3, progress=False,
                                  leak_images=0)
    assert np.allclose(np.abs((by_seed.vectors * by_code.vectors).sum(1)), 1, atol=1e-4)
    assert by_code.meta["seeds"] is None and np.allclose(by_code.latents, codes.numpy())
    with pytest.raises(api.LowRankGANError, match=r"are \[n, 100\]"):
        api.sample(faces, np.zeros((1, 50), np.float32))


@pytest.fixture(scope="module")
def inverted(tmp_path_factory, faces):
    """A small photo through `lowrankgan invert` (few steps: the files, not the quality, are tested)."""
    folder = tmp_path_factory.mktemp("inv")
    rng = np.random.default_rng(0)
    photo = np.asarray(Image.fromarray(rng.integers(0, 256, (9, 12, 3), dtype=np.uint8)).resize((150, 100)))
    Image.fromarray(photo).convert("P").save(folder / "photo.png")  # a palette image: any mode goes
    assert main(["invert", str(folder / "photo.png"), "--align", "center", "--steps", "4", "--restarts", "1",
                 "--no-progress", "--out", str(folder / "out")]) == 0
    return folder


def test_invert_writes_code_reconstruction_and_report(inverted):
    out = inverted / "out"
    meta = json.loads((out / "invert.json").read_text())
    assert np.load(out / "latent.npy").shape == (1, 100)
    assert Image.open(out / "reconstruction.png").size == (64, 64) and Image.open(out / "target.png").size == (64, 64)
    assert meta["model"] == "dcgan-faces" and meta["latent_space"] == "z" and meta["steps"] == 4
    assert len(meta["loss_curve"]) == 4 and meta["psnr"] > 0 and -1 <= meta["ssim"] <= 1
    assert meta["alignment"]["photo_size"] == [150, 100] and meta["alignment"]["method"] == "center"


def test_directions_and_edit_take_the_latent_and_paste_into_the_photo(inverted, capsys, tmp_path):
    code, out, _ = run(capsys, "directions", "--latent", inverted / "out", "--region", "mouth", "--analysis-size", "32",
                       "--top-k", "2", "--out", tmp_path / "d")
    assert code == 0 and "on code 0" in out
    code, _, err = run(capsys, "edit", "--directions", tmp_path / "d", "--latent", inverted / "out", "--photo",
                       inverted / "photo.png", "--strengths", "-2:2:3", "--out", tmp_path / "e.png")
    assert code == 0, err
    assert Image.open(tmp_path / "e.png").size[1] >= 100  # cells at the photo's resolution


@pytest.mark.parametrize("argv,message", [
    (["invert", "{tmp}/nothing.png", "--out", "{tmp}/o"], "does not exist"),
    (["invert", "{tmp}/junk.png", "--out", "{tmp}/o"], "cannot read photo"),
    (["invert", "{tmp}/junk.png", "--crop", "1,2", "--out", "{tmp}/o"], "bad --crop"),
    (["invert", "{tmp}/grey.png", "--model", "dcgan-faces", "--out", "{tmp}/o"],
     "no face found in the photo; use --align center or give --crop LEFT,TOP,SIDE"),
    (["directions", "--seed", "1", "--latent", "{tmp}", "--region", "eyes", "--out", "{tmp}/d"], "exactly one of"),
    (["edit", "--directions", "{tmp}", "--photo", "{tmp}/junk.png", "--out", "{tmp}/e.png"], "give --latent"),
    (["directions", "--latent", "{tmp}/wide.npy", "--region", "eyes", "--out", "{tmp}/d"], r"shape \[1, 50\]"),
])
def test_cli_errors_are_one_line(capsys, tmp_path, argv, message):
    (tmp_path / "junk.png").write_bytes(b"\x89PNG but not really")
    Image.fromarray(np.full((120, 160, 3), 128, np.uint8)).save(tmp_path / "grey.png")
    np.save(tmp_path / "wide.npy", np.zeros((1, 50), np.float32))
    code, out, err = run(capsys, *[a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert code == 2 and err.startswith("lowrankgan: error:") and len(err.strip().splitlines()) == 1
    assert __import__("re").search(message, err), err
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_latents_of_another_model_are_refused(inverted, sg2):
    latents = api.load_latents(inverted / "out")
    with pytest.raises(api.LowRankGANError, match="belong to model dcgan-faces"):
        api.sample_codes(sg2, latents, "z")


def _face_photo(faces, seed, size=256):
    img = ((faces.synthesize(faces.sample([seed]))[0].clamp(-1, 1) + 1) * 127.5).byte().permute(1, 2, 0).numpy()
    return np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.BICUBIC))


@pytest.mark.slow
def test_mtcnn_finds_the_models_faces_where_the_template_says(faces):
    """The dcgan-faces landmark template is what MTCNN finds on the model's own faces (re-derived
    here on 12 faces, within 2 px of the median of 64)."""
    from lowrankgan.photos.faces import detect_faces
    points = []
    for seed in range(2000, 2012):
        found = detect_faces(_face_photo(faces, seed), min_face=60)
        assert found and found[0].score > 0.9
        points.append(found[0].landmarks / 4)
    assert np.abs(np.median(points, 0) - DCGAN_FACES_TEMPLATE * 64).max() < 2.0


@pytest.mark.slow
def test_face_alignment_undoes_a_shift_and_zoom(faces):
    """A generated face placed off-centre at another scale in a bigger picture is cropped back to
    (about) where the model puts faces."""
    face = _face_photo(faces, 2100, 160)
    canvas = np.full((300, 400, 3), 128, np.uint8)
    canvas[100:260, 200:360] = face
    al = align_photo(faces, canvas, "face")
    corner = al.matrix @ [0, 0, 1]
    assert al.method == "dcgan-faces-template"
    assert np.allclose(corner, [200, 100], atol=12) and al.scale == pytest.approx(2.5, rel=0.1)
