"""The paper's central claims, reproduced on the embedded model (issue acceptance)."""

import pytest
import torch

from lowrankgan import api
from lowrankgan.maths.factorize import robust_pca, spectrum
from lowrankgan.maths.methods import lowrankgan_directions, resefa_directions
from lowrankgan.maths.metrics import measure_leak, median
from lowrankgan.maths.protocol import heldout_cases, tuning_cases
from lowrankgan.maths.regions import parse_region

SEEDS = list(range(10))


def _leaks(faces, region, seeds=SEEDS):
    mask = torch.from_numpy(api.as_region(faces, region).mask)
    ours, principal, resefa = [], [], []
    for seed in seeds:
        code = faces.sample([seed])
        grams = api.region_gram_pair(faces, code, api.as_region(faces, region), "z", None, 64, progress=False)
        d_ours = api.find_directions(faces, seed, region, progress=False).vectors[0]
        d_resefa = api.find_directions(faces, seed, region, "resefa", progress=False).vectors[0]
        d_principal = spectrum(robust_pca(grams.M_f).L)[1][:, 0]
        ours.append(measure_leak(faces, code[0], torch.from_numpy(d_ours), mask).leak)
        resefa.append(measure_leak(faces, code[0], torch.from_numpy(d_resefa), mask).leak)
        principal.append(measure_leak(faces, code[0], d_principal.float(), mask).leak)
    return median(ours), median(principal), median(resefa)


@pytest.mark.slow
@pytest.mark.parametrize("region", ["eyes", "mouth"])
def test_projection_halves_the_leak_and_nears_resefa(faces, region):
    ours, principal, resefa = _leaks(faces, region)
    assert ours <= 0.5 * principal, (ours, principal)
    assert ours <= 1.5 * resefa, (ours, resefa)


@pytest.mark.slow
def test_averaged_directions_carry_over_to_other_images(faces):
    region = "mouth"
    mask = torch.from_numpy(api.as_region(faces, region).mask)
    shared = api.find_directions(faces, list(range(100, 120)), region, progress=False)
    transferred = [measure_leak(faces, faces.sample([s])[0], torch.from_numpy(shared.vectors[0]), mask).leak
                   for s in SEEDS]
    optimum = []
    for s in SEEDS:
        v = api.find_directions(faces, s, region, "resefa", progress=False).vectors[0]
        optimum.append(measure_leak(faces, faces.sample([s])[0], torch.from_numpy(v), mask).leak)
    assert median(transferred) <= 3 * median(optimum), (median(transferred), median(optimum))


def test_leak_of_a_global_direction_is_about_one(faces):
    # A direction that changes the whole image evenly leaks about as much outside as inside.
    code = faces.sample([0])[0]
    region = api.as_region(faces, "eyes")
    leaks = [measure_leak(faces, code, torch.randn(100, generator=torch.Generator().manual_seed(s)),
                          torch.from_numpy(region.mask)).leak for s in range(5)]
    assert 0.5 < median(leaks) < 2.0


def test_leak_calibrates_the_inside_change_to_the_target(faces):
    code = faces.sample([1])[0]
    mask = torch.from_numpy(api.as_region(faces, "mouth").mask)
    v = torch.from_numpy(api.find_directions(faces, 1, "mouth", progress=False).vectors[0])
    leak = measure_leak(faces, code, v, mask, target=0.2)
    alpha = leak.strengths[0]
    with torch.no_grad():
        delta = faces.synthesize((code + alpha * v)[None]) - faces.synthesize(code[None])
    inside = (delta ** 2).mean(1)[0][mask].mean().sqrt()
    assert abs(float(inside) - 0.2) < 2e-3


# --- the held-out protocol (lowrankgan.maths.protocol; benchmarks/bench_locality.py reports on it) ---

def test_heldout_split_is_deterministic_disjoint_and_spans_sizes_and_places():
    held = heldout_cases(64, 6, 4)
    assert held == heldout_cases(64, 6, 4)  # a pure function of its arguments
    assert {c.seed for c in held} == set(range(10000, 10006))
    tuning = tuning_cases({"eyes": "box:23,16,10,31"}, 64, list(range(0, 100, 10)), boxes=24)
    assert max(c.seed for c in tuning) < 10000
    assert not {c.region for c in held} & {c.region for c in tuning}  # different boxes too
    fractions = [parse_region(c.region, 64).fraction for c in held]
    assert all(0.035 <= f <= 0.31 for f in fractions), fractions
    assert max(fractions) - min(fractions) > 0.1
    assert {c.kind for c in held} == {"face", "any"}
    with pytest.raises(ValueError, match="below 10000"):
        tuning_cases({}, 64, [10000])


@pytest.mark.slow
def test_default_beats_principal_and_nears_the_optimum_on_heldout_cases(faces):
    for case in heldout_cases(64, 2, 1):
        reg = api.as_region(faces, case.region)
        mask = torch.from_numpy(reg.mask)
        code = faces.sample([case.seed])[0]
        grams = api.region_gram_pair(faces, code[None], reg, "z", None, 64, progress=False)
        leaks = {}
        for name, v in (("default", lowrankgan_directions(grams.M_f, grams.M_b, top_k=1).vectors[0]),
                        ("principal", spectrum(robust_pca(grams.M_f).L)[1][:, 0].float()),
                        ("optimum", resefa_directions(grams.M_f, grams.M_b, top_k=1).vectors[0])):
            leaks[name] = measure_leak(faces, code, v, mask).leak
        assert leaks["default"] < leaks["principal"], (case, leaks)
        assert leaks["default"] <= 2 * leaks["optimum"], (case, leaks)
