"""Bounds on everything that comes from outside (files, arguments, requests), checked before
memory is allocated for it, and the helpers that read untrusted files within those bounds.

Every ceiling here is far above what a real model or direction file needs and far below what
exhausts a laptop: a hostile file of a few hundred bytes must be refused in one line, quickly.
Each quantity has one bound, used both by the code that writes a value (``find_directions``,
``save_directions``) and by the code that reads it back (``dirmeta.check_meta``), so whatever
the library writes it reads. The page's smaller ranges for its controls live in ``web/limits.py``.
The method parameters' ranges live in their registry (``maths/methods.py``, ``Param.low/high``).
"""

from __future__ import annotations

import json
import math
import os
import stat
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import torch

from .errors import LowRankGANError

# Files.
MAX_JSON_BYTES = 4 << 20  # a directions.json / BigGAN config.json is a few KB
MAX_JSON_DEPTH = 32
MAX_JSON_INT_DIGITS = 20
MAX_NPY_BYTES = 1 << 30  # directions.npy: [k, d] float rows, k·d far below this
MAX_LATENT_BYTES = 256 << 20  # latent.npy: the codes directions were found on / a photo's code
MAX_MASK_PIXELS = 4096 * 4096  # a mask image is at most this many pixels (checked from its header)
MAX_MASK_FILE_BYTES = 64 << 20
MAX_REGION_CHARS = 1_000_000  # a region spec (a drawn region's box union can be long)
MAX_PHOTO_BYTES = 64 << 20  # a 64 MB photo file
MAX_PHOTO_PIXELS = 40_000_000  # 40 megapixels: decoded RGB is then at most 120 MB
MIN_PHOTO_SIDE = 8
MAX_LOG_BYTES = 1 << 30  # evaluate's results.jsonl: a record is ~400 bytes
MAX_LOG_LINE_BYTES = 64 << 10  # one record of that log
MAX_RECORD_TEXT = 100_000  # a record's region spec, method, source or level
MAX_RECORD_COUNT = 100_000  # a record's direction index, path steps or multiple
MAX_COORDINATE = 1e7  # photo pixels: an alignment read back from invert.json reaches at most this far
MAX_LANDMARKS = 1000  # face landmarks recorded with an alignment (5 are written)
MAX_JPEG_SCANS = 128  # progressive JPEG scans (each costs a pass over the whole image; encoders write ~10)

# Checkpoints.
MAX_CHECKPOINT_BYTES = 16 << 30  # StyleGAN2 config-f 1024² pickles are ~0.4 GB
MAX_PICKLE_RECORDS = 100_000  # module records in a StyleGAN pickle (config-f 1024² has < 300)
MAX_PICKLE_DEPTH = 64
MAX_TENSORS = 100_000
ZIP_INFLATION = 2  # decoded bytes of a torch zip may exceed the file size only by this factor ...
ZIP_SLACK_BYTES = 16 << 20  # ... plus this (torch.save stores records uncompressed)

# Architectures.
MAX_RESOLUTION = 4096
MAX_LATENT_DIM = 4096
MAX_MAPPING_LAYERS = 32
MAX_CHANNELS = 4096
MAX_CLASSES = 100_000
MAX_DCGAN_LAYERS = 64
MAX_MODEL_PARAMS = 1 << 28  # 1 GB of float32 weights (StyleGAN2 config-f 1024²: 30 M)
MAX_LAYERS = 64  # W+ rows (StyleGAN2 at MAX_RESOLUTION has 22)

# Arguments (and the same fields read back from direction files).
MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed takes at most a 64-bit integer
MAX_SEEDS = 10_000  # seeds in one list (the images a Gram averages over, the rows of an edit)
MIN_ANALYSIS_SIZE = 2
MAX_ANALYSIS_SIZE = MAX_RESOLUTION  # also bounded by MAX_JACOBIAN_BYTES for the model's latent size
MAX_JACOBIAN_BYTES = 4 << 30  # one Jacobian in memory: analysis_size² · d · 4 bytes
MAX_TOP_K = MAX_LATENT_DIM  # directions asked for (a file holds at most d of them)
MAX_TRUNCATION = 2.0  # truncation ψ in (0, MAX_TRUNCATION], 1 for none
MAX_STRENGTH = 1e6  # |strength| of an edit (units of the direction, a unit vector)
MAX_STRENGTHS = 256  # strengths in one sweep
MAX_PATH_STEPS = 64  # path-following steps (each costs a Jacobian)
MAX_TRANSLATE = 4.0  # StyleGAN3's input transform (image widths): beyond it every frequency has left the picture
MAX_INVERT_STEPS = 20_000  # optimisation steps of an inversion
MAX_RESTARTS = 64  # optimisations run side by side in an inversion
MAX_CODES = MAX_SEEDS  # codes from a file or the API stand in for seeds: the same count bound


