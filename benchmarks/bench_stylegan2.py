"""StyleGAN2 Jacobians through lowrankgan's own code path, one table, ratios from one run.

    python benchmarks/bench_stylegan2.py --device cuda     # config-f 1024², W, analysis 256² (< 5 min)
    python benchmarks/bench_stylegan2.py                   # CPU: a small config, the same table

Random weights (config-f sizes on CUDA). Rows: the user's default path (``compute_jacobian`` with the
chunk it picks from the device's free memory, default precision), a chunk sweep in both precisions
with peak memory, the bound (``d`` forward passes in batches), the authors' reverse mode (one
backward pass per pixel, timed on some pixels and extrapolated: the output says so), W+ with the
default per-layer rows, Grams of two images formed on the device, and how far TF32 moves the top
directions. Never run in CI.
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Callable

import torch

try:
    import lowrankgan  # noqa: F401
except ImportError:  # run from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from lowrankgan.maths.factorize import stable_order
from lowrankgan.maths.methods import lowrankgan_directions, resefa_directions
from lowrankgan.maths.jacobian import analysis_image, auto_chunk, averaged_region_grams, compute_jacobian, region_grams
from lowrankgan.models.stylegan2 import build_random_stylegan2
from lowrankgan.maths.precision import DEFAULT_PRECISION, precision_mode
from lowrankgan.maths.regions import parse_region

CONFIGS = {  # resolution, w_dim, channel_base, channel_max, analysis size, chunk sweep, reverse pixels
    "cuda": (1024, 512, 32768, 512, 256, (16, 32, 64), 64),
    "cpu": (64, 64, 2048, 128, 64, (8, 16, 32), 16),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--resolution", type=int, default=None)
    p.add_argument("--w-dim", type=int, default=None)
    p.add_argument("--channel-base", type=int, default=None)
    p.add_argument("--channel-max", type=int, default=None)
    p.add_argument("--analysis-size", type=int, default=None)
    p.add_argument("--chunks", default=None, help="chunk sweep, e.g. 16,32,64")
    p.add_argument("--reverse-pixels", type=int, default=None, help="backward passes timed (extrapolated)")
    p.add_argument("--bound-batch", type=int, default=16, help="batch of the bound's forward passes")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: torch.device) -> float:
    """CUDA allocator peak since the last reset; on the CPU the process high-water mark (KiB)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def timed(fn: Callable[[], object], device: torch.device) -> tuple[float, object, float]:
    """(seconds, result, peak GiB) of one call."""
    sync(device)
    peak_reset(device)
    t0 = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - t0, out, peak_gib(device)


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []

    def add(self, what: str, seconds: float, note: str = "") -> None:
        self.rows.append((what, f"{seconds:.2f} s" if seconds >= 0.1 else f"{seconds * 1e3:.1f} ms", note))
        print(f"  {what}: {self.rows[-1][1]} {note}", flush=True)

    def print(self) -> None:
        print("\n| what | time | note |\n|---|---|---|")
        for what, t, note in self.rows:
            print(f"| {what} | {t} | {note} |")


def jacobian_fn(gen, w, space: str, size: int, precision: str, chunk: int | None, layers=None):
    return lambda: compute_jacobian(gen, w, space, layers, size, chunk_size=chunk, cache=False, progress=False,
                                    precision=precision, on_device=True)


def bound(gen, w: torch.Tensor, size: int, batch: int, precision: str) -> Callable[[], object]:
    """``d`` forward passes of the analysis image, ``batch`` at a time: what a Jacobian by forward
    mode cannot beat by much (one tangent costs about one forward pass)."""
    d = w.shape[-1]
    codes = w.expand(batch, -1).contiguous()

    def run():
        with torch.no_grad(), precision_mode(precision):
            for _ in range(0, d, batch):
                analysis_image(gen.synthesize(codes, "w"), size)
    return run


def reverse_per_pixel(gen, w: torch.Tensor, size: int, pixels: int, device: torch.device) -> float:
    """Seconds per backward pass of the authors' method (strict float32), from ``pixels`` of them."""
    with precision_mode("strict"):
        c = w.clone().requires_grad_(True)
        out = analysis_image(gen.synthesize(c[None], "w"), size)[0]
        torch.autograd.grad(out[0], c, retain_graph=True)  # warm-up
        sync(device)
        t0 = time.perf_counter()
        for p in range(pixels):
            torch.autograd.grad(out[p * 97 % out.numel()], c, retain_graph=True)
        sync(device)
    return (time.perf_counter() - t0) / pixels


def direction_agreement(J_strict: torch.Tensor, J_tf32: torch.Tensor, size: int, top_k: int) -> str:
    """How far TF32 moves the top directions (lowrankgan and ReSeFa) of one region, and the
    lowrankgan subspace as a whole."""
    fg = parse_region(f"box:{size // 3},{size // 4},{size // 4},{size // 2}", size).at(size)
    rel = float((J_tf32.double() - J_strict.double()).norm() / J_strict.double().norm())
    out = [f"relative |dJ|_F {rel:.2e}"]
    grams = region_grams(J_strict, fg), region_grams(J_tf32, fg)
    for name, fn in (("lowrankgan", lowrankgan_directions), ("resefa", resefa_directions)):
        a, b = (fn(*g, top_k=top_k).vectors.double() for g in grams)
        out.append(f"{name} {_agreement(a, b)}")
        if name == "lowrankgan":  # near-degenerate runs re-based by their span (factorize.stable_order)
            (fa, ba), (fb, bb) = grams
            sa, runs = stable_order(a, torch.einsum("kd,de,ke->k", a, fa, a), ba)
            sb, _ = stable_order(b, torch.einsum("kd,de,ke->k", b, fb, b), bb)
            out.append(f"lowrankgan, runs {runs} ordered stably: {_agreement(sa.double(), sb.double())}")
    return "; ".join(out)


