"""Path-following edits: shape, consistency with the straight line, and the leak they save."""

import pytest
import torch

from lowrankgan import api, load_model
from lowrankgan.errors import LowRankGANError
from lowrankgan.maths.metrics import rms_inside_outside
from lowrankgan.api import path_edit
from lowrankgan.maths.pathedit import interpolate_path, path_codes, path_sweep_codes


@pytest.fixture(scope="module")
def faces():
    return load_model("dcgan-faces", device="cpu")


@pytest.fixture(scope="module")
def mouth(faces):
    ds = api.find_directions(faces, 1, "mouth", top_k=1, progress=False)
    return ds, torch.from_numpy(ds.vectors[0])


def test_interpolate_path():
    path = torch.arange(5, dtype=torch.float32)[:, None] * torch.ones(1, 3)  # 0..4 along a line
    got = interpolate_path(path, 2.0, [0.0, 1.0, 2.0, -0.5])
    assert torch.allclose(got[:, 0], torch.tensor([0.0, 2.0, 4.0, 1.0]))


def test_path_shape_steps_and_start(faces, mouth):
    _, p = mouth
    code = faces.sample([1], "z")[0]
    path = path_codes(faces, code, p, 1.5, 3, "mouth")
    assert path.shape == (4, 100)
    assert torch.equal(path[0], code)
    steps = (path[1:] - path[:-1]).norm(dim=1)
    assert torch.allclose(steps, torch.full((3,), 0.5), atol=1e-5)
    back = path_codes(faces, code, p, -1.5, 3, "mouth")
    assert float((back[1] - code) @ p) < 0  # negative strength walks the other way
    with pytest.raises(LowRankGANError, match="at least 1"):
        path_codes(faces, code, p, 1.0, 0, "mouth")


def test_one_step_is_the_straight_line(faces, mouth):
    # The direction already lies in the rest's null space at the source code: projecting it there
    # again (same robust-PCA settings) leaves it, so a 1-step path is the straight line.
    _, p = mouth
    code = faces.sample([1], "z")[0]
    path = path_codes(faces, code, p, 1.0, 1, "mouth")
    step = path[1] - code
    assert float(torch.nn.functional.cosine_similarity(step, p, dim=0)) > 0.999


def test_sweep_zero_is_original(faces, mouth):
    _, p = mouth
    code = faces.sample([1], "z")[0]
    codes = path_sweep_codes(faces, code, p, [-1.0, 0.0, 1.0], 2, "mouth")
    assert codes.shape == (3, 100) and torch.equal(codes[1], code)


@pytest.mark.slow
def test_path_leaks_less_than_line_at_twice_the_strength(faces, mouth):
    from lowrankgan.maths.metrics import measure_leak
    ds, p = mouth
    reg = api.as_region(faces, "mouth")
    mask = torch.from_numpy(reg.mask)
    code = faces.sample([1], "z")[0]
    alpha = measure_leak(faces, code, p, mask, "z", None, 0.1).strengths[0]
    path = path_codes(faces, code, p, 2 * alpha, 4, reg)
    base = faces.synthesize(code[None]).detach()
    with torch.no_grad():
        imgs = faces.synthesize(torch.stack([code + 2 * alpha * p, path[-1]])) - base
    ins, outs = rms_inside_outside(imgs, mask)
    line_leak, path_leak = float(outs[0] / ins[0]), float(outs[1] / ins[1])
    assert path_leak < line_leak
    assert float(ins[1]) > 0.1  # the path still edits the region (more than the 1x change)


@pytest.mark.slow
def test_path_edit_images(faces, mouth):
    ds, _ = mouth
    imgs = path_edit(faces, ds, [1, 2], [-1.0, 0.0, 1.0], steps=2)
    assert imgs.shape == (2, 3, 3, 64, 64)
    straight = api.edit(faces, ds, [1, 2], [0.0])
    assert torch.allclose(imgs[:, 1], straight[:, 0], atol=1e-6)


def test_rederived_path_follows_the_edit_and_rejects_unknown_modes(faces, mouth):
    # Re-deriving the region's best direction at each step keeps walking the same way as p
    # (sign-aligned), in steps of the requested length.
    _, p = mouth
    code = faces.sample([1], "z")[0]
    path = path_codes(faces, code, p, 1.5, 3, "mouth", follow="rederive")
    steps = path[1:] - path[:-1]
    assert torch.allclose(steps.norm(dim=1), torch.full((3,), 0.5), atol=1e-5)
    assert all(float(torch.nn.functional.cosine_similarity(s, p, dim=0)) > 0.5 for s in steps)
    with pytest.raises(LowRankGANError, match="unknown path mode"):
        path_codes(faces, code, p, 1.0, 1, "mouth", follow="sideways")
