"""Jacobians of the analysis image w.r.t. the latent code, by forward mode.

``J[p, i] = ∂ img[p] / ∂ c_i`` where ``img`` is the output resized to the analysis resolution
and averaged over RGB. Columns come from ``torch.func.jvp`` under ``vmap`` over chunks of basis
vectors: ``d`` tangents cost about ``d`` forward passes, where reverse mode needs one backward
pass per output pixel (``H_a·W_a`` of them).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.func import jvp, vmap

from .errors import LowRankGANError
from .limits import printable
from .models.base import GeneratorAdapter
from .models.zoo import home_dir
from .regions import Region, check_analysis_masks

DEFAULT_BUDGET_MB = 1024
CACHE_VERSION = 2  # bump when the computation changes, so no stale Jacobian is reused
DEFAULT_CACHE_BYTES = 4 << 30  # the disk cache keeps the most recently used Jacobians up to this
MAX_JACOBIAN_BYTES = 4 << 30  # one Jacobian in memory: analysis_size² · d · 4 bytes
FORWARD_AD_LOCK = threading.RLock()
_cache_limit: int | None = None  # set_cache_limit / --cache-size; None: $LOWRANKGAN_CACHE_SIZE or default
_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30,
               "gb": 1 << 30, "t": 1 << 40, "tb": 1 << 40}


def parse_size(text: str) -> int:
    """``4G``, ``500M``, ``0`` (no disk cache) or a byte count, as an int."""
    m = re.fullmatch(r"\s*(\d{1,15}(?:\.\d{1,6})?)\s*([a-zA-Z]{0,2})\s*", str(text))
    unit = m and _SIZE_UNITS.get(m.group(2).lower())
    if not m or unit is None:
        raise LowRankGANError(f"bad cache size '{printable(text, 40)}': use a size such as 4G, 500M or 0 (no cache)")
    return int(float(m.group(1)) * unit)


def set_cache_limit(limit: int | str | None) -> None:
    """Bytes the Jacobian disk cache may hold (least recently used entries go first); 0 turns
    the cache off; None goes back to ``$LOWRANKGAN_CACHE_SIZE`` or 4 GiB."""
    global _cache_limit
    _cache_limit = None if limit is None else parse_size(str(limit))


def cache_limit() -> int:
    if _cache_limit is not None:
        return _cache_limit
    env = os.environ.get("LOWRANKGAN_CACHE_SIZE")
    return parse_size(env) if env else DEFAULT_CACHE_BYTES


def cache_dir() -> Path:
    return home_dir() / "jacobians"


def prune_cache(limit: int | None = None, keep: Path | None = None) -> int:
    """Delete least recently used cache entries until the cache holds at most ``limit`` bytes;
    returns the bytes it holds then."""
    limit = cache_limit() if limit is None else limit
    entries = []
    try:
        with os.scandir(cache_dir()) as it:
            for e in it:
                if e.name.endswith(".pt") and e.is_file(follow_symlinks=False):
                    st = e.stat(follow_symlinks=False)
                    entries.append((st.st_mtime, st.st_size, Path(e.path)))
    except OSError:
        return 0
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries, key=lambda t: t[0]):
        if total <= limit:
            break
        if path == keep:  # the entry just written stays (it fits the limit on its own)
            continue
        path.unlink(missing_ok=True)
        total -= size
    return total


def default_analysis_size(gen: GeneratorAdapter) -> int:
    return min(gen.resolution, 256)


def analysis_image(images: torch.Tensor, size: int) -> torch.Tensor:
    """``[n, 3, H, W]`` -> ``[n, size*size]``: resized (area when shrinking), channel-averaged."""
    if images.shape[-1] != size or images.shape[-2] != size:
        mode = "area" if size < images.shape[-1] else "bilinear"
        kwargs = {} if mode == "area" else {"align_corners": False}
        images = F.interpolate(images, size=(size, size), mode=mode, **kwargs)
    return images.mean(1).flatten(1)


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


def auto_chunk(gen: GeneratorAdapter, code: torch.Tensor, space: str, dim: int,
               budget_mb: float = DEFAULT_BUDGET_MB) -> int:
    # Tangent activations plus the temporaries of the dual ops: about 3x the primal activations.
    per_tangent = 3 * _activation_bytes(gen, code, space)
    return int(max(1, min(dim, budget_mb * 2**20 // per_tangent)))


@functools.cache
def code_fingerprint(adapter_class: type) -> str:
    """sha256 of the source of the adapter's package (its network code) and of this module: a
    change to the generator's code invalidates cached Jacobians without a manual version bump."""
    digest = hashlib.sha256()
    files = [Path(__file__)]
    module_file = getattr(sys.modules.get(adapter_class.__module__), "__file__", None)
    if module_file:
        files += sorted(Path(module_file).parent.glob("*.py"))
    for path in files:
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(str(path).encode())
    return digest.hexdigest()[:16]


def _cache_path(gen: GeneratorAdapter, code: torch.Tensor, space: str, layers, size: int) -> Path:
    meta = json.dumps({"v": CACHE_VERSION, "code": code_fingerprint(type(gen)), "model": gen.cache_key(),
                       "space": space, "layers": list(layers or []), "size": size, "device": gen.device.type},
                      sort_keys=True)
    digest = hashlib.sha256(meta.encode() + code.detach().float().cpu().numpy().tobytes()).hexdigest()
    return cache_dir() / f"{digest[:32]}.pt"


