"""Benchmark our StyleGAN3 (random weights): forward-mode Jacobian cost, and which W+ span edits
most locally.

    python benchmarks/bench_stylegan3.py cost                 # 256² T (NVIDIA's ffhqu-256 widths)
    python benchmarks/bench_stylegan3.py cost --resolution 1024 --channel-base 4096 --channel-max 64
    python benchmarks/bench_stylegan3.py cost --device cuda   # 256² T, all 512 tangents in the pipeline's chunks
    python benchmarks/bench_stylegan3.py layers               # W+ span scan on a small random model
    python benchmarks/bench_stylegan3.py layers --model stylegan3-t-ffhqu-256x256.pkl   # on your file

cost: forward pass (batch 1) against jvp under vmap per tangent, time and memory side by side,
and what ``lowrankgan.maths.jacobian.auto_chunk`` (StyleGAN2's memory logic) estimates per tangent. On
CPU only a few tangents are pushed and the full-Jacobian time is extrapolated (the output says so).

layers: for each span of W+ rows, LowRankGAN directions for two regions on a few tuning seeds and
the median leak of the top direction (RMS change outside / inside, lower = more local); then the
best span, the shipped default and all of W+ on held-out seeds. RANDOM WEIGHTS unless ``--model``:
that says how the architecture spreads an edit, not what a trained model's edits look like.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
try:
    import lowrankgan  # noqa: F401
except ImportError:  # run from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from bench_stylegan2 import bench_device, peak_gib, peak_reset, timed  # noqa: E402

from lowrankgan.maths.jacobian import _activation_bytes, analysis_image, auto_chunk  # noqa: E402
from lowrankgan.models.stylegan3 import build_random_stylegan3  # noqa: E402


# ----------------------------------------------------------------------------- measuring

class PeakMemory:
    """Peak memory of one phase: the CUDA allocator's peak, or the process's RSS high-water mark
    (monotone: a phase that needs less than an earlier one shows no growth)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def __enter__(self) -> "PeakMemory":
        peak_reset(self.device)
        self.before = peak_gib(self.device)
        return self

    def __exit__(self, *exc) -> None:
        self.peak = peak_gib(self.device)
        if self.device.type == "cuda":
            self.text = f"{self.peak:.2f} GiB CUDA peak allocated"
        else:
            grew = self.peak - self.before
            self.text = f"{self.peak:.2f} GiB process peak RSS" + (f" (+{grew:.2f} GiB here)" if grew > 0.005 else "")


def analysis_fn(adapter, size: int):
    """w [1, d] -> the analysis image as a vector [size*size] (as the pipeline's Jacobian sees it)."""
    return lambda w: analysis_image(adapter.synthesize(w, "w"), size).reshape(-1)


def jacobian(f, w: torch.Tensor, tangents: int, chunk: int) -> torch.Tensor:
    """The first ``tangents`` columns of the Jacobian, ``chunk`` JVPs under one vmap at a time."""
    d = w.shape[-1]
    cols = []
    for start in range(0, tangents, chunk):
        basis = torch.eye(d, device=w.device, dtype=w.dtype)[start:min(start + chunk, tangents)]
        push = lambda v: torch.func.jvp(f, (w,), (v.reshape(w.shape),))[1]  # noqa: E731
        cols.append(torch.func.vmap(push)(basis))
    return torch.cat(cols).t()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=["cost", "layers"])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--config", default="T", choices=["T", "R"])
    p.add_argument("--resolution", type=int, default=None, help="cost: 256; layers: 64")
    p.add_argument("--w-dim", type=int, default=None, help="cost: 512; layers: 64")
    p.add_argument("--channel-base", type=int, default=None, help="cost: 16384; layers: 1024")
    p.add_argument("--channel-max", type=int, default=None, help="cost: 512; layers: 64")
    p.add_argument("--analysis-size", type=int, default=None, help="cost: min(resolution, 256)")
    p.add_argument("--tangents", type=int, default=None, help="cost: 4 on CPU, all on CUDA")
    p.add_argument("--seeds", type=int, default=3, help="layers: tuning images per span (seeds 0..)")
    p.add_argument("--all-rows", action="store_true", help="layers: also measure all of W+ on the held-out seeds")
    p.add_argument("--stride", type=int, default=1, help="layers: first rows of the spans scanned, every N-th")
    p.add_argument("--heldout", type=int, default=3, help="layers: held-out images (seeds 10000..)")
    p.add_argument("--model", default=None, help="layers: a StyleGAN3 file (trained weights) instead of a random model")
    p.add_argument("--widths", default="2,4", help="layers: span widths scanned")
    p.add_argument("--threads", type=int, default=None)
    return p.parse_args(argv)


