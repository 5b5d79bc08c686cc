"""Local strong edits (the default path): locality on held-out cases, the straight line one option
away, the linear regime for free, cached paths, progress and cancellation."""

import threading

import pytest
import torch

from lowrankgan import api
from lowrankgan.errors import LowRankGANError
from lowrankgan.maths.jacobian import default_analysis_size, region_gram_pair
from lowrankgan.maths.localpath import PathCancelled, direction_path
from lowrankgan.maths.methods import lowrankgan_directions
from lowrankgan.maths.metrics import measure_leak, rms_inside_outside
from lowrankgan.maths.protocol import heldout_cases
from lowrankgan.maths.regions import parse_region


@pytest.fixture(scope="module")
def eyes(faces):
    return api.find_directions(faces, [1], "eyes", top_k=2, progress=False)


def test_direction_file_records_the_path_and_straight_is_one_option_away(faces, eyes):
    assert eyes.meta["path"] == "local"
    straight = api.composed_edit(faces, eyes, [1], [1.5, 0.0], path="straight")
    line = api.composed_edit(faces, eyes, [1], [1.5, 0.0], path_steps=0)
    assert torch.equal(straight, line)
    with pytest.raises(LowRankGANError, match="unknown path"):
        api.composed_edit(faces, eyes, [1], [1.5], path="curvy")


def test_linear_regime_costs_no_jacobian(faces, eyes):
    cost = api.PathCost()
    faint = api.composed_edit(faces, eyes, [1], [0.05], cost=cost)
    assert cost.jacobians == 0
    assert torch.equal(faint, api.composed_edit(faces, eyes, [1], [0.05], path="straight"))


def test_cached_paths_give_the_same_pixels_and_progress_reaches_the_end(faces, eyes):
    tops = [(3.0, 2.0), (0.0, 0.0)]
    seen = []
    job = api.edit_setup(faces, eyes, [1])
    region = api.choose_path(job, None, 2, None)
    paths = api.direction_paths(job, job.codes[0], tops, region, steps=2, progress=lambda k, n: seen.append((k, n)))
    assert seen[-1][0] == seen[-1][1] == sum(p.jacobians for p in paths) == 4
    alphas = [2.4, 0.0]
    cached = api.composed_edit(faces, eyes, [1], alphas, path_steps=2, paths=[paths])
    fresh = api.composed_edit(faces, eyes, [1], alphas, path_steps=2, path_tops=tops)
    assert torch.equal(cached, fresh)


def test_cancel_stops_the_walk(faces, eyes):
    stop = threading.Event()
    stop.set()
    region = parse_region("eyes", 64, faces.presets)
    with pytest.raises(PathCancelled):
        direction_path(faces, faces.sample([1])[0], torch.from_numpy(eyes.vectors[0]), (8.0, 0.0), region, steps=2,
                       cancel=stop)


@pytest.mark.slow
def test_default_edit_is_local_at_strong_strength_on_heldout_cases(faces):
    """The default edit at in-region RMS 0.3 on held-out seeds and boxes (never tuned on)."""
    leaks = []
    for case in heldout_cases(64, 2, 1):
        region = parse_region(case.region, 64, faces.presets)
        mask = torch.from_numpy(region.mask)
        code = faces.sample([case.seed])[0]
        grams = region_gram_pair(faces, code[None], region, "z", None, default_analysis_size(faces), progress=False)
        p = lowrankgan_directions(grams.M_f, grams.M_b, top_k=1).vectors[0]
        straight = measure_leak(faces, code, p, mask, target=0.3)
        for sign, alpha in zip((1.0, -1.0), straight.strengths):
            dp = direction_path(faces, code, p, (alpha, 0.0) if sign > 0 else (0.0, alpha), region)
            with torch.no_grad():
                images = faces.synthesize(torch.stack([code, dp.at(sign * alpha)]), "z").clamp(-1, 1)
            inside, outside = rms_inside_outside(images[1:] - images[:1], mask)
            assert float(inside[0]) > 0.2  # the edit is still a strong one
            leaks.append(float(outside[0] / inside[0]))
        assert sum(leaks[-2:]) / 2 < straight.leak  # better than the straight line on each case
    assert sorted(leaks)[len(leaks) // 2] <= 0.35
