"""StyleGAN2 through the whole pipeline: a checkpoint file → directions (w, w+) → edits, via the CLI."""

import json

import numpy as np
import pytest
import torch

from lowrankgan import api
from lowrankgan.cli import main
from lowrankgan.maths.metrics import measure_leak
from lowrankgan.models import load_model

from test_stylegan2 import _cfg, build_generator, write_rosinality_pt


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("sg2") / "tiny-faces.pt"
    g = build_generator(_cfg(), seed=3)
    # Random weights render two thirds of the pixels outside [-1, 1]; renders and the leak are clamped
    # to what a user sees, so there most changes would vanish. Scaled ToRGB weights keep the pictures
    # in range (a few percent clipped, as a trained model's are) and the leak meaningful.
    with torch.no_grad():
        for name, p in g.named_parameters():
            if "torgb" in name and name.endswith("weight"):
                p.mul_(0.3)
    write_rosinality_pt(path, g)
    return path


def test_w_plus_directions_and_edit_by_cli(ckpt, tmp_path, capsys):
    out = tmp_path / "dirs"
    assert main(["directions", "--model", str(ckpt), "--seed", "1", "--region", "box:8,8,12,12",
                 "--space", "w+", "--layers", "2-4", "--out", str(out), "--top-k", "4"]) == 0
    meta = json.loads((out / "directions.json").read_text())
    assert meta["latent_space"] == "w+" and meta["layers"] == [2, 3, 4] and meta["latent_dim"] == 32
    assert np.load(out / "latent.npy").shape == (1, 8, 32)
    assert main(["edit", "--model", str(ckpt), "--directions", str(out), "--seeds", "0-1",
                 "--strengths", "-2:2:3", "--out", str(tmp_path / "e.png")]) == 0
    # The same file in w space is refused for a w+ direction file, naming both.
    code = main(["edit", "--model", str(ckpt), "--directions", str(out), "--space", "w", "--seeds", "0",
                 "--out", str(tmp_path / "x.png")])
    assert code == 2 and "space w+" in capsys.readouterr().err


def test_local_edit_smoke(ckpt):
    gen = load_model(str(ckpt), device="cpu")
    region = "box:4,4,12,12"
    dirs = api.find_directions(gen, 2, region, space="w", progress=False)
    mask = torch.from_numpy(api.as_region(gen, region).mask)
    code = gen.sample([2], "w")[0]
    ours = measure_leak(gen, code, torch.from_numpy(dirs.vectors[0]), mask, "w").leak
    rand = [measure_leak(gen, code, torch.randn(32, generator=torch.Generator().manual_seed(s)), mask, "w").leak
            for s in range(5)]
    # Random weights make a poor generator, but the region still moves far more than the rest.
    assert ours < 0.7 * sorted(rand)[2], (ours, rand)


def test_models_command_describes_a_file(ckpt, capsys):
    assert main(["models", str(ckpt)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["resolution"] == 32 and info["num_layers"] == 8