def header(args: argparse.Namespace, device: torch.device) -> None:
    extra = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"# bench_stylegan3 {args.what}  torch {torch.__version__}  python "
          f"{platform.python_version()}  device {device} ({extra})")
    if hasattr(os, "getloadavg"):
        print(f"load average before start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


# ----------------------------------------------------------------------------- cost

def cost(args: argparse.Namespace, device: torch.device) -> None:
    res = args.resolution or 256
    w_dim, base, cmax = args.w_dim or 512, args.channel_base or 16384, args.channel_max or 512
    size = args.analysis_size or min(res, 256)
    cpu = device.type == "cpu"
    print(f"config {args.config}: {res}² channel_base {base} channel_max {cmax} w_dim {w_dim}, "
          f"RANDOM weights, float32, analysis image {size}²")
    t_build, a, _ = timed(lambda: build_random_stylegan3(res, w_dim, base, cmax, config=args.config), device)
    a.to(device)
    n_params = sum(p.numel() for p in a.generator.parameters())
    print(f"build: {t_build:.1f} s, {n_params / 1e6:.1f} M parameters, num_ws {a.num_layers}")
    w = a.sample([0], "w").to(device)
    with torch.no_grad(), PeakMemory(device) as mem:
        timed(lambda: a.synthesize(w, "w"), device)  # warm-up
        t_fwd = min(timed(lambda: a.synthesize(w, "w"), device)[0] for _ in range(2))
    print(f"forward batch 1: {t_fwd * 1e3:.0f} ms (min of 2); memory {mem.text}")
    est = 3 * _activation_bytes(a, w[0], "w")  # what auto_chunk budgets per tangent
    print(f"auto_chunk estimate per tangent (3 x module outputs, StyleGAN2's rule): {est / 2**20:.0f} MiB")

    f = analysis_fn(a, size)
    tangents = min(args.tangents or (4 if cpu else w_dim), w_dim)
    # One chunk on the CPU (a few tangents); on a GPU the pipeline's own chunk from its free memory
    # (all 512 tangents of a 256² model at once would need over 300 GiB).
    chunk = tangents if cpu else min(tangents, auto_chunk(a, w[0], "w", w_dim))
    with torch.no_grad():
        jacobian(f, w, 1, 1)  # functorch set-up and allocator warm-up, not timed
        with PeakMemory(device) as mem1:
            t1, _, _ = timed(lambda: jacobian(f, w, 1, 1), device)
        with PeakMemory(device) as memk:
            tk, J, _ = timed(lambda: jacobian(f, w, tangents, chunk), device)
    per = tk / tangents
    print(f"jvp, 1 tangent: {t1 * 1e3:.0f} ms; memory {mem1.text}")
    print(f"jvp under vmap, {tangents} tangents in chunks of {chunk}: {tk:.2f} s = {per * 1e3:.0f} ms per tangent; "
          f"memory {memk.text}")
    if cpu and tangents > 1 and memk.peak > mem1.peak:
        print(f"  measured growth per extra tangent: {(memk.peak - mem1.peak) * 1024 / (tangents - 1):.0f} MiB "
              f"(process high-water marks; auto_chunk budgets {est / 2**20:.0f} MiB)")
    print(f"  per tangent / forward batch 1: {per / t_fwd:.2f}x")
    if tangents < w_dim:
        print(f"  EXTRAPOLATED full W Jacobian [{size * size} x {w_dim}]: {per * w_dim:.0f} s "
              f"(linear in tangents, from {tangents} measured)")
    print(f"  J finite: {bool(torch.isfinite(J).all())}, |J|_F = {J.norm():.3e}")


# ----------------------------------------------------------------------------- layer spans

def _span_leaks(a, span: list[int], regions: dict[str, str], seeds, target_of) -> dict[str, float]:
    """Median leak of the top LowRankGAN direction per region over ``seeds`` for one W+ span."""
    from lowrankgan import api
    from lowrankgan.maths.metrics import measure_leak

    leaks = {}
    for name, region in regions.items():
        mask = torch.from_numpy(api.as_region(a, region).mask)
        vals = []
        for seed in seeds:
            # cache=True (in a temporary home, see ``layers``): the second region reuses the Jacobian.
            d = api.find_directions(a, seed, region, space="w+", layers=span, top_k=1, progress=False)
            code = a.sample([seed], "w+")[0]
            vals.append(measure_leak(a, code, torch.from_numpy(d.vectors[0]), mask, "w+", span,
                                     target=target_of(code), max_strength=100.0).leak)
        leaks[name] = statistics.median(vals)
    return leaks


def layers(args: argparse.Namespace, device: torch.device) -> None:
    """Every span scanned on the tuning seeds (0..); the best span, the shipped default and the
    whole of W+ then measured on held-out seeds (10000..) that played no part in the choice."""
    from lowrankgan import api
    from lowrankgan.maths.protocol import HELDOUT_FIRST_SEED

    if args.model:
        a = api.as_model(args.model, device=str(device))
        res = a.resolution
        what = f"{args.model} (trained weights)"

        def target_of(code):
            return 0.1
    else:
        res, w_dim = args.resolution or 64, args.w_dim or 64
        base, cmax = args.channel_base or 1024, args.channel_max or 64
        a = build_random_stylegan3(res, w_dim, base, cmax, config=args.config).to(device)
        what = f"config {args.config}: {res}² channel_base {base} channel_max {cmax} w_dim {w_dim}, RANDOM weights"

        def target_of(code):
            # Random weights give faint images: calibrate to the same fraction of the image's
            # contrast that 0.1 is of a trained model's (std about 0.5 in [-1, 1]).
            return 0.1 * float(a.synthesize(code[None], "w+").std()) / 0.5
    L = a.num_layers
    q = res // 4
    regions = {"centre": f"box:{q + q // 2},{q + q // 2},{q},{q}", "corner": f"box:{q // 2},{res - 2 * q},{q},{q}"}
    tuning = list(range(args.seeds))
    heldout = list(range(HELDOUT_FIRST_SEED, HELDOUT_FIRST_SEED + args.heldout))
    print(f"{what}; {L} W+ rows; regions {regions}; tuning seeds 0-{args.seeds - 1}, "
          f"held-out seeds {heldout[0]}-{heldout[-1]}")
    print("median leak of the top LowRankGAN direction (lower = more local), tuning seeds:")
    print(f"{'rows':>8s} " + " ".join(f"{r:>8s}" for r in regions) + f" {'both':>8s}")
    spans = [list(range(s, s + wd)) for wd in map(int, args.widths.split(","))
             for s in range(0, L - wd + 1, args.stride)]
    results = []
    t0 = time.perf_counter()
    for span in spans:
        leaks = _span_leaks(a, span, regions, tuning, target_of)
        both = statistics.median(list(leaks.values()))
        results.append((both, span))
        print(f"{span[0]:>5d}-{span[-1]:<2d} " + " ".join(f"{v:8.3f}" for v in leaks.values()) + f" {both:8.3f}",
              flush=True)
    best = min(results)[1]
    default = a.resolve_layers("w+", None)
    print(f"most local span on the tuning seeds: rows {best[0]}-{best[-1]} of {L}; "
          f"{time.perf_counter() - t0:.0f} s")
    print("held-out seeds (not used above):")
    print(f"{'span':>22s} " + " ".join(f"{r:>8s}" for r in regions) + f" {'both':>8s}")
    checked = {"best on tuning": best, "shipped default": default}
    if args.all_rows:  # every row at once: len(W+) times the tangents of one row
        checked["all of W+"] = list(range(L))
    for label, span in checked.items():
        leaks = _span_leaks(a, span, regions, heldout, target_of)
        both = statistics.median(list(leaks.values()))
        name = f"{label} {span[0]}-{span[-1]}"
        print(f"{name:>22s} " + " ".join(f"{v:8.3f}" for v in leaks.values()) + f" {both:8.3f}", flush=True)
    print(f"total {time.perf_counter() - t0:.0f} s")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = bench_device(args)
    header(args, device)
    with tempfile.TemporaryDirectory() as home:  # a private Jacobian cache, gone afterwards
        models = Path(os.environ.get("LOWRANKGAN_HOME") or Path.home() / ".cache" / "lowrankgan") / "models"
        if models.is_dir():
            os.symlink(models, Path(home) / "models")
        os.environ["LOWRANKGAN_HOME"] = home
        (cost if args.what == "cost" else layers)(args, device)


if __name__ == "__main__":
    main()