def check_int(value: Any, name: str, low: int, high: int, where: str = "") -> int:
    """``value`` as an int in ``low..high`` (bools and floats refused), else one clear error."""
    prefix = f"{where}: " if where else ""
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            import numpy as np
            if isinstance(value, np.integer):
                value = int(value)
            else:
                raise TypeError
        except TypeError:
            raise LowRankGANError(f"{prefix}{name} must be an integer, got {_kind(value)}") from None
    if not low <= value <= high:
        raise LowRankGANError(f"{prefix}{name} = {_short(value)} is out of range {low}..{high}")
    return value


def check_float(value: Any, name: str, low: float, high: float, where: str = "") -> float:
    """``value`` as a finite float in ``[low, high]`` (bools refused)."""
    prefix = f"{where}: " if where else ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LowRankGANError(f"{prefix}{name} must be a number, got {_kind(value)}")
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise LowRankGANError(f"{prefix}{name} = {_short(value)} is out of range {low:g}..{high:g}")
    return number


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else f"a {len(str(abs(value)))}-digit number"
    return printable(text, 60)


def printable(text: Any, limit: int = 300) -> str:
    """``text`` safe for a terminal: control characters (escape sequences, newlines) escaped, cut
    to ``limit`` characters."""
    text = str(text)
    if len(text) > limit:
        text = text[:limit] + "…"
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


# ----------------------------------------------------------------------------------- files

def open_regular(path: str | os.PathLike, limit: int, what: str, root: str | os.PathLike | None = None,
                 nofollow: bool = False) -> tuple[BinaryIO, int]:
    """``path`` opened for reading, and its size, if it is a regular file of at most ``limit`` bytes.

    Opens without blocking (a FIFO would wait for a writer forever) and checks the opened file,
    not the name, so a symlink to ``/dev/zero`` or a FIFO is refused before anything is read.
    ``root``: the file must lie inside this folder once links are followed; ``nofollow``: a
    link is refused whatever it points at.
    """
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | (getattr(os, "O_NOFOLLOW", 0) if nofollow else 0)
    if nofollow and path.is_symlink():
        raise LowRankGANError(f"{what} {printable(path)} is a symbolic link; it is read only as a plain file")
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise LowRankGANError(f"{what} {printable(path)} does not exist") from None
    except OSError as exc:
        raise LowRankGANError(f"cannot open {what} {printable(path)}: {exc.strerror}") from None
    f = os.fdopen(fd, "rb")
    st = os.fstat(f.fileno())
    if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
        f.close()
        if not stat.S_ISREG(st.st_mode):
            raise LowRankGANError(f"{what} {path} is not a regular file (a device, FIFO or socket); "
                                  "give a plain file")
        raise LowRankGANError(f"{what} {path} is {st.st_size} bytes; at most {limit} are accepted")
    if root is not None:
        try:
            check_inside(path, root, what)
        except LowRankGANError:
            f.close()
            raise
    return f, st.st_size


