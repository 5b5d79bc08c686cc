"""Jacobians of the analysis image w.r.t. the latent code, by forward mode.

``J[p, i] = ∂ img[p] / ∂ c_i`` where ``img`` is the output resized to the analysis resolution
and averaged over RGB. Columns come from ``torch.func.jvp`` under ``vmap`` over chunks of basis
vectors: ``d`` tangents cost about ``d`` forward passes, where reverse mode needs one backward
pass per output pixel (``H_a·W_a`` of them).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import LowRankGANError
from ..limits import MAX_ANALYSIS_SIZE, MAX_JACOBIAN_BYTES, MIN_ANALYSIS_SIZE
from .jacobian_cache import (cache_dir, cache_limit, cache_path, code_fingerprint, load_cached, parse_size,
                             prune_cache, set_cache_limit, store, wait_for_cache_writes)
from ..models.base import GeneratorAdapter
from .precision import DEFAULT_PRECISION, check_precision, precision_mode
from .regions import Region, check_analysis_masks

__all__ = ["cache_dir", "cache_limit", "code_fingerprint", "parse_size", "prune_cache", "set_cache_limit",
           "wait_for_cache_writes"]  # the cache's controls, re-exported where users look for them

DEFAULT_BUDGET_MB = 1024  # CPU: tangents' working set when the available memory is unknown
CPU_AVAILABLE_SHARE = 0.25  # CPU: share of the available memory (a page server and its renders share it)
CPU_MAX_BUDGET_MB = 8192  # CPU: past this, bigger chunks buy nothing on a CPU and only hold memory
_cpu_sharers = 1  # processes on this machine that may compute Jacobians at once (Ray workers: one per CPU)


def share_cpu_memory(processes: int) -> None:
    """Tell this process that ``processes`` Jacobian workers share the machine's memory, so that its
    CPU budget is its share of the quarter (never below the 1 GiB floor: the old fixed budget)."""
    global _cpu_sharers
    _cpu_sharers = max(1, int(processes))
GPU_FREE_SHARE = 0.5  # GPU: share of the free memory; the rest covers the estimate's error and the Grams
MAX_CHUNK = 64  # GPU: past this, bigger chunks buy little time and cost tens of GiB
MAX_RENDER_BATCH = 128  # images per forward pass when memory allows more: larger batches buy nothing
# torch's forward-mode AD levels are process-global: two threads inside jvp at once (a page's path
# render beside a Jacobian warm-up) make one fail with "Trying to access a forward AD level that no
# longer exists". Forward-mode work therefore runs one at a time.
FORWARD_AD_LOCK = threading.RLock()


def default_analysis_size(gen: GeneratorAdapter) -> int:
    return min(gen.resolution, 256)


def analysis_image(images: torch.Tensor, size: int, channels: bool = False) -> torch.Tensor:
    """``[n, 3, H, W]`` -> ``[n, size*size]``: resized (area when shrinking), channel-averaged;
    ``channels`` keeps the three channels, ``[n, 3*size*size]`` (channel-major)."""
    if images.shape[-1] != size or images.shape[-2] != size:
        mode = "area" if size < images.shape[-1] else "bilinear"
        kwargs = {} if mode == "area" else {"align_corners": False}
        images = F.interpolate(images, size=(size, size), mode=mode, **kwargs)
    return images.flatten(1) if channels else images.mean(1).flatten(1)


def embed_direction(gen: GeneratorAdapter, direction: torch.Tensor, space: str,
                    layers: Sequence[int] | None) -> torch.Tensor:
    """A ``[.., d]`` direction as a code offset: broadcast onto ``layers`` in W+."""
    if space != "w+":
        return direction
    mask = torch.zeros(gen.num_layers, 1, dtype=direction.dtype, device=direction.device)
    mask[list(layers if layers is not None else gen.default_layers)] = 1.0
    return direction.unsqueeze(-2) * mask


def _activation_bytes(gen: GeneratorAdapter, code: torch.Tensor, space: str) -> int:
    """Bytes of all module outputs for one forward pass: what one tangent adds to the working set."""
    total = 0

    def hook(_module, _inputs, output):
        nonlocal total
        if isinstance(output, torch.Tensor):
            total += output.numel() * output.element_size()

    handles = [m.register_forward_hook(hook) for root in gen.modules() for m in root.modules()]
    try:
        with torch.no_grad():
            out = gen.synthesize(code[None], space)
    finally:
        for h in handles:
            h.remove()
    return max(total, out.numel() * out.element_size())


def free_memory_bytes(device: torch.device) -> int | None:
    """Free memory on ``device``: the driver's figure on a GPU, the kernel's ``MemAvailable`` on a
    Linux CPU; ``None`` where there is no such figure."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    return _cpu_available_bytes()


