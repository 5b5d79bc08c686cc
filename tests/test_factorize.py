import math

import pytest

import torch

from lowrankgan.maths.factorize import numerical_rank, robust_pca, rpca_admm, spectrum
from lowrankgan.maths.jacobian import RegionGrams, compute_jacobian, region_grams
from lowrankgan.maths.methods import find, lowrankgan_directions, resefa_directions
from lowrankgan.maths.regions import parse_region


def _low_rank_plus_sparse(d=60, r=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    U = torch.randn(d, r, generator=g, dtype=torch.float64)
    L = U @ U.T
    S = torch.zeros(d, d, dtype=torch.float64)
    idx = torch.randint(0, d, (20,), generator=g)
    S[idx, idx] = 30.0  # sparse, symmetric spikes
    return L, S


def test_ialm_recovers_low_rank_and_sparse_parts():
    L0, S0 = _low_rank_plus_sparse()
    res = robust_pca(L0 + S0)
    assert res.converged and res.iterations < 200
    assert numerical_rank(spectrum(res.L)[0]) == 4
    assert torch.linalg.matrix_norm(res.L - L0) / torch.linalg.matrix_norm(L0) < 1e-2


def test_ialm_matches_authors_admm():
    L0, S0 = _low_rank_plus_sparse(d=40, seed=1)
    M = L0 + S0
    lam = 1 / math.sqrt(40)
    fast, slow = robust_pca(M, lam), rpca_admm(M, lam)
    assert fast.converged and slow.converged
    assert abs(fast.objective(lam) - slow.objective(lam)) / slow.objective(lam) < 1e-3
    assert torch.allclose(fast.L, slow.L, atol=1e-3 * float(M.abs().max()))


def _grams(faces, seed, region):
    J = compute_jacobian(faces, faces.sample([seed])[0], progress=False)
    fg = parse_region(region, 64, faces.presets).at(64)
    return region_grams(J, fg), fg


def test_directions_are_unit_and_inside_rest_null_space(faces):
    (M_f, M_b), _ = _grams(faces, 0, "mouth")
    dirs = lowrankgan_directions(M_f, M_b, top_k=5, order="energy")
    V = dirs.vectors.double()
    assert V.shape == (5, 100)
    assert torch.allclose(V.norm(dim=1), torch.ones(5, dtype=V.dtype), atol=1e-5)
    # Orthonormal basis ordered by region energy, and each moves the rest far less than the region.
    assert torch.allclose(V @ V.T, torch.eye(5, dtype=V.dtype), atol=1e-5)
    energy_f = torch.einsum("kd,de,ke->k", V, M_f, V)
    energy_b = torch.einsum("kd,de,ke->k", V, M_b, V)
    assert (energy_f[:-1] >= energy_f[1:] - 1e-12).all()
    assert energy_b[0] < 0.1 * energy_f[0]
    assert (energy_b[:3] < 0.25 * energy_f[:3]).all()


def test_ratio_order_puts_the_cleanest_direction_of_the_null_space_first(faces):
    (M_f, M_b), _ = _grams(faces, 0, "mouth")
    ratio_dirs = lowrankgan_directions(M_f, M_b, top_k=5)  # the default order
    energy_dirs = lowrankgan_directions(M_f, M_b, top_k=5, order="energy")
    assert ratio_dirs.params["order"] == "ratio"
    R, E = ratio_dirs.vectors.double(), energy_dirs.vectors.double()
    assert torch.allclose(R.norm(dim=1), torch.ones(5, dtype=R.dtype), atol=1e-5)

    def ratios(V):
        return torch.einsum("kd,de,ke->k", V, M_f, V) / torch.einsum("kd,de,ke->k", V, M_b, V)

    r = ratios(R)
    assert (r[:-1] >= r[1:] * (1 - 1e-6)).all()
    assert r[0] > ratios(E).max()
    # Same null space: the rest's low-rank part does not see the ratio directions either.
    null_dir = lowrankgan_directions(M_f, M_b, order="paper").info["null_dim"]
    assert ratio_dirs.info["null_dim"] == null_dir


def test_resefa_maximises_region_over_rest(faces):
    (M_f, M_b), _ = _grams(faces, 1, "eyes")
    v = resefa_directions(M_f, M_b).vectors[0].double()
    ratio = lambda x: float(x @ M_f @ x / (x @ M_b @ x))
    rand = torch.randn(50, 100, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert all(ratio(v) > ratio(r) for r in rand)


def test_one_signature_for_every_method(faces):
    (M_f, M_b), fg = _grams(faces, 2, "eyes")
    grams = RegionGrams(M_f, M_b, int(fg.sum()), int((~fg).sum()))
    for method in ("lowrankgan", "resefa"):
        out = find(grams, method, top_k=3)
        assert out.vectors.shape == (3, 100) and out.method == method


def test_directions_are_deterministic(faces):
    (M_f, M_b), _ = _grams(faces, 3, "nose")
    a = lowrankgan_directions(M_f, M_b).vectors
    b = lowrankgan_directions(M_f.clone(), M_b.clone()).vectors
    assert torch.equal(a, b)


@pytest.mark.slow
def test_ialm_matches_authors_admm_on_real_grams(faces):
    """At the authors' λ = 1/60 on the mouth's rest Gram, a faster μ schedule ends 2e-3 off."""
    (M_f, M_b), _ = _grams(faces, 3, "mouth")
    for M in (M_f, M_b):
        fast, slow = robust_pca(M, 1 / 60), rpca_admm(M, 1 / 60)
        assert abs(fast.objective(1 / 60) - slow.objective(1 / 60)) / slow.objective(1 / 60) < 1e-3
        assert fast.iterations * 5 < slow.iterations