def read_regular(path: str | os.PathLike, limit: int, what: str, root: str | os.PathLike | None = None,
                 nofollow: bool = False) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes (``open_regular``)."""
    f, _ = open_regular(path, limit, what, root, nofollow)
    with f:
        data = f.read(limit + 1)
    if len(data) > limit:  # grew while we read it
        raise LowRankGANError(f"{what} {path} is larger than {limit} bytes")
    return data


def check_inside(path: str | os.PathLike, root: str | os.PathLike, what: str) -> Path:
    """``path`` if it lies inside the folder ``root`` once every link is followed, else one clear
    error: a file of an output folder that is a link to elsewhere is not read or written."""
    real, base = os.path.realpath(path), os.path.realpath(root)
    if real != base and not real.startswith(base.rstrip(os.sep) + os.sep):
        raise LowRankGANError(f"{what} {printable(path)} is a link to {printable(real, 120)}, outside "
                              f"{printable(root, 120)}; replace it by a plain file")
    return Path(path)


def check_regular(path: str | os.PathLike, what: str) -> Path:
    """``path`` if it names a regular file (after symlinks), else one clear error."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise LowRankGANError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise LowRankGANError(f"cannot read {what} {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise LowRankGANError(f"{what} {path} is not a regular file; give a plain file")
    return path


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_JSON_INT_DIGITS:
        raise ValueError(f"integer with {len(text)} digits")
    return int(text)


def parse_json(data: bytes, what: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """JSON from untrusted bytes: strict UTF-8, no integer longer than 20 digits, nesting at most
    ``max_depth`` (checked before parsing, so deep nesting costs no recursion)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LowRankGANError(f"{what} is not UTF-8 text (byte {exc.start}); fix or delete it") from None
    depth = json_depth(text)
    if depth > max_depth:
        raise LowRankGANError(f"{what} nests more than {max_depth} levels deep; fix or delete it")
    try:
        return json.loads(text, parse_int=_bounded_int, parse_constant=_no_constant)
    except ValueError as exc:
        reason = getattr(exc, "msg", None) or str(exc)
        raise LowRankGANError(f"{what} is not valid JSON ({printable(reason, 80)}); fix or delete it") from None


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def json_depth(text: str) -> int:
    """Deepest nesting of ``[``/``{`` in JSON text (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for c in text:
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
    return deepest


# ----------------------------------------------------------------------------------- tensors

def check_torch_file(path: Path) -> int:
    """Before ``torch.load``: a regular file whose zip records (torch's format since 1.6) decode to
    at most ``ZIP_INFLATION``× the file plus ``ZIP_SLACK_BYTES`` (no zip bombs). Returns the byte
    budget the loaded tensors must fit in."""
    path = check_regular(path, "checkpoint")
    size = path.stat().st_size
    if size > MAX_CHECKPOINT_BYTES:
        raise LowRankGANError(f"checkpoint {path} is {size >> 20} MiB; at most {MAX_CHECKPOINT_BYTES >> 30} GiB "
                              "are accepted")
    budget = ZIP_INFLATION * size + ZIP_SLACK_BYTES
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                infos = zf.infolist()
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise LowRankGANError(f"checkpoint {path} is a damaged zip ({printable(exc, 120)})") from None
        if len(infos) > MAX_TENSORS:
            raise LowRankGANError(f"checkpoint {path} holds {len(infos)} records; at most {MAX_TENSORS}")
        decoded = sum(i.file_size for i in infos)
        if decoded > budget:
            raise LowRankGANError(f"checkpoint {path} decompresses to {decoded} bytes from {size}: refusing "
                                  "(a zip bomb? torch.save does not compress)")
    return budget


def check_tensors(obj: Any, where: str, budget: int | None = None) -> None:
    """Every tensor in a loaded checkpoint (nested dicts/lists) must fit its own storage (no
    stride-0 views that expand a few bytes into gigabytes), be finite, and all of them together
    fit ``budget`` bytes. Shared containers are visited once; nesting and counts are capped."""
    seen: set[int] = set()
    storages: dict[int, int] = {}
    stack = [(obj, 0)]
    count = 0
    while stack:
        item, depth = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        count += 1
        if count > MAX_TENSORS or depth > MAX_PICKLE_DEPTH:
            raise LowRankGANError(f"{where}: the checkpoint holds too many or too deeply nested entries")
        if isinstance(item, torch.Tensor):
            _check_one_tensor(item, where)
            storage = item.untyped_storage()
            storages[storage.data_ptr() or id(storage)] = storage.nbytes()
        elif isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend((v, depth + 1) for v in item)
    total = sum(storages.values())
    if budget is not None and total > budget:
        raise LowRankGANError(f"{where}: tensors hold {total} bytes, more than the file can store")


def _check_one_tensor(t: torch.Tensor, where: str) -> None:
    if t.layout != torch.strided or t.is_quantized or t.device.type == "meta":
        # A sparse tensor can claim any dense size for a few stored values.
        kind = "sparse" if t.layout != torch.strided else "quantized" if t.is_quantized else "meta"
        raise LowRankGANError(f"{where}: holds a {kind} tensor of shape {list(t.shape)}; generator weights "
                              "are plain dense tensors")
    nbytes = t.numel() * t.element_size()
    if nbytes > t.untyped_storage().nbytes():
        raise LowRankGANError(f"{where}: a tensor of shape {list(t.shape)} claims more bytes than its "
                              "storage holds (an expanded/strided view); the file is not a plain checkpoint")
    if t.is_floating_point() and t.numel() and not bool(torch.isfinite(t).all()):
        raise LowRankGANError(f"{where}: weights hold NaN or infinite values; the checkpoint is broken")


def torch_load_checked(path: Path, what: str) -> Any:
    """``torch.load(weights_only=True)`` after ``check_torch_file``, then ``check_tensors``."""
    budget = check_torch_file(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged or foreign file
        first = printable(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, 200)
        raise LowRankGANError(f"cannot read {what} {path} ({first}); "
                              "the file is damaged or not a PyTorch checkpoint") from None
    check_tensors(obj, f"{what} {path}", budget)
    return obj