def _cpu_available_bytes() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def chunk_for_memory(per_tangent_bytes: int, dim: int, budget_bytes: float) -> int:
    """Tangents per vmap call that fit ``budget_bytes`` (at least 1, at most ``dim``)."""
    return int(max(1, min(dim, budget_bytes // max(1, per_tangent_bytes))))


def memory_budget(device: torch.device, budget_mb: float | None = None, free_bytes: int | None = None) -> float:
    """Bytes the tangents may use: the caller's ``budget_mb``, else a share of the device's free
    memory (``free_bytes`` overrides the device's figure, so tests can exercise this anywhere): half
    of a GPU's, a quarter of a CPU's available memory within 1-8 GiB; 1 GiB on a CPU that reports
    none. A fixed 1 GiB budget gave chunk 1 on a large GPU and for a 256² StyleGAN3 on a CPU, each
    several times slower per tangent than the chunks these shares give."""
    if budget_mb is not None:
        return budget_mb * 2**20
    free = free_memory_bytes(device) if free_bytes is None else free_bytes
    if device.type == "cuda":
        return GPU_FREE_SHARE * (free or 0)
    if free is None:
        return DEFAULT_BUDGET_MB * 2**20
    share = CPU_AVAILABLE_SHARE * free / _cpu_sharers
    return min(max(share, DEFAULT_BUDGET_MB * 2**20), CPU_MAX_BUDGET_MB * 2**20)


def auto_chunk(gen: GeneratorAdapter, code: torch.Tensor, space: str, dim: int,
               budget_mb: float | None = None, free_bytes: int | None = None,
               device: torch.device | None = None) -> int:
    """Tangents per vmap call for ``gen``: from ``budget_mb``, else from the free memory of
    ``device`` (default: the model's; ``free_bytes`` and ``device`` let tests run the GPU rule on a
    CPU). GPU chunks are capped at ``MAX_CHUNK``."""
    device = gen.device if device is None else device
    # Tangent activations plus the temporaries of the dual ops: about 3x the primal activations.
    per_tangent = 3 * _activation_bytes(gen, code, space)
    chunk = chunk_for_memory(per_tangent, dim, memory_budget(device, budget_mb, free_bytes))
    return min(chunk, MAX_CHUNK) if budget_mb is None and device.type == "cuda" else chunk


def render_batch(gen: GeneratorAdapter, code: torch.Tensor, space: str, count: int,
                 budget_mb: float | None = None, free_bytes: int | None = None,
                 device: torch.device | None = None) -> int:
    """Images per forward pass when rendering ``count`` codes like ``code``: the memory budget of
    the Jacobian's tangents (``memory_budget``) over one image's activations, at most
    ``MAX_RENDER_BATCH``; ``halving_chunks`` covers the estimate's error."""
    device = gen.device if device is None else device
    try:
        per_image = _activation_bytes(gen, code.detach().to(gen.device, torch.float32), space)
    except torch.OutOfMemoryError:
        return 1  # not even the estimate's one image fits: the renders say so, one at a time
    return min(MAX_RENDER_BATCH, chunk_for_memory(per_image, max(1, count), memory_budget(device, budget_mb, free_bytes)))


def compute_jacobian(gen: GeneratorAdapter, code: torch.Tensor, space: str = "z",
                     layers: Sequence[int] | None = None, analysis_size: int | None = None,
                     chunk_size: int | None = None, budget_mb: float | None = None,
                     cache: bool = True, progress: bool = True, precision: str = DEFAULT_PRECISION,
                     on_device: bool = False, channels: bool = False) -> torch.Tensor:
    """``J`` as ``[analysis_size², d]`` (float32) for one code (``[d]`` or ``[L, d]``): on the CPU, or
    left on the model's device with ``on_device`` (the cache is then written in the background).
    ``precision``: ``strict`` (IEEE float32, reproducible) or ``tf32`` (CUDA tensor cores).
    ``channels``: one row per pixel and colour channel, ``[3·analysis_size², d]`` (same cost)."""
    gen.check_space(space)
    check_precision(precision)
    size = analysis_size or default_analysis_size(gen)
    if not MIN_ANALYSIS_SIZE <= size <= MAX_ANALYSIS_SIZE:
        raise LowRankGANError(f"analysis_size {size} is out of range; use {MIN_ANALYSIS_SIZE}..{MAX_ANALYSIS_SIZE}",
                              "analysis_size")
    if chunk_size is not None and chunk_size < 1:
        raise LowRankGANError(f"chunk size {chunk_size}: use at least 1")
    code = code.detach().to(gen.device, torch.float32)
    rows = size * size * (3 if channels else 1)
    if rows * code.shape[-1] * 4 > MAX_JACOBIAN_BYTES:
        raise LowRankGANError(f"a Jacobian at analysis size {size} for {code.shape[-1]} latent dims needs "
                              f"{rows * code.shape[-1] * 4 >> 20} MiB (at most {MAX_JACOBIAN_BYTES >> 20}); "
                              "use a smaller analysis_size", "analysis_size")
    layers = gen.resolve_layers(space, layers)
    path = cache_path(gen, code, space, layers, size, precision, channels) if cache and cache_limit() > 0 else None
    J = load_cached(path, (rows, code.shape[-1])) if path is not None else None
    if J is not None:
        return J.to(gen.device) if on_device else J
    with precision_mode(precision), FORWARD_AD_LOCK:
        J = _columns(gen, code, space, layers, size, chunk_size, budget_mb, progress, channels)
    if not on_device:
        J = J.cpu()
    if path is not None:
        store(J, path, background=on_device)
    return J


def _columns(gen: GeneratorAdapter, code: torch.Tensor, space: str, layers, size: int,
             chunk_size: int | None, budget_mb: float | None, progress: bool, channels: bool = False) -> torch.Tensor:
    """``J`` on the model's device, in chunks of basis vectors; a chunk that runs out of device
    memory is split in half and retried (the size estimate is an estimate)."""
    dim = code.shape[-1]
    chunk = chunk_size or auto_chunk(gen, code, space, dim, budget_mb)
    eye = torch.eye(dim, device=gen.device)
    push = _by_hand(gen, code, space, layers, size, channels)
    J = torch.empty(size * size * (3 if channels else 1), dim, device=gen.device)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=dim, desc="jacobian", unit="col", delay=1.0, leave=False)

    def columns(start: int, stop: int) -> None:
        J[:, start:stop] = push(eye[start:stop]).T
        if bar is not None:
            bar.update(stop - start)

    with torch.no_grad():
        halving_chunks(dim, chunk, gen.device, columns,
                       f"the Jacobian does not fit in {gen.device.type} memory even one "
                       "tangent at a time; free memory, use a smaller analysis_size, "
                       "or device cpu", ("analysis_size", "device"))
    if bar is not None:
        bar.close()
    return J


def halving_chunks(total: int, chunk: int, device: torch.device, step: Callable[[int, int], None],
                   too_big: str, params: tuple[str, ...] = ()) -> int:
    """``step(start, stop)`` over ``[0, total)`` in chunks of at most ``chunk``; a chunk that runs out
    of ``device`` memory is split in half and retried (a memory estimate is an estimate). Raises
    ``too_big`` (naming ``params``) when even one item does not fit; returns the chunk size that worked last."""
    start = 0
    while start < total:
        stop = min(total, start + chunk)
        try:
            step(start, stop)
            failed = False
        except torch.OutOfMemoryError:
            if chunk == 1:
                raise LowRankGANError(too_big, params) from None
            failed = True
        if failed:  # outside the except block: the failed attempt's tensors are released by now
            chunk = max(1, chunk // 2)
            _empty_device_cache(device)
            continue
        start = stop
    return chunk


def _by_hand(gen: GeneratorAdapter, code: torch.Tensor, space: str, layers, size: int, channels: bool = False):
    """Columns from the adapter's own tangent propagation; torch.func from the first chunk on
    where the adapter has none."""
    fallback = None

    def push(basis: torch.Tensor) -> torch.Tensor:
        nonlocal fallback
        if fallback is None:
            images = gen.tangent_images(code, embed_direction(gen, basis, space, layers), space)
            if images is not None:
                return analysis_image(images, size, channels)
            fallback = _by_torch_func(gen, code, space, layers, size, channels)
        return fallback(basis)
    return push


def _by_torch_func(gen: GeneratorAdapter, code: torch.Tensor, space: str, layers, size: int, channels: bool = False):
    from torch.func import jvp, vmap  # imported on use: the DCGANs never need it

    zero = torch.zeros(code.shape[-1], device=gen.device)

    def img(delta: torch.Tensor) -> torch.Tensor:
        shifted = code + embed_direction(gen, delta, space, layers)
        return analysis_image(gen.synthesize(shifted[None], space), size, channels)[0]

    def column(tangent: torch.Tensor) -> torch.Tensor:
        return jvp(img, (zero,), (tangent,))[1]

    return vmap(column)


def _empty_device_cache(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


@dataclass
class RegionGrams:
    """What every direction method may use: the region / rest Grams (averaged over the source
    images) and their pixel counts, plus the model for methods that read its weights or sample it."""

    M_f: torch.Tensor
    M_b: torch.Tensor
    n_f: int
    n_b: int
    gen: GeneratorAdapter | None = None
    space: str = "z"
    layers: list[int] | None = None

    @property
    def M_all(self) -> torch.Tensor:
        """Whole-image Gram ``JᵀJ / n``."""
        return (self.n_f * self.M_f.double() + self.n_b * self.M_b.double()) / (self.n_f + self.n_b)


def gram_sums(gen: GeneratorAdapter, codes: torch.Tensor, fg: torch.Tensor, space: str,
              layers: Sequence[int] | None, size: int, cache: bool = True, progress: bool = True,
              precision: str = DEFAULT_PRECISION, chunk_size: int | None = None,
              budget_mb: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``Σ_i M_f(c_i)`` and ``Σ_i M_b(c_i)`` (float64, CPU) over ``codes``, added in their order (a Ray
    worker returns these for its images; the driver adds them in seed order). Jacobians and Grams
    stay on the model's device and nothing waits for the host until the end, so on a GPU the next
    image's Jacobian is queued while the last one's Gram and cache write still run."""
    if chunk_size is None and len(codes) and not cache_hits_all(gen, codes, space, layers, size, cache, precision):
        chunk_size = auto_chunk(gen, codes[0].to(gen.device, torch.float32), space, codes.shape[-1], budget_mb)
    M_f = M_b = None
    iterator = codes
    if progress and len(codes) > 1:
        from tqdm.auto import tqdm
        iterator = tqdm(codes, desc="jacobians", unit="image", delay=1.0, leave=False)
    for code in iterator:
        J = compute_jacobian(gen, code, space, layers, size, chunk_size, budget_mb, cache=cache,
                             progress=progress and len(codes) == 1, precision=precision, on_device=True)
        f, b = region_grams(J, fg)
        M_f = f if M_f is None else M_f + f
        M_b = b if M_b is None else M_b + b
    wait_for_cache_writes()
    return M_f.cpu(), M_b.cpu()


def averaged_region_grams(gen: GeneratorAdapter, codes: torch.Tensor, fg: torch.Tensor, space: str,
                          layers: Sequence[int] | None, size: int, cache: bool = True, progress: bool = True,
                          precision: str = DEFAULT_PRECISION, chunk_size: int | None = None,
                          budget_mb: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Region / rest Grams (float64, CPU) averaged over ``codes``."""
    M_f, M_b = gram_sums(gen, codes, fg, space, layers, size, cache, progress, precision, chunk_size, budget_mb)
    return M_f / len(codes), M_b / len(codes)


def region_gram_pair(gen: GeneratorAdapter, codes: torch.Tensor, region: Region, space: str,
                     layers: Sequence[int] | None, analysis_size: int, cache: bool = True,
                     progress: bool = True, precision: str = DEFAULT_PRECISION,
                     chunk_size: int | None = None) -> RegionGrams:
    """Region and rest Grams averaged over ``codes`` (one Jacobian per code, cached; formed on the
    model's device). ``precision``: strict or tf32 (CUDA); ``chunk_size``: tangents per batch
    (default: from the device's free memory on a GPU, a 1 GiB budget on the CPU)."""
    fg, _ = check_analysis_masks(region, analysis_size)
    M_f, M_b = gram_sums(gen, codes, fg, space, layers, analysis_size, cache, progress, precision, chunk_size)
    return grams_from_sums(M_f, M_b, len(codes), fg, gen, space, layers)


def grams_from_sums(M_f: torch.Tensor, M_b: torch.Tensor, count: int, fg: torch.Tensor, gen: GeneratorAdapter,
                    space: str, layers: Sequence[int] | None) -> RegionGrams:
    """The averaged ``RegionGrams`` from Gram sums over ``count`` images."""
    n_f = int(fg.sum())
    return RegionGrams(M_f / count, M_b / count, n_f, fg.numel() - n_f, gen, space,
                       list(layers) if layers is not None else None)


def cache_hits_all(gen: GeneratorAdapter, codes: torch.Tensor, space: str, layers, size: int, cache: bool,
                   precision: str = DEFAULT_PRECISION) -> bool:
    """True when every code's Jacobian is cached (no chunk size needs estimating)."""
    if not cache:
        return False
    if cache_limit() <= 0:
        return False
    layers = gen.resolve_layers(space, layers)
    return all(cache_path(gen, c.detach().to(gen.device, torch.float32), space, layers, size, precision).exists()
               for c in codes)


def region_grams(J: torch.Tensor, fg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``M_f = J_fᵀJ_f / n_f`` and ``M_b = J_bᵀJ_b / n_b`` (float64) for a boolean mask ``fg``."""
    J = J.double()
    flat = fg.flatten().to(J.device)
    Jf, Jb = J[flat], J[~flat]
    return Jf.T @ Jf / max(1, Jf.shape[0]), Jb.T @ Jb / max(1, Jb.shape[0])
