"""The Jacobian disk cache: where an entry lives, its size limit (least recently used go first),
and writes that never leave a half-written file (on a GPU, written on a background thread).

An entry is keyed by the model, the code, the analysis settings, the precision, ``CACHE_VERSION``
and ``sourcekey.code_fingerprint`` (the library source the adapter and the Jacobian code import, and
the versions of the outside packages they use), so no stale Jacobian is ever reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import torch

from ..errors import LowRankGANError
from ..safewrite import atomic_write
from ..limits import printable
from ..models.base import GeneratorAdapter
from ..models.zoo import home_dir
from .sourcekey import code_fingerprint

CACHE_VERSION = 4  # bump when the computation changes (4: hand tangents, precision in the key)
DEFAULT_CACHE_BYTES = 4 << 30  # the disk cache keeps the most recently used Jacobians up to this
_cache_limit: int | None = None  # set_cache_limit (the CLI's cache size option); None: $LOWRANKGAN_CACHE_SIZE or default
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


def cache_path(gen: GeneratorAdapter, code: torch.Tensor, space: str, layers, size: int, precision: str,
               channels: bool = False) -> Path:
    key = {"v": CACHE_VERSION, "code": code_fingerprint(type(gen)), "model": gen.cache_key(), "space": space,
           "layers": list(layers or []), "size": size, "device": gen.device.type, "precision": precision}
    if channels:  # per-channel rows (the local path's); channel-averaged entries keep their keys
        key["channels"] = 3
    meta = json.dumps(key, sort_keys=True)
    digest = hashlib.sha256(meta.encode() + code.detach().float().cpu().numpy().tobytes()).hexdigest()
    return cache_dir() / f"{digest[:32]}.pt"


def load_cached(path: Path, shape: tuple[int, int]) -> torch.Tensor | None:
    """The cached Jacobian at ``path`` if it is whole and of ``shape``; a damaged entry is deleted
    (recomputed, never trusted)."""
    wait_for(path)  # an entry this process is still writing is read once complete
    if not path.exists():
        return None
    try:
        J = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(J, torch.Tensor) and tuple(J.shape) == shape:
            os.utime(path)  # most recently used: pruned last
            return J
    except Exception:
        pass
    path.unlink(missing_ok=True)
    return None


def store(J: torch.Tensor, path: Path, background: bool) -> None:
    """Write ``J`` to the cache (on a worker thread when ``background``), then prune to the limit."""
    if J.numel() * J.element_size() > cache_limit():
        return
    if background:
        _save_in_background(J, path)
    else:
        _save_and_prune(J, path)


def _save_and_prune(J: torch.Tensor, path: Path) -> None:
    atomic_save(J, path)
    prune_cache(keep=path)


_writer: ThreadPoolExecutor | None = None
_pending: dict[Path, Future] = {}
_pending_lock = threading.Lock()  # the web server finds directions on several threads


def _save_in_background(J: torch.Tensor, path: Path) -> None:
    """Copy ``J`` to the host and write it on a worker thread, so the device goes on with the next
    image (the copy and the file write release the GIL)."""
    global _writer
    wait_for(path)
    with _pending_lock:
        if _writer is None:
            _writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lowrankgan-cache")
        _pending[path] = _writer.submit(lambda: _save_and_prune(J.cpu(), path))


def wait_for(path: Path) -> None:
    with _pending_lock:
        future = _pending.pop(path, None)
    if future is not None:
        future.result()


def wait_for_cache_writes() -> None:
    """Block until every background cache write has finished (re-raising the first error)."""
    with _pending_lock:
        futures = list(_pending.values())
        _pending.clear()
    for future in futures:
        future.result()


def atomic_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: torch.save(obj, tmp))
