"""Benchmark our StyleGAN2 at full config-f size (random weights): forward pass and W Jacobian.

    python benchmarks/bench_stylegan2.py                      # CPU, 1024², 8 of 512 tangents
    python benchmarks/bench_stylegan2.py --resolution 64 --channel-base 2048 --w-dim 64   # tiny
    python benchmarks/bench_stylegan2.py --device cuda        # all tangents, strict fp32 vs TF32

The Jacobian is what lowrankgan analyses: ``J = d img / d w`` with ``img`` the output resized to
the analysis size by area averaging and averaged over RGB, computed with ``torch.func.jvp`` under
``torch.func.vmap`` over a chunk of basis vectors. On CPU only a few tangents are computed and the
full-Jacobian time is extrapolated linearly (the output says so).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

try:
    import lowrankgan  # noqa: F401
except ImportError:  # run from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from lowrankgan.models.stylegan2 import StyleGAN2Adapter, build_random_stylegan2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--resolution", type=int, default=1024)
    p.add_argument("--w-dim", type=int, default=512)
    p.add_argument("--channel-base", type=int, default=32768)
    p.add_argument("--channel-max", type=int, default=512)
    p.add_argument("--analysis-size", type=int, default=256)
    p.add_argument("--tangents", type=int, default=None,
                   help="basis vectors to push through jvp (default: 8 on CPU, all on CUDA)")
    p.add_argument("--chunk", type=int, default=None,
                   help="tangents per vmap call (default: 8 on CPU, 64 on CUDA)")
    p.add_argument("--repeats", type=int, default=3, help="timed forward passes (min reported)")
    p.add_argument("--forward-batch", action="store_true",
                   help="also time one batched forward of --chunk images (the 'd forward passes' "
                        "yardstick for the Jacobian)")
    p.add_argument("--top-k", type=int, default=5, help="CUDA: singular directions compared")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- measuring

def peak_rss_gib() -> float:
    """Process high-water mark (Linux reports KiB). Monotone: read it after each phase."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> tuple[float, object]:
    sync(device)
    t0 = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - t0, out


