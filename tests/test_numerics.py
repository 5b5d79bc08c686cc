"""Numerics that say what happened: the degenerate cases of the factorisation are errors or
warnings naming the case, never a silent result."""

import json
import math

import numpy as np
import pytest
import torch

from lowrankgan.errors import LowRankGANError
from lowrankgan.maths import factorize
from lowrankgan.maths.factorize import independent_rows, local_directions, robust_pca
from lowrankgan.maths.jacobian import MAX_RENDER_BATCH, compute_jacobian, region_grams, render_batch
from lowrankgan.maths.metrics import images_of, masked_mse
from lowrankgan.maths.methods import lowrankgan_directions, resefa_directions
from lowrankgan.maths.regions import parse_region
from lowrankgan.limits import parse_json
from lowrankgan.safewrite import json_text

D = 12


def _psd(rank: int, seed: int, d: int = D) -> torch.Tensor:
    A = torch.randn(d, rank, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return A @ A.T


def _spanning(M: torch.Tensor, V: torch.Tensor) -> float:
    """Largest share of a unit row of ``V`` outside the column span of ``M`` (0: all inside)."""
    evals, evecs = torch.linalg.eigh(M)
    U = evecs[:, evals > 1e-9 * float(evals.max())]
    rows = V.double()
    return float((rows - rows @ U @ U.T).norm(dim=1).max())


def test_robust_pca_of_a_zero_matrix_is_zero_and_converged():
    fit = robust_pca(torch.zeros(D, D))
    assert fit.converged and fit.iterations == 0
    assert not fit.L.any() and not fit.S.any()


def test_robust_pca_says_when_it_did_not_converge():
    fit = robust_pca(_psd(3, 0) + torch.diag(torch.arange(D, dtype=torch.float64)), max_iter=2)
    assert not fit.converged and fit.iterations == 2 and fit.residual > 1e-6


def test_zero_region_gram_is_an_error_for_every_region_method():
    M_b = _psd(4, 1)
    with pytest.raises(LowRankGANError, match="region's Gram is zero"):
        lowrankgan_directions(torch.zeros(D, D, dtype=torch.float64), M_b)
    with pytest.raises(LowRankGANError, match="region's Gram is zero"):
        resefa_directions(torch.zeros(D, D, dtype=torch.float64), M_b)


def test_region_with_no_low_rank_part_is_an_error():
    # A diagonal Gram is all "sparse" for a small lam: robust PCA leaves L_f = 0.
    M_f = torch.diag(torch.linspace(1, 2, D, dtype=torch.float64))
    with pytest.raises(LowRankGANError, match="no low-rank part.*larger lam"):
        lowrankgan_directions(M_f, _psd(3, 2), lam=1e-4)


def test_full_rank_rest_warns_that_there_is_no_null_space():
    Q, _ = torch.linalg.qr(torch.randn(D, D, generator=torch.Generator().manual_seed(3), dtype=torch.float64))
    M_b = Q @ torch.diag(torch.linspace(1, 3, D, dtype=torch.float64)) @ Q.T * 10  # dense, full rank
    dirs = lowrankgan_directions(_psd(2, 4), M_b, lam=1.0, top_k=5)
    assert dirs.info["null_dim"] == 1 and dirs.info["rank_rest"] == D
    warnings = dirs.info["warnings"]
    assert any("full rank 12 of 12" in w and "no null space" in w for w in warnings)
    assert any("1 directions, fewer than the 5 asked for" in w and "null space has 1 dimensions" in w for w in warnings)


def test_not_converged_is_a_warning(monkeypatch):
    monkeypatch.setattr(factorize, "RPCA_MAX_ITER", 2)
    _, info = local_directions(_psd(3, 5) + 0.1 * torch.eye(D, dtype=torch.float64), _psd(4, 6))
    assert info["converged"] is False
    assert any("did not converge in 2 iterations" in w for w in info["warnings"])


def test_converged_fit_carries_no_warning():
    _, info = local_directions(_psd(3, 5), _psd(4, 6))
    assert info["converged"] is True and "warnings" not in info


def test_max_rank_limits_the_region_rank_and_says_so():
    dirs = lowrankgan_directions(_psd(5, 7), _psd(3, 8), max_rank=2, top_k=4)
    assert dirs.vectors.shape[0] == 2 and dirs.info["rank_region"] == 2
    assert any("max_rank is 2" in w for w in dirs.info["warnings"])


def test_no_rest_energy_orders_by_region_energy():
    M_f = _psd(3, 9)
    dirs = lowrankgan_directions(M_f, torch.zeros(D, D, dtype=torch.float64), top_k=3)
    assert dirs.info["rank_rest"] == 0 and dirs.info["null_dim"] == D
    evals, evecs = torch.linalg.eigh(robust_pca(M_f).L)  # the region's low-rank part, by energy
    top = evecs[:, torch.argsort(evals, descending=True)[:3]].T
    assert torch.allclose((dirs.vectors.double() @ top.T).abs(), torch.eye(3, dtype=torch.float64), atol=1e-4)


def test_paper_order_returns_independent_rows_and_says_why_fewer():
    # Region rank 5, rest rank D - 2: the five projections into the 2-dim null space span 2 dims.
    dirs = lowrankgan_directions(_psd(5, 10), _psd(D - 2, 11), lam=10.0, order="paper", top_k=5)
    V = dirs.vectors.double()
    assert dirs.info["null_dim"] == 2
    assert V.shape[0] == 2 and int(torch.linalg.matrix_rank(V)) == 2
    assert any("2 directions, fewer than the 5 asked for" in w for w in dirs.info["warnings"])


def test_paper_order_rows_are_independent_on_real_grams(faces):
    J = compute_jacobian(faces, faces.sample([0])[0], progress=False)
    M_f, M_b = region_grams(J, parse_region("eyes", 64, faces.presets).at(64))
    V = lowrankgan_directions(M_f, M_b, order="paper", top_k=None).vectors.double()
    assert V.shape[0] >= 1 and int(torch.linalg.matrix_rank(V, rtol=1e-6)) == V.shape[0]
    assert torch.allclose(V.norm(dim=1), torch.ones(V.shape[0], dtype=V.dtype), atol=1e-5)


def test_independent_rows_keeps_order_and_drops_repeats_and_zeros():
    e = torch.eye(4, dtype=torch.float64)
    rows = torch.stack([e[0], 2 * e[0], e[0] + e[1], torch.zeros(4), e[1] - e[0], e[2]])
    kept = independent_rows(rows)
    assert kept.shape == (3, 4)
    assert torch.allclose(kept[0], e[0]) and torch.allclose(kept[1], (e[0] + e[1]) / 2 ** 0.5)
    assert torch.allclose(kept[2], e[2])
    assert _spanning(rows.T @ rows, kept) < 1e-9


# --------------------------------------------------------------------------- files and JSON

def test_zero_rows_in_a_direction_file_are_refused_by_row(tmp_path):
    from lowrankgan.files.directionfile import load_directions
    vectors = np.eye(4, 6, dtype=np.float32)
    vectors[2] = 0
    np.save(tmp_path / "d.npy", vectors)
    with pytest.raises(LowRankGANError, match=r"row 2 \(of 4, counted from 0\) is all zeros"):
        load_directions(tmp_path / "d.npy")
    vectors[0] = 0
    np.save(tmp_path / "d.npy", vectors)
    with pytest.raises(LowRankGANError, match=r"rows 0, 2 \(of 4.*are all zeros"):
        load_directions(tmp_path / "d.npy")


def test_zero_rows_are_one_error_line_on_the_command_line(capsys, tmp_path):
    from lowrankgan.cli import main
    np.save(tmp_path / "d.npy", np.zeros((2, 100), np.float32))
    code = main(["edit", "--directions", str(tmp_path / "d.npy"), "--out", str(tmp_path / "o.png")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("lowrankgan: error:") and "rows 0, 1" in err and "Traceback" not in err
    assert not (tmp_path / "o.png").exists()


def test_an_unreached_leak_is_written_as_null_and_read_back(tmp_path):
    from lowrankgan.files.directionfile import DirectionSet, load_directions, save_directions
    meta = {"model": "dcgan-faces", "latent_space": "z", "latent_dim": 6, "method": "lowrankgan",
            "leak_source_top1": math.inf, "leak_strength_top1": math.nan, "info": {"ranks": [1.0, math.inf]}}
    save_directions(DirectionSet(np.eye(2, 6, dtype=np.float32), meta), tmp_path / "d")
    text = (tmp_path / "d" / "directions.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    loaded = load_directions(tmp_path / "d")
    assert loaded.meta["leak_source_top1"] is None and loaded.meta["leak_strength_top1"] is None
    assert loaded.meta["info"]["ranks"] == [1.0, None]


def test_strict_json_turns_every_non_finite_number_into_null():
    text = json_text({"a": [1.5, math.inf, -math.inf], "b": {"c": math.nan}, "d": np.float32("nan"),
                      "e": torch.tensor(float("inf")), "f": (2, "inf")})
    assert json.loads(text) == {"a": [1.5, None, None], "b": {"c": None}, "d": None, "e": None, "f": [2, "inf"]}
    assert parse_json(text.encode(), "test")  # the strict reader takes it


def test_cli_prints_the_method_warnings_and_records_them(capsys, tmp_path):
    from lowrankgan.cli import main
    out = tmp_path / "d"
    code = main(["directions", "--seed", "0", "--region", "eyes", "--order", "paper", "--top-k", "90",
                 "--out", str(out)])
    captured = capsys.readouterr()
    meta = json.loads((out / "directions.json").read_text())
    warnings = meta["info"]["warnings"]
    k = np.load(out / "directions.npy").shape[0]
    assert code == 0 and k < 90
    assert any(f"{k} directions, fewer than the 90 asked for" in w for w in warnings)
    assert f"lowrankgan: warning: {warnings[0]}" in captured.err


# --------------------------------------------------------------------------- the leak's renders

class _Plain:
    """A generator whose 8x8 image is the code's first entry everywhere; 'out of memory' for
    batches larger than ``max_batch``; it records the batches it rendered."""

    device = torch.device("cpu")

    def __init__(self, max_batch: int | None = None) -> None:
        self.max_batch, self.batches = max_batch, []

    def modules(self):
        return []

    def synthesize(self, codes, space="z"):
        if self.max_batch is not None and codes.shape[0] > self.max_batch:
            raise torch.OutOfMemoryError("out of memory (simulated)")
        self.batches.append(codes.shape[0])
        return codes[:, :1, None, None].expand(-1, 3, 8, 8).clone()


IMAGE_BYTES = 3 * 8 * 8 * 4


def test_render_batch_is_sized_from_the_memory_budget():
    gen, code = _Plain(), torch.zeros(4)
    assert render_batch(gen, code, "z", 1000, budget_mb=10 * IMAGE_BYTES / 2**20) == 10
    assert render_batch(gen, code, "z", 1000, free_bytes=25 * IMAGE_BYTES, device=torch.device("cuda")) == 12
    assert render_batch(gen, code, "z", 1000, budget_mb=1024) == MAX_RENDER_BATCH
    assert render_batch(gen, code, "z", 5, budget_mb=1024) == 5


def test_renders_that_run_out_of_memory_are_halved_and_complete():
    gen = _Plain(max_batch=3)
    codes = torch.arange(10, dtype=torch.float32)[:, None].repeat(1, 4) / 10
    images = images_of(gen, codes, "z", batch=8)
    assert torch.equal(images[:, 0, 0, 0], codes[:, 0])
    assert sum(gen.batches) == 10 and max(gen.batches) <= 3
    with pytest.raises(LowRankGANError, match="one image of this model does not fit"):
        images_of(_Plain(max_batch=0), codes, "z")


def test_the_leak_measures_clamped_images():
    gen = _Plain()
    assert float(images_of(gen, torch.tensor([[3.0, 0.0]]), "z").max()) == 1.0
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[:4] = True
    # Base image 0.5; at ±2 along the first axis: 2.5 -> 1 (change 0.5) and -1.5 -> -1 (change 1.5).
    mse_in, mse_out = masked_mse(gen, torch.tensor([0.5, 0.0]), torch.tensor([[1.0, 0.0]]), mask, 2.0, "z")
    assert float(mse_in[0]) == pytest.approx((0.5 ** 2 + 1.5 ** 2) / 2)
    assert float(mse_out[0]) == pytest.approx((0.5 ** 2 + 1.5 ** 2) / 2)


def test_the_page_answers_in_strict_json():
    from flask import jsonify

    from lowrankgan.web.server import create_app
    from lowrankgan.web.session import Workspace
    app = create_app(Workspace(["dcgan-faces"], device="cpu"), token="t")
    with app.app_context():
        body = jsonify(directions=[{"leak": math.inf, "plus": 0.5, "minus": math.nan}]).get_data(as_text=True)
    assert json.loads(body) == {"directions": [{"leak": None, "plus": 0.5, "minus": None}]}
    assert "Infinity" not in body and "NaN" not in body
