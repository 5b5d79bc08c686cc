"""Read StyleGAN2 checkpoints into our generator, chosen by file content (not file name).

Formats (facts in shared/reference/checkpoint-formats.md):
- ``nvidia-pytorch``: stylegan2-ada-pytorch / stylegan3-repo pickles (``G_ema``), read with a
  restricted unpickler; the embedded network source is never executed.
- ``nvidia-tf``: NVIDIA's original TensorFlow pickles ``(G, D, Gs)``, read without TensorFlow.
- ``rosinality``: ``torch.save`` dicts with ``g_ema`` (``torch.load(weights_only=True)``).
- ``stylegan3``: recognised so it can be refused with a clear message.
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ...errors import LowRankGANError
from .network import StyleGAN2Config, StyleGAN2Generator
from .rosinality import load_rosinality as _load_rosinality
from ..nvidia import (NVIDIA_PYTORCH_GLOBALS, NVIDIA_TF_GLOBALS, PersistentRecord, TFNetworkRecord,
                      collect_tf_vars, first_line, flatten_record, generator_record, init_kwargs, read_pickle,
                      walk_named)
from .weights import assign_weights, infer_channels

NVIDIA_PYTORCH = "nvidia-pytorch"
NVIDIA_TF = "nvidia-tf"
ROSINALITY = "rosinality"
STYLEGAN3 = "stylegan3"

_SNIFF_BYTES = 4 << 20  # NVIDIA puts the network source (and so the class names) first
_ZIP_MAGIC = b"PK\x03\x04"
_SG3_MARKERS = (b"SynthesisInput", b"magnitude_ema_beta")


# ----------------------------------------------------------------------------- sniffing

def sniff_stylegan(path: str | os.PathLike) -> str | None:
    """Which StyleGAN checkpoint format ``path`` holds, from its first bytes; None if unknown.

    Cheap (reads at most a few MiB, unpickles nothing). The loaders re-check what they read.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(_SNIFF_BYTES)
    except OSError:
        return None
    if head.startswith(_ZIP_MAGIC):
        return _sniff_torch_zip(path)
    if not head.startswith(b"\x80"):  # every pickle protocol >= 2 starts with PROTO
        return None
    if b"torch_utils.persistence" in head and b"_reconstruct_persistent_obj" in head:
        return STYLEGAN3 if any(m in head for m in _SG3_MARKERS) else NVIDIA_PYTORCH
    if b"dnnlib.tflib.network" in head:
        return NVIDIA_TF
    # torch.save's pre-1.6 ("legacy") format is a run of plain pickles; keys come first.
    if b"g_ema" in head or (b"style.1.weight" in head and b"to_rgb1" in head):
        return ROSINALITY
    return None


def _sniff_torch_zip(path: str | os.PathLike) -> str | None:
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            if not names:
                return None
            # data.pkl holds only the keys and tensor references; the tensors live beside it.
            data = zf.read(names[0])
    except (OSError, zipfile.BadZipFile, EOFError, ValueError):
        return None
    if b"g_ema" in data or (b"style.1.weight" in data and b"to_rgb1" in data):
        return ROSINALITY
    return None


# ----------------------------------------------------------------------------- entry points

def load_stylegan2(path: str | os.PathLike) -> StyleGAN2Generator:
    """Our generator (eval mode, no parameter gradients) with the weights of ``path``."""
    return load_stylegan2_with_kind(path)[0]


def load_stylegan2_with_kind(path: str | os.PathLike) -> tuple[StyleGAN2Generator, str]:
    """Like ``load_stylegan2`` and also the format name (see ``sniff_stylegan``)."""
    path = Path(path)
    if not path.is_file():
        raise LowRankGANError(f"{path}: no such checkpoint file")
    kind = sniff_stylegan(path)
    if kind == STYLEGAN3:
        raise _stylegan3_error(path)
    loaders = {NVIDIA_PYTORCH: _load_nvidia_pytorch, NVIDIA_TF: _load_nvidia_tf,
               ROSINALITY: _load_rosinality}
    if kind not in loaders:
        raise LowRankGANError(
            f"{path}: not a StyleGAN2 checkpoint this tool can read (expected an NVIDIA "
            f"stylegan2-ada-pytorch/stylegan3 .pkl, an NVIDIA TensorFlow StyleGAN2 .pkl or a "
            f"rosinality stylegan2-pytorch .pt)")
    try:
        gen = loaders[kind](path)
    except LowRankGANError:
        raise
    except Exception as e:  # well-formed file, unexpected content (wrong types, odd nesting)
        raise LowRankGANError(
            f"{path}: unexpected {kind} checkpoint content ({type(e).__name__}: "
            f"{first_line(e)})") from None
    return gen.eval().requires_grad_(False), kind