def compute_jacobian(gen: GeneratorAdapter, code: torch.Tensor, space: str = "z",
                     layers: Sequence[int] | None = None, analysis_size: int | None = None,
                     chunk_size: int | None = None, budget_mb: float = DEFAULT_BUDGET_MB,
                     cache: bool = True, progress: bool = True) -> torch.Tensor:
    """``J`` as ``[analysis_size², d]`` (float32, CPU) for one code (``[d]`` or ``[L, d]``)."""
    gen.check_space(space)
    size = analysis_size or default_analysis_size(gen)
    if size < 2 or size > 4096:
        raise LowRankGANError(f"--analysis-size {size} is out of range; use 2..4096")
    code = code.detach().to(gen.device, torch.float32)
    if size * size * code.shape[-1] * 4 > MAX_JACOBIAN_BYTES:
        raise LowRankGANError(f"a Jacobian at analysis size {size} for {code.shape[-1]} latent dims needs "
                              f"{size * size * code.shape[-1] * 4 >> 20} MiB (at most {MAX_JACOBIAN_BYTES >> 20}); "
                              "use a smaller --analysis-size")
    if cache and cache_limit() <= 0:
        cache = False
    if space != "w+":
        layers = None
    elif layers is None:
        layers = gen.default_layers
    else:
        layers = list(layers)
    path = _cache_path(gen, code, space, layers, size) if cache else None
    if path is not None and path.exists():
        try:
            J = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(J, torch.Tensor) and tuple(J.shape) == (size * size, code.shape[-1]):
                os.utime(path)  # most recently used: pruned last
                return J
        except Exception:
            pass
        path.unlink(missing_ok=True)  # a damaged cache entry is recomputed, never trusted
    dim = code.shape[-1]
    chunk = chunk_size or auto_chunk(gen, code, space, dim, budget_mb)

    def img(delta: torch.Tensor) -> torch.Tensor:
        shifted = code + embed_direction(gen, delta, space, layers)
        return analysis_image(gen.synthesize(shifted[None], space), size)[0]

    def column(tangent: torch.Tensor) -> torch.Tensor:
        return jvp(img, (zero,), (tangent,))[1]

    zero = torch.zeros(dim, device=gen.device)
    eye = torch.eye(dim, device=gen.device)
    starts = range(0, dim, chunk)
    iterator = starts
    if progress:
        from tqdm.auto import tqdm
        iterator = tqdm(starts, desc="jacobian", unit="chunk", delay=1.0, leave=False)
    cols = []
    # torch's forward-mode AD levels are process-global: two threads inside jvp at once (a page's
    # path render beside a Jacobian warm-up) make one fail with "Trying to access a forward AD
    # level that no longer exists". Forward-mode work therefore runs one at a time.
    with FORWARD_AD_LOCK, torch.no_grad():
        for start in iterator:
            cols.append(vmap(column)(eye[start:start + chunk]).cpu())
    J = torch.cat(cols, 0).T.contiguous()
    if path is not None and J.numel() * 4 <= cache_limit():
        _atomic_save(J, path)
        prune_cache(keep=path)
    return J


def _atomic_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def region_grams(J: torch.Tensor, fg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``M_f = J_fᵀJ_f / n_f`` and ``M_b = J_bᵀJ_b / n_b`` (float64) for a boolean mask ``fg``."""
    J = J.double()
    flat = fg.flatten().to(J.device)
    Jf, Jb = J[flat], J[~flat]
    return Jf.T @ Jf / max(1, Jf.shape[0]), Jb.T @ Jb / max(1, Jb.shape[0])


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
              layers: Sequence[int] | None, analysis_size: int, cache: bool = True,
              progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """``Σ_i M_f(c_i)`` and ``Σ_i M_b(c_i)`` (float64) over ``codes``, added in their order: a Ray
    worker returns these for its images and the driver adds them up in seed order."""
    M_f = M_b = None
    iterator = codes
    if progress and len(codes) > 1:
        from tqdm.auto import tqdm
        iterator = tqdm(codes, desc="jacobians", unit="image", delay=1.0, leave=False)
    for code in iterator:
        J = compute_jacobian(gen, code, space, layers, analysis_size, cache=cache,
                             progress=progress and len(codes) == 1)
        f, b = region_grams(J, fg)
        M_f = f if M_f is None else M_f + f
        M_b = b if M_b is None else M_b + b
    return M_f, M_b


def region_gram_pair(gen: GeneratorAdapter, codes: torch.Tensor, region: Region, space: str,
                     layers: Sequence[int] | None, analysis_size: int, cache: bool = True,
                     progress: bool = True) -> RegionGrams:
    """Region and rest Grams averaged over ``codes`` (one Jacobian per code, cached)."""
    fg, _ = check_analysis_masks(region, analysis_size)
    M_f, M_b = gram_sums(gen, codes, fg, space, layers, analysis_size, cache, progress)
    return grams_from_sums(M_f, M_b, len(codes), fg, gen, space, layers)


def grams_from_sums(M_f: torch.Tensor, M_b: torch.Tensor, count: int, fg: torch.Tensor, gen: GeneratorAdapter,
                    space: str, layers: Sequence[int] | None) -> RegionGrams:
    """The averaged ``RegionGrams`` from Gram sums over ``count`` images."""
    n_f = int(fg.sum())
    return RegionGrams(M_f / count, M_b / count, n_f, fg.numel() - n_f, gen, space,
                       list(layers) if layers is not None else None)
