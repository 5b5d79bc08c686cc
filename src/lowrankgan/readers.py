"""One bounded reader per kind of file the project reads back (``.npy`` arrays, JSON files, JSON
lines): each checks what the file claims (header, size, nesting) before it allocates for it, and
refuses FIFOs, devices and links that leave the folder the file belongs to.

Files the project wrote itself are read through these too: a user, a script or another user of
a shared folder may have replaced them.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import LowRankGANError
from .limits import MAX_JSON_BYTES, MAX_NPY_BYTES, check_float, check_int, open_regular, parse_json, printable, \
    read_regular

FLOAT_DTYPES = ("float16", "float32", "float64")
NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"
PICKLE_MAGIC = b"\x80"


def read_npy(path: str | os.PathLike, what: str, *, max_dims: int = 2, max_bytes: int = MAX_NPY_BYTES,
             root: str | os.PathLike | None = None, nofollow: bool = False) -> np.ndarray:
    """A float ``.npy`` array as float32, read within bounds: a regular file of at most ``max_bytes``
    whose header (dtype float16/32/64, 1..``max_dims`` dimensions, byte count = file size) is
    checked before a byte of data is read; every value finite once cast to float32 (1e300 in a
    float64 file is infinite there). ``.npz`` archives and pickled arrays are refused."""
    path = Path(path)
    f, size = open_regular(path, max_bytes, what, root, nofollow)
    name = f"{what} {printable(path)}"
    with f:
        head = f.read(len(NPY_MAGIC))
        if head.startswith(ZIP_MAGIC):
            raise LowRankGANError(f"{name} is a .npz archive (a zip), not a .npy array; save one array with numpy.save")
        if head.startswith(PICKLE_MAGIC):
            raise LowRankGANError(f"{name} is a Python pickle, not a .npy array; pickles are never loaded")
        if head != NPY_MAGIC:
            raise LowRankGANError(f"{name} is not a .npy file (it does not start with numpy's magic bytes)")
        f.seek(0)
        shape, fortran, dtype = _npy_header(f, name)
        if dtype.hasobject:
            raise LowRankGANError(f"{name} holds Python objects (a pickled array); arrays of numbers only")
        if dtype.name not in FLOAT_DTYPES:
            raise LowRankGANError(f"{name} holds {printable(dtype, 40)} values; give float16/32/64 values")
        if any(n > max_bytes for n in shape):  # an empty array could claim any other dimension
            raise LowRankGANError(f"{name} has shape {printable(list(shape), 80)}, beyond what the file can hold")
        if not 1 <= len(shape) <= max_dims:
            raise LowRankGANError(f"{name} has shape {printable(list(shape), 80)}; expected 1 to {max_dims} dimensions")
        count, present = math.prod(shape), size - f.tell()
        if count * dtype.itemsize != present:
            raise LowRankGANError(f"{name}: the header says shape {printable(list(shape), 80)} "
                                  f"({count * dtype.itemsize} bytes) but the file holds {present} bytes of data; "
                                  "the file is damaged")
        data = f.read(present)
    if len(data) != present:  # shrank while we read it
        raise LowRankGANError(f"{name} changed while it was read")
    array = np.frombuffer(data, dtype, count).reshape(shape, order="F" if fortran else "C")
    with np.errstate(over="ignore", invalid="ignore"):
        out = array.astype(np.float32)
    if not np.isfinite(out).all():
        raise LowRankGANError(f"{name} holds NaN or infinite values (or values beyond float32's range)")
    return out


def _npy_header(f, name: str) -> tuple[tuple, bool, np.dtype]:
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unknown .npy version {version}")
    except Exception as exc:  # numpy's header parser raises ValueError, SyntaxError, TokenError, ...
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LowRankGANError(f"{name} is not a readable .npy file ({printable(reason, 100)})") from None
    if not all(isinstance(n, int) and n >= 0 for n in shape):
        raise LowRankGANError(f"{name} has a damaged header (shape {printable(shape, 60)})")
    return shape, bool(fortran), dtype


def read_json(path: str | os.PathLike, what: str, *, limit: int = MAX_JSON_BYTES,
              root: str | os.PathLike | None = None, nofollow: bool = False) -> Any:
    """A JSON file through the bounded parser (``parse_json``): a regular file of at most ``limit``
    bytes, no deep nesting, no huge integers, no NaN/Infinity."""
    path = Path(path)
    return parse_json(read_regular(path, limit, what, root, nofollow), f"{what} {printable(path)}")


def read_json_object(path: str | os.PathLike, what: str, **kwargs: Any) -> dict:
    """``read_json`` of a file that must hold a JSON object."""
    value = read_json(path, what, **kwargs)
    if not isinstance(value, dict):
        raise LowRankGANError(f"{what} {printable(path)} holds {kind(value)}, not a JSON object; fix or delete it")
    return value


def kind(value: Any) -> str:
    """A JSON value's type in words, for messages."""
    return {type(None): "null", bool: "true/false", dict: "an object", list: "a list", str: "a string",
            int: "an integer", float: "a number"}.get(type(value), type(value).__name__)


def field_int(data: dict, key: str, low: int, high: int, where: str) -> int:
    """``data[key]``: an integer in ``low..high`` (one error naming the field otherwise)."""
    if key not in data:
        raise LowRankGANError(f"{where}: field '{key}' is missing")
    return check_int(data[key], key, low, high, where)


def field_float(data: dict, key: str, low: float, high: float, where: str) -> float:
    """``data[key]``: a finite number in ``[low, high]``."""
    if key not in data:
        raise LowRankGANError(f"{where}: field '{key}' is missing")
    return check_float(data[key], key, low, high, where)


def field_text(data: dict, key: str, where: str, max_len: int = 1000) -> str:
    """``data[key]``: a string of at most ``max_len`` characters."""
    value = data.get(key)
    if not isinstance(value, str):
        raise LowRankGANError(f"{where}: field '{key}' must be a string, got {kind(value)}")
    if len(value) > max_len:
        raise LowRankGANError(f"{where}: field '{key}' is longer than {max_len} characters")
    return value


def number_list(value: Any, name: str, length: int, bound: float, where: str) -> list[float]:
    """``value``: a list of exactly ``length`` finite numbers within ``±bound``."""
    if not isinstance(value, list) or len(value) != length:
        raise LowRankGANError(f"{where}: field '{name}' must be a list of {length} numbers")
    return [check_float(v, f"{name}[{i}]", -bound, bound, where) for i, v in enumerate(value)]