def _check_supported(path: Path, architecture: Any = "skip", activation: Any = "lrelu",
                     mapping_activation: Any = "lrelu") -> None:
    if architecture not in (None, "skip"):
        raise LowRankGANError(
            f"{path}: StyleGAN2 architecture '{architecture}' is not supported (only 'skip', "
            f"the config-f generator)")
    for act in (activation, mapping_activation):
        if act not in (None, "lrelu"):
            raise LowRankGANError(f"{path}: activation '{act}' is not supported (only 'lrelu')")


# ----------------------------------------------------------------------------- NVIDIA PyTorch

_SG3_LAYER = re.compile(r"L\d+_\d+_\d+")


def _load_nvidia_pytorch(path: Path) -> StyleGAN2Generator:
    data = read_pickle(path, NVIDIA_PYTORCH_GLOBALS)
    g = generator_record(data)
    if not isinstance(g, PersistentRecord):
        raise LowRankGANError(f"{path}: NVIDIA pickle without a 'G_ema' generator network")
    if _looks_like_stylegan3(g):
        raise _stylegan3_error(path)
    if g.class_name != "Generator":
        raise LowRankGANError(f"{path}: G_ema is a '{g.class_name}', not a StyleGAN2 Generator")
    cfg = _config_from_nvidia_kwargs(init_kwargs(g), path)
    gen = StyleGAN2Generator(cfg)
    assign_weights(gen, flatten_record(g, "", path), path)
    num_ws = g.state.get("num_ws")
    if isinstance(num_ws, int) and num_ws != gen.num_ws:
        raise LowRankGANError(f"{path}: file says num_ws={num_ws}, the config gives {gen.num_ws}")
    return gen


class StyleGAN3Pickle(LowRankGANError):
    """Raised by the StyleGAN2 loaders for a StyleGAN3 file (``load_model`` then loads it as one)."""


def _stylegan3_error(path: Path) -> LowRankGANError:
    return StyleGAN3Pickle(f"{path} is a StyleGAN3 pickle, not StyleGAN2: load it with "
                           f"lowrankgan.models.load_model or load_stylegan3")


def _config_from_nvidia_kwargs(kw: dict, path: Path) -> StyleGAN2Config:
    mk = dict(kw.get("mapping_kwargs") or {})
    sk = dict(kw.get("synthesis_kwargs") or {})
    for key in ("z_dim", "w_dim", "img_resolution"):
        if key not in kw:
            raise LowRankGANError(f"{path}: Generator init_kwargs lack '{key}'")
    _check_supported(path, sk.get("architecture", "skip"), sk.get("activation", "lrelu"),
                     mk.get("activation", "lrelu"))
    clamp = sk.get("conv_clamp")
    return StyleGAN2Config(
        z_dim=int(kw["z_dim"]), w_dim=int(kw["w_dim"]), c_dim=int(kw.get("c_dim") or 0),
        img_resolution=int(kw["img_resolution"]), img_channels=int(kw.get("img_channels", 3)),
        mapping_layers=int(mk.get("num_layers", 8)),
        mapping_lr_multiplier=float(mk.get("lr_multiplier", 0.01)),
        embed_features=_opt_int(mk.get("embed_features")),
        layer_features=_opt_int(mk.get("layer_features")),
        channel_base=int(sk.get("channel_base", 32768)),
        channel_max=int(sk.get("channel_max", 512)),
        conv_clamp=None if clamp is None else float(clamp),
        resample_filter=tuple(int(v) for v in sk.get("resample_filter", (1, 3, 3, 1))),
        use_noise=bool(sk.get("use_noise", True)))


def _opt_int(v: Any) -> int | None:
    return None if v is None else int(v)


def _looks_like_stylegan3(rec: PersistentRecord) -> bool:
    for r in _walk_records(rec):
        if r.class_name == "SynthesisInput":
            return True
        if any(_SG3_LAYER.fullmatch(str(k)) for k in (r.state.get("_modules") or {})):
            return True
        kw = init_kwargs(r)
        if "magnitude_ema_beta" in kw or "magnitude_ema_beta" in dict(kw.get("synthesis_kwargs") or {}):
            return True
    return False


def _walk_records(rec: PersistentRecord):
    """Every record once: shared sub-records would otherwise cost 2^depth visits."""
    for _prefix, r in walk_named(rec, Path("checkpoint"), strict=False):
        yield r


# ----------------------------------------------------------------------------- NVIDIA TensorFlow

