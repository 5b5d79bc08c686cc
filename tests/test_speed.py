"""The fast paths give the same numbers as the plain ones: hand-propagated tangents, chunks from a
device's free memory (and halved on out-of-memory), Grams formed on the model's device, the
precision switch, robust PCA side by side, the batched leak measurement."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from lowrankgan import api
from lowrankgan.maths import jacobian
from lowrankgan.errors import LowRankGANError
from lowrankgan.maths.factorize import canonical_sign, robust_pca, robust_pca_many, stable_order
from lowrankgan.maths.jacobian import (_activation_bytes, _by_torch_func, auto_chunk, averaged_region_grams,
                                 chunk_for_memory, compute_jacobian, memory_budget, region_grams)
from lowrankgan.models.linearize import sequential_tangents, supports
from lowrankgan.maths.metrics import measure_leak
from lowrankgan.models.dcgan import DCGANAdapter
from lowrankgan.maths.precision import get_flags, precision_mode


def _func_jacobian(gen, code, size):
    with torch.no_grad():
        return _by_torch_func(gen, code, "z", None, size)(torch.eye(code.shape[-1])).T


def test_hand_tangents_equal_torch_func_on_the_embedded_model(faces):
    code = faces.sample([11])[0]
    J = compute_jacobian(faces, code, analysis_size=32, cache=False, progress=False)
    assert torch.allclose(J, _func_jacobian(faces, code, 32), atol=1e-5, rtol=1e-4)


def _small_net(last: nn.Module) -> nn.Sequential:
    torch.manual_seed(0)
    net = nn.Sequential(nn.ConvTranspose2d(12, 16, 4, 1, 0), nn.BatchNorm2d(16), nn.ReLU(),
                        nn.ConvTranspose2d(16, 8, 4, 2, 1), nn.BatchNorm2d(8), last,
                        nn.Conv2d(8, 3, 3, 1, 1), nn.Tanh())
    for m in net:
        if isinstance(m, nn.BatchNorm2d):  # non-trivial statistics, as a trained net has
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return net.eval().requires_grad_(False)


def test_hand_tangents_cover_conv_bias_and_class_inputs():
    """Conv2d after transposed ones, biases, and a class one-hot the tangents must not move."""
    gen = DCGANAdapter(_small_net(nn.ReLU()), "tiny", classes=("a", "b"))
    gen.set_class("b")
    code = gen.sample([3])[0]
    J = compute_jacobian(gen, code, analysis_size=8, cache=False, progress=False)
    assert J.shape == (64, 10)
    assert torch.allclose(J, _func_jacobian(gen, code, 8), atol=1e-5, rtol=1e-4)


def test_unknown_layer_falls_back_to_torch_func():
    net = _small_net(nn.LeakyReLU(0.2))
    assert not supports(net)
    gen = DCGANAdapter(net, "tiny-leaky")
    code = gen.sample([4])[0]
    assert sequential_tangents(net, code[None, :, None, None], torch.eye(12)[:, :, None, None]) is None
    J = compute_jacobian(gen, code, analysis_size=8, cache=False, progress=False)
    f = lambda c: torch.nn.functional.interpolate(gen.synthesize(c[None]), size=(8, 8), mode="area").mean(1).flatten()
    assert torch.allclose(J, torch.autograd.functional.jacobian(f, code), atol=1e-5, rtol=1e-4)


def test_chunk_comes_from_the_given_free_memory(faces, monkeypatch):
    code = faces.sample([0])[0]
    per_tangent = 3 * _activation_bytes(faces, code, "z")
    gpu = torch.device("cuda")
    # A GPU's free memory (given here, as torch.cuda.mem_get_info would report it): half is used.
    assert memory_budget(gpu, free_bytes=10 * 2**30) == 5 * 2**30
    assert auto_chunk(faces, code, "z", 100, free_bytes=2 * 7 * per_tangent, device=gpu) == 7
    assert auto_chunk(faces, code, "z", 100, free_bytes=2 * 10**6 * per_tangent, device=gpu) == 64  # capped
    assert auto_chunk(faces, code, "z", 100, free_bytes=1, device=gpu) == 1
    # The CPU: a quarter of the available memory within 1-8 GiB, uncapped; 1 GiB when unknown.
    cpu = torch.device("cpu")
    assert memory_budget(cpu, free_bytes=16 * 2**30) == 4 * 2**30
    assert memory_budget(cpu, free_bytes=2**30) == 2**30 and memory_budget(cpu, free_bytes=2**40) == 8 * 2**30
    # Ray workers (one per CPU) share the quarter, down to the old 1 GiB floor.
    monkeypatch.setattr(jacobian, "_cpu_sharers", 4)
    assert memory_budget(cpu, free_bytes=64 * 2**30) == 4 * 2**30 and memory_budget(cpu, free_bytes=8 * 2**30) == 2**30
    monkeypatch.setattr(jacobian, "_cpu_sharers", 1)
    monkeypatch.setattr(jacobian, "_cpu_available_bytes", lambda: None)
    assert memory_budget(cpu) == 1024 * 2**20
    assert auto_chunk(faces, code, "z", 100) == 100  # one chunk: 1 GiB holds all 100 tangents
    # An explicit budget wins over both.
    assert memory_budget(gpu, budget_mb=100, free_bytes=10 * 2**30) == 100 * 2**20
    assert auto_chunk(faces, code, "z", 100, budget_mb=per_tangent * 3 / 2**20) == 3
    assert chunk_for_memory(1000, 5, 10**9) == 5


def test_cpu_budget_reads_the_available_memory():
    available = jacobian._cpu_available_bytes()
    if Path("/proc/meminfo").exists():
        assert available is not None and 0 < available <= os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        assert memory_budget(torch.device("cpu")) == min(max(available / 4, 2**30), 8 * 2**30)


class _SmallMemory(DCGANAdapter):
    """Runs out of memory on chunks above ``limit`` tangents, as a GPU would."""

    limit = 8
    sizes: list[int]

    def tangent_images(self, code, tangents, space):
        self.sizes.append(tangents.shape[0])
        if tangents.shape[0] > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return super().tangent_images(code, tangents, space)


def test_out_of_memory_halves_the_chunk(faces):
    gen = _SmallMemory(faces.net, "faces-small-memory")
    gen.sizes = []
    code = faces.sample([1])[0]
    J = compute_jacobian(gen, code, analysis_size=16, chunk_size=50, cache=False, progress=False)
    assert gen.sizes[:3] == [50, 25, 12] and max(gen.sizes[3:]) <= 8
    ref = compute_jacobian(faces, code, analysis_size=16, cache=False, progress=False)
    assert torch.allclose(J, ref, atol=1e-6)
    gen.limit, gen.sizes = 0, []  # not even one tangent fits: one clear error, no traceback
    with pytest.raises(LowRankGANError, match="does not fit"):
        compute_jacobian(gen, code, analysis_size=16, chunk_size=4, cache=False, progress=False)
    assert gen.sizes == [4, 2, 1]


def test_device_grams_equal_host_grams_and_cache_is_written(faces, tmp_path, monkeypatch):
    monkeypatch.setenv("LOWRANKGAN_HOME", str(tmp_path))
    codes = faces.sample([2, 3])
    fg = api.as_region(faces, "eyes").at(64)
    M_f, M_b = averaged_region_grams(faces, codes, fg, "z", None, 64, cache=True, progress=False)
    pairs = [region_grams(compute_jacobian(faces, c, cache=False, progress=False), fg) for c in codes]
    assert torch.allclose(M_f, (pairs[0][0] + pairs[1][0]) / 2, rtol=1e-10, atol=1e-14)
    assert torch.allclose(M_b, (pairs[0][1] + pairs[1][1]) / 2, rtol=1e-10, atol=1e-14)
    assert M_f.device.type == "cpu" and M_f.dtype == torch.float64
    # Both Jacobians were written (in the background) before the call returned, and are read back.
    assert len(list((tmp_path / "jacobians").glob("*.pt"))) == 2
    again = averaged_region_grams(faces, codes, fg, "z", None, 64, cache=True, progress=False)
    assert torch.equal(again[0], M_f)


def test_precision_switch_sets_and_restores_the_flags():
    before = get_flags()
    with precision_mode("tf32"):
        assert get_flags()[1:] in (("tf32", "tf32"), (True, True))
    with precision_mode("strict"):
        assert get_flags()[1:] in (("ieee", "ieee"), (False, False))
    assert get_flags() == before
    with pytest.raises(LowRankGANError, match="precision"):
        with precision_mode("fp16"):
            pass


def test_find_directions_checks_precision(faces):
    with pytest.raises(LowRankGANError, match="unknown precision"):
        api.find_directions(faces, 0, "eyes", precision="half", cache=False, progress=False)


def test_robust_pca_side_by_side_equals_one_at_a_time(faces, monkeypatch):
    from lowrankgan.maths import factorize
    monkeypatch.setattr(factorize, "_idle_cores", lambda: 2)  # threads even on a busy machine
    J = compute_jacobian(faces, faces.sample([5])[0], cache=False, progress=False)
    M_f, M_b = region_grams(J, api.as_region(faces, "mouth").at(64))
    pair = robust_pca_many([M_f, M_b])
    for M, fit in zip((M_f, M_b), pair):
        alone = robust_pca(M)
        assert torch.equal(fit.L, alone.L) and fit.iterations == alone.iterations


def test_leak_strength_is_calibrated_to_the_target(faces):
    """The definition: at the returned strength the in-region RMS change is the target (from above)."""
    from lowrankgan.maths.metrics import rms_inside_outside
    code = faces.sample([6])[0]
    p = torch.nn.functional.normalize(torch.randn(100, generator=torch.Generator().manual_seed(1)), dim=0)
    mask = torch.from_numpy(api.as_region(faces, "mouth").mask)
    lk = measure_leak(faces, code, p, mask, target=0.1)
    with torch.no_grad():
        base = faces.synthesize(code[None])
        moved = faces.synthesize(torch.stack([code + lk.strengths[0] * p, code - lk.strengths[1] * p]))
    inside, outside = rms_inside_outside(moved - base, mask)
    assert torch.all(inside >= 0.1 * (1 - 1e-5)) and torch.allclose(inside, torch.full((2,), 0.1), rtol=1e-5)
    assert lk.leak == pytest.approx(float((outside / inside).mean()), rel=1e-5)


def test_near_degenerate_directions_are_ordered_by_their_span_only():
    """Two bases of the same near-degenerate pair (as strict fp32 and TF32 may return) come out
    as the same directions; a well-separated direction is left alone."""
    g = torch.Generator().manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(20, 3, generator=g, dtype=torch.float64))
    V = Q.T  # rows: 3 orthonormal directions
    values = torch.tensor([1.0, 0.999, 0.5], dtype=torch.float64)  # the first two: a near-degenerate pair
    B = torch.randn(20, 20, generator=g, dtype=torch.float64)
    B = B @ B.T
    c, s = 0.6, 0.8  # another basis of the pair's span
    W = V.clone()
    W[0], W[1] = c * V[0] + s * V[1], -s * V[0] + c * V[1]
    a, runs = stable_order(V, values, B)
    b, _ = stable_order(W, values, B)
    assert runs == [[0, 1]]
    assert torch.allclose(a, b, atol=1e-12)
    assert torch.allclose(a[2], canonical_sign(V[2:3])[0])
    energy = torch.einsum("kd,de,ke->k", a[:2], B, a[:2])
    assert energy[0] <= energy[1]  # least secondary energy first inside the run


def test_cli_start_up_imports_no_heavy_optional_modules():
    # scipy.signal alone took about 1 s of every CLI call's start-up; the StyleGAN3 filter design
    # that needs it imports it when a StyleGAN3 model is built. The evaluation loop and its report,
    # the Ray code and the StyleGAN adapters load when a command needs them (a zoo model never does).
    code = ("import sys, lowrankgan.cli; "
            "bad = [m for m in ('scipy.signal', 'scipy.special', 'matplotlib', 'flask', 'ray', 'skimage', "
            "'lowrankgan.evaluation.run', 'lowrankgan.evaluation.report', 'lowrankgan.evaluation.summary', "
            "'lowrankgan.distributed', 'lowrankgan.models.stylegan2', 'lowrankgan.models.stylegan3') "
            "if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_lazily_loaded_names_still_resolve():
    # The evaluation package's names load their module on use: the same objects as the modules' own.
    code = ("import lowrankgan.evaluation as ev, lowrankgan.evaluation.run as run, lowrankgan.api as api; "
            "assert ev.evaluate is run.evaluate and ev.format_table.__module__.endswith('summary'); "
            "assert ev.DEFAULT_METHODS == run.DEFAULT_METHODS and api.EVALUATION_CONFIG == run.CONFIG_NAME; "
            "assert not hasattr(ev, 'no_such_name')")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_source_leak_is_measured_only_when_asked(faces):
    plain = api.find_directions(faces, 2, "eyes", top_k=2, progress=False)
    assert "leak_source_top1" not in plain.meta
    probed = api.find_directions(faces, 2, "eyes", top_k=2, progress=False, leak_images=1)
    assert probed.meta["leak_images"] == ["seed 2"]
    assert probed.meta["leak_source_top1"] == round(api.direction_leaks(faces, probed, 2, "eyes")[0].leak, 4)
    assert torch.equal(torch.from_numpy(plain.vectors), torch.from_numpy(probed.vectors))
