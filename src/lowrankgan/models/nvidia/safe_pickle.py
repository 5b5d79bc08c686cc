"""A pickle reader that only builds data, never runs code a checkpoint carries.

NVIDIA's loaders rebuild networks by executing the Python source stored in the file. We instead
give ``pickle.Unpickler.find_class`` an allow-list: every global a checkpoint may name maps to a
harmless constructor, and the two "rebuild a network" hooks map to plain records. Any other global
(``os.system``, ``builtins.eval`` …) stops the load before it can be called.
"""

from __future__ import annotations

import collections
import io
import pickle
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable

import numpy as np
import torch

from ...errors import LowRankGANError
from ...limits import MAX_PICKLE_DEPTH, MAX_PICKLE_RECORDS, MAX_TENSORS, printable


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle names a global outside the allow-list."""

    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.module, self.name = module, name


@dataclass
class PersistentRecord:
    """What ``torch_utils.persistence._reconstruct_persistent_obj(meta)`` would have rebuilt:
    the class name and the module's ``__dict__`` (the embedded ``module_src`` is dropped)."""

    class_name: str
    state: dict = field(default_factory=dict)


class TFNetworkRecord:
    """Stands in for ``dnnlib.tflib.network.Network``; pickle calls ``__setstate__`` on it."""

    def __init__(self) -> None:
        self.state: dict = {}

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise pickle.UnpicklingError("TensorFlow Network state is not a dict")
        # Source code for the TF graph is never needed; drop it early to save memory.
        self.state = {k: v for k, v in state.items() if k != "build_module_src"}


class EasyDictRecord(dict):
    """Stands in for ``dnnlib.util.EasyDict`` (a dict with attribute access)."""


def _reconstruct_persistent_obj(meta: Any) -> PersistentRecord:
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise pickle.UnpicklingError("unexpected persistent-object metadata")
    state = meta.get("state")
    return PersistentRecord(str(meta.get("class_name")), dict(state) if state else {})


def _load_storage_from_bytes(data: bytes) -> Any:
    # The original helper calls torch.load without weights_only, i.e. an unrestricted pickle.
    return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")


def _numpy_multiarray() -> Any:
    core = getattr(np, "_core", None)
    return core.multiarray if core is not None else np.core.multiarray  # numpy 1


_MA = _numpy_multiarray()


class _NDArrayName(np.ndarray):
    """What the name ``numpy.ndarray`` unpickles to: usable only as ``_reconstruct``'s subtype
    argument. Calling it (``numpy.ndarray(shape)``) would allocate any size the file asks for."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        raise pickle.UnpicklingError("the pickle calls numpy.ndarray directly; checkpoints never do")


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    if subtype is not _NDArrayName:
        raise pickle.UnpicklingError("numpy _reconstruct of something other than numpy.ndarray")
    return _MA._reconstruct(np.ndarray, shape, dtype)  # then __setstate__ checks data vs shape

# Names in data-only pickles: containers, numpy arrays/scalars, dnnlib's dict.
_COMMON: dict[tuple[str, str], Callable[..., Any]] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,  # protocol <= 3 pickles a set as a call of builtins.set
    ("builtins", "frozenset"): frozenset,
    ("__builtin__", "set"): set,
    ("__builtin__", "frozenset"): frozenset,
    ("numpy", "dtype"): np.dtype,
    ("numpy", "ndarray"): _NDArrayName,
    ("numpy.core.multiarray", "scalar"): _MA.scalar,
    ("numpy._core.multiarray", "scalar"): _MA.scalar,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("dnnlib.util", "EasyDict"): EasyDictRecord,
    ("dnnlib", "EasyDict"): EasyDictRecord,
}

def _rebuild_tensor_checked(storage: Any, offset: Any, size: Any, stride: Any, *args: Any) -> torch.Tensor:
    """``torch._utils._rebuild_tensor_v2`` for plain tensors only: a view whose strides repeat
    elements (stride 0) would turn a few stored bytes into gigabytes once converted."""
    tensor = torch._utils._rebuild_tensor_v2(storage, offset, size, stride, *args)
    if tensor.numel() * tensor.element_size() > tensor.untyped_storage().nbytes():
        raise pickle.UnpicklingError(f"tensor of shape {list(tensor.shape)} is larger than its storage "
                                     "(an expanded view); not a plain checkpoint tensor")
    return tensor


NVIDIA_PYTORCH_GLOBALS: dict[tuple[str, str], Callable[..., Any]] = {
    **_COMMON,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_checked,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
}

NVIDIA_TF_GLOBALS: dict[tuple[str, str], Callable[..., Any]] = {
    **_COMMON,
    ("dnnlib.tflib.network", "Network"): TFNetworkRecord,
}


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose globals come only from ``allowed``."""

    def __init__(self, file: BinaryIO, allowed: dict[tuple[str, str], Callable[..., Any]]) -> None:
        super().__init__(file)
        self._allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise RefusedGlobal(module, name) from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not used by these checkpoints")


def restricted_load(file: BinaryIO, allowed: dict[tuple[str, str], Callable[..., Any]]) -> Any:
    return RestrictedUnpickler(file, allowed).load()


# Walks over what the unpickler built: each shared record once, capped in count and depth.

def walk_named(rec: PersistentRecord, path: Any, strict: bool = True):
    """(dotted prefix, record) of each record once, depth first; capped in records and depth."""
    seen: set[int] = set()
    stack = [("", rec, 0)]
    while stack:
        prefix, r, depth = stack.pop()
        if id(r) in seen:
            continue
        seen.add(id(r))
        if len(seen) > MAX_PICKLE_RECORDS or depth > MAX_PICKLE_DEPTH:
            raise LowRankGANError(f"{path}: the network records nest deeper than {MAX_PICKLE_DEPTH} levels or "
                                  f"number more than {MAX_PICKLE_RECORDS}; not a StyleGAN generator")
        yield prefix, r
        modules = r.state.get("_modules") or {}
        for name, child in reversed(list(modules.items())):
            if isinstance(child, PersistentRecord):
                stack.append((f"{prefix}{name}.", child, depth + 1))
            elif child is not None and strict:
                raise LowRankGANError(f"{path}: unexpected module {printable(prefix + str(name), 80)} "
                                      f"({type(child).__name__})")


def collect_tf_vars(net: TFNetworkRecord, prefix: str, out: dict, depth: int) -> None:
    """Variables of ``net`` and its components under ``/``-joined names; each component is visited
    once however often it is shared, and depth and count are capped."""
    seen: set[int] = set()
    stack = [(net, prefix, depth)]
    while stack:
        rec, pre, level = stack.pop()
        if id(rec) in seen:
            continue
        seen.add(id(rec))
        if level > 8 or len(seen) > MAX_PICKLE_RECORDS:
            raise pickle.UnpicklingError("TF Network components nested too deeply or too many")
        for item in rec.state.get("variables") or ():
            name, value = item
            out.setdefault(pre + str(name), value)
            if len(out) > MAX_TENSORS:
                raise pickle.UnpicklingError("TF Network holds too many variables")
        for name, comp in (rec.state.get("components") or {}).items():
            if isinstance(comp, TFNetworkRecord):
                stack.append((comp, f"{pre}{name}/", level + 1))