def _load_nvidia_tf(path: Path) -> StyleGAN2Generator:
    data = read_pickle(path, NVIDIA_TF_GLOBALS)
    gs = data[-1] if isinstance(data, tuple) and data else data  # (G, D, Gs): Gs is the EMA one
    if not isinstance(gs, TFNetworkRecord):
        raise LowRankGANError(f"{path}: TensorFlow pickle without a generator Network")
    tf: dict[str, Any] = {}
    collect_tf_vars(gs, "", tf, depth=0)
    if "synthesis/4x4/Conv/mod_weight" not in tf:
        raise LowRankGANError(
            f"{path}: TensorFlow pickle is not a StyleGAN2 generator (StyleGAN 1 and other TF "
            f"networks are not supported)")
    static = dict(gs.state.get("static_kwargs") or {})
    if any(k.startswith("synthesis/ToRGB_lod") for k in tf):
        raise LowRankGANError(f"{path}: StyleGAN2 architecture 'orig' is not supported (only 'skip')")
    _check_supported(path, static.get("architecture", "skip"), static.get("nonlinearity", "lrelu"),
                     static.get("mapping_nonlinearity", "lrelu"))
    if "mapping/LabelConcat/weight" in tf:
        raise LowRankGANError(
            f"{path}: class-conditional TF StyleGAN2 with LabelConcat is not supported")

    resolutions = sorted({int(m.group(1)) for k in tf
                          if (m := re.match(r"synthesis/(\d+)x\1/", k))})
    res = resolutions[-1]
    n_dense = len({m.group(1) for k in tf if (m := re.match(r"mapping/Dense(\d+)/weight$", k))})
    dense0 = np.asarray(tf["mapping/Dense0/weight"])
    embed = tf.get("mapping/LabelEmbed/weight")
    c_dim, embed_features = (0, None) if embed is None else np.asarray(embed).shape
    channels = {4: np.asarray(tf["synthesis/4x4/Conv/weight"]).shape[3]}
    for r in resolutions[1:]:
        channels[r] = np.asarray(tf[f"synthesis/{r}x{r}/Conv1/weight"]).shape[3]
    base, cmax = infer_channels(channels, path)
    clamp = static.get("conv_clamp")
    cfg = StyleGAN2Config(
        z_dim=dense0.shape[0] - (embed_features or 0), w_dim=int(np.asarray(tf["dlatent_avg"]).shape[0]),
        c_dim=int(c_dim), img_resolution=res,
        img_channels=int(np.asarray(tf["synthesis/4x4/ToRGB/weight"]).shape[3]),
        mapping_layers=n_dense, mapping_lr_multiplier=float(static.get("mapping_lrmul", 0.01)),
        embed_features=None if embed_features is None else int(embed_features),
        layer_features=int(dense0.shape[1]), channel_base=base, channel_max=cmax,
        conv_clamp=None if clamp is None else float(clamp),
        resample_filter=tuple(int(v) for v in static.get("resample_kernel", (1, 3, 3, 1))),
        use_noise="synthesis/4x4/Conv/noise_strength" in tf)
    gen = StyleGAN2Generator(cfg)
    assign_weights(gen, _tf_to_ours(tf, cfg, path), path)
    return gen


def _tf_to_ours(tf: Mapping[str, Any], cfg: StyleGAN2Config, path: Path) -> dict[str, Any]:
    def get(name: str) -> np.ndarray:
        if name not in tf:
            raise LowRankGANError(f"{path}: TensorFlow variable '{name}' is missing")
        return np.asarray(tf[name])

    out: dict[str, Any] = {"mapping.w_avg": get("dlatent_avg")}
    for i in range(cfg.mapping_layers):
        out[f"mapping.fc{i}.weight"] = get(f"mapping/Dense{i}/weight").T
        out[f"mapping.fc{i}.bias"] = get(f"mapping/Dense{i}/bias")
    if cfg.c_dim > 0:
        out["mapping.embed.weight"] = get("mapping/LabelEmbed/weight").T
        out["mapping.embed.bias"] = get("mapping/LabelEmbed/bias")

    def modconv(tf_scope: str, ours: str, noise_index: int | None, flip: bool) -> None:
        w = get(f"{tf_scope}/weight")
        if flip:  # TF applies the transposed conv to a flipped kernel
            w = w[::-1, ::-1]
        out[f"{ours}.weight"] = w.transpose(3, 2, 0, 1)  # HWIO -> OIHW
        out[f"{ours}.bias"] = get(f"{tf_scope}/bias")
        out[f"{ours}.affine.weight"] = get(f"{tf_scope}/mod_weight").T
        out[f"{ours}.affine.bias"] = get(f"{tf_scope}/mod_bias") + 1.0  # TF adds the 1 at run time
        if noise_index is not None and cfg.use_noise:
            out[f"{ours}.noise_strength"] = get(f"{tf_scope}/noise_strength")
            out[f"{ours}.noise_const"] = get(f"synthesis/noise{noise_index}")[0, 0]

    for r in cfg.block_resolutions:
        scope, ours = f"synthesis/{r}x{r}", f"synthesis.b{r}"
        if r == 4:
            out[f"{ours}.const"] = get(f"{scope}/Const/const")[0]
            modconv(f"{scope}/Conv", f"{ours}.conv1", 0, flip=False)
        else:
            k = 2 * int(np.log2(r))
            modconv(f"{scope}/Conv0_up", f"{ours}.conv0", k - 5, flip=True)
            modconv(f"{scope}/Conv1", f"{ours}.conv1", k - 4, flip=False)
        modconv(f"{scope}/ToRGB", f"{ours}.torgb", None, flip=False)
    return out


# ----------------------------------------------------------------------------- rosinality
