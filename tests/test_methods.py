"""The comparison methods: one signature, unit rows best first, and the behaviour users rely on."""

import math

import pytest
import torch

from lowrankgan.errors import LowRankGANError
from lowrankgan.maths.jacobian import RegionGrams
from lowrankgan.maths.methods import METHODS, find

NEW = ("jacobian-svd", "ganspace", "sefa", "random")


def _grams(d=12, gen=None, space="z", seed=0):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(40, d, generator=g, dtype=torch.float64)
    B = torch.randn(60, d, generator=g, dtype=torch.float64)
    return RegionGrams(A.T @ A / 40, B.T @ B / 60, 40, 60, gen, space)


def test_all_methods_registered():
    for name in ("lowrankgan", "resefa") + NEW:
        assert name in METHODS


@pytest.mark.parametrize("name", ["jacobian-svd", "random"])
def test_unit_rows_best_first_canonical_sign(name):
    dirs = find(_grams(), name, top_k=5)
    v = dirs.vectors
    assert v.shape == (5, 12) and v.dtype == torch.float32
    assert torch.allclose(v.norm(dim=1), torch.ones(5), atol=1e-5)
    assert torch.allclose(v @ v.T, torch.eye(5), atol=1e-5)  # orthonormal
    idx = v.abs().argmax(1)
    assert (v.gather(1, idx[:, None]) > 0).all()
    assert dirs.method == name


def test_jacobian_svd_is_top_of_whole_image_gram():
    grams = _grams()
    v = find(grams, "jacobian-svd", top_k=3).vectors.double()
    rayleigh = torch.einsum("kd,de,ke->k", v, grams.M_all, v)
    evals = torch.linalg.eigvalsh(grams.M_all).flip(0)[:3]
    assert torch.allclose(rayleigh, evals, rtol=1e-5)


def test_random_is_seeded():
    a = find(_grams(), "random", top_k=4).vectors
    b = find(_grams(seed=1), "random", top_k=4).vectors  # other Grams, same seed: same directions
    c = find(_grams(), "random", top_k=4, seed=7).vectors
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_unknown_parameter_is_a_clear_error():
    with pytest.raises(LowRankGANError, match="unknown parameter"):
        find(_grams(), "random", top_k=2, tau=3)


def test_sefa_needs_weights():
    from lowrankgan.models.base import GeneratorAdapter

    class Opaque(GeneratorAdapter):  # a model that does not expose first-layer weights
        model_id, latent_dim, resolution = "opaque", 8, 8

        def sample(self, seeds, space="z", trunc=1.0):
            return torch.zeros(len(seeds), 8)

        def synthesize(self, codes, space="z"):
            return torch.zeros(len(codes), 3, 8, 8)
    with pytest.raises(LowRankGANError, match="sefa needs"):
        find(_grams(gen=Opaque()), "sefa", top_k=2)


@pytest.fixture(scope="module")
def faces():
    from lowrankgan import load_model
    return load_model("dcgan-faces", device="cpu")


def test_sefa_on_dcgan_is_eigvecs_of_first_layer(faces):
    grams = RegionGrams(torch.eye(100), torch.eye(100), 1, 1, faces, "z")
    v = find(grams, "sefa", top_k=3).vectors.double()
    W = faces.net[0].weight.detach().double()  # [100, 512, 4, 4]
    A = W.reshape(100, -1).T
    A = A / A.norm(dim=1, keepdim=True)
    M = A.T @ A
    top = torch.linalg.eigvalsh(M).flip(0)[:3]
    assert torch.allclose(torch.einsum("kd,de,ke->k", v, M, v), top, rtol=1e-6)


def test_ganspace_in_z_is_near_isotropic(faces):
    grams = RegionGrams(torch.eye(100), torch.eye(100), 1, 1, faces, "z")
    d = find(grams, "ganspace", top_k=100, samples=2000)
    var = torch.tensor(d.info["variances"])
    # N(0, I) samples: all variances ~1 (Marchenko-Pastur spread for 2000 samples in 100 dims)
    assert 1.2 < var[0] < 1.8 and 0.4 < var[-1] < 0.9


def test_sefa_stylegan2_style_space_and_z_refused():
    from lowrankgan.models.stylegan2.adapter import build_random_stylegan2
    gen = build_random_stylegan2(16, 32, 256, 32)
    grams = RegionGrams(torch.eye(32), torch.eye(32), 1, 1, gen, "w")
    assert find(grams, "sefa", top_k=4).vectors.shape == (4, 32)
    layered = RegionGrams(torch.eye(32), torch.eye(32), 1, 1, gen, "w+", [1, 2])
    assert not torch.allclose(find(layered, "sefa", top_k=2).vectors, find(grams, "sefa", top_k=2).vectors)
    with pytest.raises(LowRankGANError, match="style space"):
        find(RegionGrams(torch.eye(32), torch.eye(32), 1, 1, gen, "z"), "sefa", top_k=2)


@pytest.mark.slow
def test_jacobian_svd_is_less_local_than_lowrankgan_on_eyes(faces):
    from lowrankgan import api
    from lowrankgan.maths.metrics import calibrate
    from lowrankgan.maths.metrics import median
    reg = api.as_region(faces, "eyes")
    code = faces.sample([0], "z")
    grams = api.region_gram_pair(faces, code, reg, "z", None, 64, progress=False)
    mask = torch.from_numpy(reg.mask)
    leaks = {}
    for m in ("lowrankgan", "jacobian-svd", "random"):
        v = find(grams, m, top_k=3).vectors
        cal = calibrate(faces, code[0], torch.cat([v, -v]), mask, [0.1], "z")
        ratio = (cal["outside"] / cal["inside"])[:, 0]
        leaks[m] = median([(float(ratio[i]) + float(ratio[i + len(v)])) / 2 for i in range(len(v))])
    assert leaks["lowrankgan"] < 0.6 * leaks["jacobian-svd"]
    assert leaks["lowrankgan"] < 0.6 * leaks["random"]
    assert all(math.isfinite(x) for x in leaks.values())
