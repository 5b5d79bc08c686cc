"""Writing outputs safely: every file appears whole or not at all (temporary file or folder beside the
target, then a rename), and an output that could not be written is refused before any work is done."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import LowRankGANError


def atomic_write(path: Path, write: Callable[[str], object]) -> None:
    """Write through a temporary file in the same folder, then rename: no half-written files."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def finite_json(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float (a leak never reached, a missing value) as ``None``:
    JSON has no such numbers, and strict readers (``limits.parse_json``, browsers) refuse them."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    if hasattr(obj, "item") and getattr(obj, "ndim", None) == 0:  # numpy / torch scalars
        return finite_json(obj.item())
    return obj


def json_text(obj: Any, indent: int | None = 2, sort_keys: bool = False) -> str:
    """``obj`` as strict JSON (non-finite numbers as ``null``), ending in a newline when indented."""
    text = json.dumps(finite_json(obj), indent=indent, sort_keys=sort_keys, allow_nan=False)
    return text + "\n" if indent is not None else text


def write_json(path: Path, obj: Any) -> None:
    """``obj`` as strict JSON (``json_text``) in ``path``, whole or not at all."""
    text = json_text(obj)
    atomic_write(Path(path), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def ensure_writable_dir(path: Path) -> Path:
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LowRankGANError(f"cannot create output folder {path}: {exc.strerror}; choose another out", "out") from None
    if not os.access(path, os.W_OK):
        raise LowRankGANError(f"output folder {path} is not writable; choose another out", "out")
    return path


def check_writable(path: Path) -> Path:
    """Fail before any work if ``path`` (a folder, created later) could not be written."""
    path = Path(path)
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise LowRankGANError(f"output {path}: {probe} is a file, not a folder; choose another out", "out")
    _probe_write(probe, path)
    return path


def _probe_write(folder: Path, path: Path) -> None:
    """Create and delete a file in ``folder``: the only test that holds for root, read-only mounts
    and pseudo file systems such as /proc (``os.access`` says yes to root everywhere)."""
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".lowrankgan-probe.", suffix=".tmp")
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise LowRankGANError(f"output {path} is not writable ({folder}: {exc.strerror}); "
                              "choose another out", "out") from None


def check_output_dir(path: Path, names: Sequence[str] = ()) -> Path:
    """Fail before any work if the folder ``path`` could not receive ``names`` (an existing entry
    of that name that is a folder or a device would stop the output half-way)."""
    path = check_writable(Path(path))
    if path.exists() and not path.is_dir():
        raise LowRankGANError(f"out {path} is a file; give a folder (or a new name)", "out")
    for name in names:
        entry = path / name
        if entry.is_symlink() or (entry.exists() and not entry.is_file()):
            raise LowRankGANError(f"out {path}: {entry} exists and is not a plain file; remove it or "
                                  "choose another out", "out")
    return path


@contextlib.contextmanager
def staged_dir(target: Path) -> Iterator[Path]:
    """A temporary folder beside ``target`` to write a multi-file output into; when the block ends
    without error its files appear in ``target`` (a rename when ``target`` is new, else one rename
    per file), and on error nothing is left behind: the output appears whole or not at all."""
    target = Path(target)
    base = target.parent
    while not base.exists() and base.parent != base:
        base = base.parent
    tmp = Path(tempfile.mkdtemp(dir=base, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        yield tmp
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            os.chmod(tmp, 0o777 & ~_umask())
            os.rename(tmp, target)
            return
        names = sorted(p.name for p in tmp.iterdir())
        check_output_dir(target, names)
        for name in names:
            os.replace(tmp / name, target / name)
    except OSError as exc:
        raise LowRankGANError(f"cannot write {target}: {exc.strerror or exc}; choose another out", "out") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