def _agreement(a: torch.Tensor, b: torch.Tensor) -> str:
    k = min(a.shape[0], b.shape[0])
    cos = (a[:k] * b[:k]).sum(1).abs().tolist()
    # Principal angles between the spans (ReSeFa's rows are not orthogonal: orthonormalise first).
    sub = float(torch.linalg.svdvals(torch.linalg.qr(a[:k].T)[0].T @ torch.linalg.qr(b[:k].T)[0]).min()) if k else 1.0
    return f"top-{k} |cos| {', '.join(f'{c:.4f}' for c in cos)} (subspace {sub:.4f})"


def bench_device(args: argparse.Namespace) -> torch.device:
    """``--device`` checked (CUDA present when asked for) and ``--threads`` applied."""
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda but CUDA is not available")
    if args.threads:
        torch.set_num_threads(args.threads)
    return device


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = bench_device(args)
    res, w_dim, base, cmax, size, chunks, pixels = CONFIGS[device.type]
    res, w_dim = args.resolution or res, args.w_dim or w_dim
    base, cmax, size = args.channel_base or base, args.channel_max or cmax, args.analysis_size or size
    chunks = tuple(int(c) for c in args.chunks.split(",")) if args.chunks else chunks
    pixels = args.reverse_pixels or pixels
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"# bench_stylegan2  torch {torch.__version__}  python {platform.python_version()}  {name}")
    print(f"config: {res}² channel_base {base} channel_max {cmax} w_dim {w_dim}, random weights, "
          f"W space, analysis {size}²", flush=True)
    gen = build_random_stylegan2(res, w_dim, base, cmax, seed=args.seed).to(device)
    w = gen.sample([args.seed], "w")[0]
    table = Table()
    # Warm-up: kernels, allocator, cuDNN autotuning in both precisions (not counted).
    for precision in ("strict", "tf32"):
        jacobian_fn(gen, w, "w", size, precision, min(chunks))()

    chunk = auto_chunk(gen, w, "w", w_dim)
    t_default, J_default, mem = timed(jacobian_fn(gen, w, "w", size, DEFAULT_PRECISION, None), device)
    table.add(f"our Jacobian, the user's default path ({DEFAULT_PRECISION}, chunk {chunk} from "
              f"{'free memory' if device.type == 'cuda' else 'the CPU budget'})", t_default, f"peak {mem:.1f} GiB")
    best: dict[str, float] = {}
    kept: dict[str, torch.Tensor] = {}
    for precision in ("tf32", "strict"):
        for c in chunks:
            t, J, mem = timed(jacobian_fn(gen, w, "w", size, precision, c), device)
            best[precision] = min(best.get(precision, float("inf")), t)
            kept[precision] = J
            table.add(f"our Jacobian, {precision}, chunk {c}", t, f"peak {mem:.1f} GiB")
    del J
    bounds = {}
    for precision in ("tf32", "strict"):
        bounds[precision], _, _ = timed(bound(gen, w, size, args.bound_batch, precision), device)
        table.add(f"the bound: {w_dim} forward passes in batches of {args.bound_batch}, {precision}",
                  bounds[precision])
    per_pixel = reverse_per_pixel(gen, w, size, pixels, device)
    t_reverse = per_pixel * size * size
    table.add("the authors' method: reverse mode, one backward pass per pixel (strict)", t_reverse,
              f"EXTRAPOLATED from {pixels} pixels: {per_pixel * 1e3:.1f} ms a pixel x {size * size}")
    wp = gen.sample([args.seed], "w+")[0]
    t_wplus, _, mem = timed(jacobian_fn(gen, wp, "w+", size, DEFAULT_PRECISION, None, gen.default_layers), device)
    table.add(f"W+ Jacobian, layers {gen.default_layers[0]}-{gen.default_layers[-1]}, default path", t_wplus,
              f"peak {mem:.1f} GiB")
    fg = parse_region(f"box:{size // 3},{size // 4},{size // 4},{size // 2}", size).at(size)
    codes = gen.sample([args.seed, args.seed + 1], "w")
    t_grams, _, mem = timed(lambda: averaged_region_grams(gen, codes, fg, "w", None, size, cache=False,
                                                          progress=False), device)
    table.add("Jacobians + Grams of 2 images on the device, default path", t_grams,
              f"{t_grams / 2 - t_default:+.2f} s an image over the Jacobian alone")
    table.print()
    print(f"\ndefault path / best chunk ({DEFAULT_PRECISION}): {t_default / best[DEFAULT_PRECISION]:.2f}x (target <= 1.3)")
    print(f"reverse mode / best strict: {t_reverse / best['strict']:.0f}x (target >= 100)")
    print(f"best TF32 / its bound: {best['tf32'] / bounds['tf32']:.2f}x (target <= 1.5); "
          f"best strict / its bound: {best['strict'] / bounds['strict']:.2f}x")
    print("TF32 vs strict: " + direction_agreement(kept["strict"].cpu(), kept["tf32"].cpu(), size, args.top_k))


if __name__ == "__main__":
    main()
