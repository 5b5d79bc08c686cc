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

# Names in data-only pickles: containers, numpy arrays/scalars, dnnlib's dict.
_COMMON: dict[tuple[str, str], Callable[..., Any]] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,  # protocol <= 3 pickles a set as a call of builtins.set
    ("builtins", "frozenset"): frozenset,
    ("__builtin__", "set"): set,
    ("__builtin__", "frozenset"): frozenset,
    ("numpy", "dtype"): np.dtype,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy.core.multiarray", "scalar"): _MA.scalar,
    ("numpy._core.multiarray", "scalar"): _MA.scalar,
    ("numpy.core.multiarray", "_reconstruct"): _MA._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _MA._reconstruct,
    ("dnnlib.util", "EasyDict"): EasyDictRecord,
    ("dnnlib", "EasyDict"): EasyDictRecord,
}

NVIDIA_PYTORCH_GLOBALS: dict[tuple[str, str], Callable[..., Any]] = {
    **_COMMON,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
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
