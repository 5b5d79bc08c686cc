"""Reading NVIDIA's StyleGAN pickles without running what they embed: a restricted unpickler
(``safe_pickle``) and the helpers both StyleGAN loaders use on what it returns (``records``)."""

from .records import (check_weight_names, first_line, flatten_record, generator_record, init_kwargs,
                      read_pickle, to_tensor)
from .safe_pickle import (NVIDIA_PYTORCH_GLOBALS, NVIDIA_TF_GLOBALS, PersistentRecord, RefusedGlobal,
                          RestrictedUnpickler, TFNetworkRecord, collect_tf_vars, restricted_load, walk_named)

__all__ = [
    "check_weight_names", "first_line", "flatten_record", "generator_record", "init_kwargs", "read_pickle",
    "to_tensor", "NVIDIA_PYTORCH_GLOBALS", "NVIDIA_TF_GLOBALS", "PersistentRecord", "RefusedGlobal",
    "RestrictedUnpickler", "TFNetworkRecord", "collect_tf_vars", "restricted_load", "walk_named",
]