class PeakMemory:
    """Peak memory of one phase: CUDA allocator peak, or the process RSS high-water mark."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        self.before = peak_rss_gib()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            self.peak = torch.cuda.max_memory_allocated(self.device) / 2 ** 30
            self.text = f"{self.peak:.2f} GiB CUDA peak allocated"
        else:
            self.peak = peak_rss_gib()
            grew = self.peak - self.before
            self.text = (f"{self.peak:.2f} GiB process peak RSS"
                         + (f" (+{grew:.2f} GiB in this phase)" if grew > 0.005 else
                            " (no new high-water mark in this phase)"))


# ----------------------------------------------------------------------------- the Jacobian

def analysis_fn(adapter: StyleGAN2Adapter, size: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """w [1, d] -> analysis image as a vector [size*size] (area-resized, RGB mean)."""
    def f(w: torch.Tensor) -> torch.Tensor:
        img = adapter.synthesize(w, "w")
        if img.shape[-1] != size:
            img = F.interpolate(img, size=(size, size), mode="area")
        return img.mean(dim=1).reshape(-1)
    return f


def jacobian_columns(f: Callable, w: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """``[k, P]``: J @ v for each row v of ``basis`` [k, d], one vmap over jvp."""
    push = lambda v: torch.func.jvp(f, (w,), (v.reshape(w.shape),))[1]  # noqa: E731
    return torch.func.vmap(push)(basis)


def jacobian(f: Callable, w: torch.Tensor, tangents: int, chunk: int) -> torch.Tensor:
    d = w.shape[-1]
    cols = []
    for start in range(0, tangents, chunk):
        idx = torch.arange(start, min(start + chunk, tangents), device=w.device)
        basis = F.one_hot(idx, d).to(w.dtype)
        cols.append(jacobian_columns(f, w, basis))
    return torch.cat(cols).t()  # [P, tangents]


def set_tf32(enabled: bool) -> None:
    """TF32 for CUDA matmuls and cuDNN convolutions (cuDNN's legacy default is TF32 on)."""
    mode = "tf32" if enabled else "ieee"
    conv = getattr(torch.backends.cudnn, "conv", None)
    if hasattr(torch.backends.cuda.matmul, "fp32_precision") and conv is not None:
        # torch >= 2.9: the new API; mixing it with the legacy flags is an error.
        torch.backends.cuda.matmul.fp32_precision = mode
        conv.fp32_precision = mode
    else:
        torch.backends.cuda.matmul.allow_tf32 = enabled
        torch.backends.cudnn.allow_tf32 = enabled


def compare_precisions(f: Callable, w: torch.Tensor, tangents: int, chunk: int,
                       device: torch.device, top_k: int) -> None:
    """Jacobian in strict fp32 and in TF32: time, memory, and how far the top singular
    directions (what the method keeps) move."""
    results = {}
    for mode in ("fp32", "tf32"):
        set_tf32(mode == "tf32")
        jacobian(f, w, min(chunk, tangents), chunk)  # warm-up for this precision mode
        with PeakMemory(device) as mem:
            t_jac, J = timed(lambda: jacobian(f, w, tangents, chunk), device)
        results[mode] = J
        print(f"W Jacobian [{J.shape[0]} x {tangents}], {mode}, chunk {chunk}: {t_jac:.2f} s "
              f"({t_jac / tangents * 1e3:.1f} ms per tangent); memory {mem.text}")
    set_tf32(False)
    J32, Jtf = results["fp32"].double(), results["tf32"].double()
    rel = ((Jtf - J32).norm() / J32.norm()).item()
    k = min(top_k, tangents)
    _, s32, v32 = torch.linalg.svd(J32, full_matrices=False)
    _, _, vtf = torch.linalg.svd(Jtf, full_matrices=False)
    cos = (v32[:k] * vtf[:k]).sum(dim=1).abs().tolist()
    print(f"TF32 vs strict fp32: relative |dJ|_F {rel:.2e}; top-{k} singular values (fp32) "
          f"{[f'{x:.3g}' for x in s32[:k].tolist()]}; |cos| of matching top right singular "
          f"vectors {[f'{c:.5f}' for c in cos]}")


# ----------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda but CUDA is not available")
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu = device.type == "cpu"
    tangents = min(args.tangents or (8 if cpu else args.w_dim), args.w_dim)
    chunk = max(1, min(args.chunk or (8 if cpu else 64), tangents))

    print(f"# bench_stylegan2  torch {torch.__version__}  python {platform.python_version()}  "
          f"device {device}" + (f" ({torch.cuda.get_device_name(device)})" if not cpu else
                                f" ({torch.get_num_threads()} threads)"))
    if hasattr(os, "getloadavg"):  # other processes on the machine distort CPU timings
        print(f"load average before start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"config: {args.resolution}² channel_base {args.channel_base} channel_max "
          f"{args.channel_max} w_dim {args.w_dim}, random weights (seed {args.seed}), float32")

    set_tf32(False)
    t_build, adapter = timed(lambda: build_random_stylegan2(
        args.resolution, args.w_dim, args.channel_base, args.channel_max, seed=args.seed), device)
    adapter.to(device)
    n_params = sum(p.numel() for p in adapter.generator.parameters())
    print(f"build: {t_build:.2f} s, {n_params / 1e6:.1f} M parameters, num_ws {adapter.num_layers}")
    w = adapter.sample([args.seed], "w")

    # Forward pass, batch 1 (first call warms up kernels and allocator; not counted).
    with torch.no_grad(), PeakMemory(device) as mem:
        t_warm, _ = timed(lambda: adapter.synthesize(w, "w"), device)
        times = [timed(lambda: adapter.synthesize(w, "w"), device)[0] for _ in range(args.repeats)]
    t_fwd = min(times)
    print(f"forward batch 1: {t_fwd * 1e3:.0f} ms (min of {args.repeats}; first call "
          f"{t_warm * 1e3:.0f} ms); memory {mem.text}")

    if args.forward_batch:
        wb = adapter.sample(list(range(chunk)), "w")
        with torch.no_grad(), PeakMemory(device) as mem:
            t_batch, _ = timed(lambda: adapter.synthesize(wb, "w"), device)
        print(f"forward batch {chunk}: {t_batch:.2f} s = {t_batch / chunk * 1e3:.0f} ms per image; "
              f"memory {mem.text}")

    f = analysis_fn(adapter, args.analysis_size)
    P = args.analysis_size ** 2
    if cpu:
        # The first jvp/vmap of a process sets up functorch (about a second): not part of J.
        tiny = build_random_stylegan2(8, 8, 64, 8, mapping_layers=1)
        jacobian(analysis_fn(tiny, 4), tiny.sample([0], "w"), 2, 2)
        with PeakMemory(device) as mem:
            t_jac, J = timed(lambda: jacobian(f, w, tangents, chunk), device)
        per = t_jac / tangents
        print(f"W Jacobian at {args.analysis_size}² (jvp under vmap, chunk {chunk}): "
              f"{tangents} of {args.w_dim} tangents in {t_jac:.2f} s = {per * 1e3:.0f} ms per "
              f"tangent; memory {mem.text}")
        print(f"  EXTRAPOLATED full Jacobian [{P} x {args.w_dim}]: {per * args.w_dim:.0f} s "
              f"(linear in tangents, from {tangents} measured)")
        print(f"  per tangent / forward batch 1: {per / t_fwd:.2f}x"
              + (f"; per tangent / batched-forward per image: {per / (t_batch / chunk):.2f}x"
                 if args.forward_batch else ""))
        print(f"  J finite: {bool(torch.isfinite(J).all())}, |J|_F = {J.norm():.3e}")
        return

    compare_precisions(f, w, tangents, chunk, device, args.top_k)


if __name__ == "__main__":
    main()
