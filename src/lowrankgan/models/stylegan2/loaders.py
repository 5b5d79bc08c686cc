"""Read StyleGAN2 checkpoints into our generator, chosen by file content (not file name).

Formats (facts in shared/reference/checkpoint-formats.md):
- ``nvidia-pytorch``: stylegan2-ada-pytorch / stylegan3-repo pickles (``G_ema``), read with a
  restricted unpickler; the embedded network source is never executed.
- ``nvidia-tf``: NVIDIA's original TensorFlow pickles ``(G, D, Gs)``, read without TensorFlow.
- ``rosinality``: ``torch.save`` dicts with ``g_ema`` (``torch.load(weights_only=True)``).
- ``stylegan3``: recognised so it can be refused with a clear message.
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from ...errors import LowRankGANError
from .network import StyleGAN2Config, StyleGAN2Generator
from .safe_pickle import (NVIDIA_PYTORCH_GLOBALS, NVIDIA_TF_GLOBALS, PersistentRecord,
                          RefusedGlobal, TFNetworkRecord, restricted_load)

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
            f"{_first_line(e)})") from None
    return gen.eval().requires_grad_(False), kind


def _read_pickle(path: Path, allowed: dict) -> Any:
    try:
        with open(path, "rb") as f:
            return restricted_load(f, allowed)
    except RefusedGlobal as e:
        raise LowRankGANError(
            f"{path}: refusing to load: the pickle calls {e.module}.{e.name}, which a StyleGAN "
            f"checkpoint never needs (it could run code); the file is not trusted") from None
    except LowRankGANError:
        raise
    except Exception as e:  # truncated, corrupt, or a format we do not understand
        raise LowRankGANError(
            f"{path}: cannot read checkpoint, the file is truncated or corrupt "
            f"({type(e).__name__}: {_first_line(e)})") from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else ""


# ----------------------------------------------------------------------------- shared helpers

def _to_tensor(value: Any, path: Path, name: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", torch.float32)
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
        return torch.from_numpy(np.array(value, dtype=np.float32, copy=True))
    if isinstance(value, (float, int, np.floating, np.integer)):
        return torch.tensor(float(value))
    raise LowRankGANError(f"{path}: {name} is not a numeric array ({type(value).__name__})")


def _assign_weights(gen: StyleGAN2Generator, tensors: Mapping[str, Any], path: Path) -> None:
    """Load ``tensors`` (our names) into ``gen``; every parameter and buffer must be given
    except the fixed resampling filters, which not every format stores."""
    own = gen.state_dict()
    missing = [k for k in own if k not in tensors and not k.endswith("resample_filter")]
    unexpected = [k for k in tensors if k not in own]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        raise LowRankGANError(
            f"{path}: weights do not match a StyleGAN2 generator: {'; '.join(parts)}")
    new = {}
    for k, ref in own.items():
        if k not in tensors:
            new[k] = ref
            continue
        t = _to_tensor(tensors[k], path, k)
        if tuple(t.shape) != tuple(ref.shape):
            raise LowRankGANError(
                f"{path}: {k} has shape {tuple(t.shape)}, expected {tuple(ref.shape)}")
        new[k] = t
    gen.load_state_dict(new)


def _infer_channels(channels: Mapping[int, int], path: Path) -> tuple[int, int]:
    """(channel_base, channel_max) reproducing ``channels[res] = min(base // res, max)``."""
    cmax = max(channels.values())
    top = max(channels)
    base = channels[top] * top
    for res, ch in channels.items():
        if min(base // res, cmax) != ch:
            raise LowRankGANError(
                f"{path}: channel counts {dict(sorted(channels.items()))} do not follow "
                f"StyleGAN2's min(channel_base / res, channel_max) rule")
    return base, cmax


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
    data = _read_pickle(path, NVIDIA_PYTORCH_GLOBALS)
    if isinstance(data, dict):
        g = data.get("G_ema", data.get("G"))
    else:
        g = data
    if not isinstance(g, PersistentRecord):
        raise LowRankGANError(f"{path}: NVIDIA pickle without a 'G_ema' generator network")
    if _looks_like_stylegan3(g):
        raise _stylegan3_error(path)
    if g.class_name != "Generator":
        raise LowRankGANError(f"{path}: G_ema is a '{g.class_name}', not a StyleGAN2 Generator")
    cfg = _config_from_nvidia_kwargs(_init_kwargs(g), path)
    gen = StyleGAN2Generator(cfg)
    _assign_weights(gen, _flatten_record(g, "", path), path)
    num_ws = g.state.get("num_ws")
    if isinstance(num_ws, int) and num_ws != gen.num_ws:
        raise LowRankGANError(f"{path}: file says num_ws={num_ws}, the config gives {gen.num_ws}")
    return gen


class StyleGAN3Pickle(LowRankGANError):
    """Raised by the StyleGAN2 loaders for a StyleGAN3 file (``load_model`` then loads it as one)."""


def _stylegan3_error(path: Path) -> LowRankGANError:
    return StyleGAN3Pickle(f"{path} is a StyleGAN3 pickle, not StyleGAN2: load it with "
                           f"lowrankgan.models.load_model or load_stylegan3")


def _init_kwargs(rec: PersistentRecord) -> dict:
    """Generator constructor arguments (positional ones named as in NVIDIA's signature)."""
    kwargs = dict(rec.state.get("_init_kwargs", rec.state.get("init_kwargs")) or {})
    args = rec.state.get("_init_args", rec.state.get("init_args")) or ()
    for name, value in zip(("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels"), args):
        kwargs.setdefault(name, value)
    return kwargs


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
        kw = _init_kwargs(r)
        if "magnitude_ema_beta" in kw or "magnitude_ema_beta" in dict(kw.get("synthesis_kwargs") or {}):
            return True
    return False


def _walk_records(rec: PersistentRecord):
    yield rec
    for child in (rec.state.get("_modules") or {}).values():
        if isinstance(child, PersistentRecord):
            yield from _walk_records(child)


def _flatten_record(rec: PersistentRecord, prefix: str, path: Path) -> dict[str, Any]:
    """Parameters and buffers of a record tree under dotted names, like ``named_parameters``."""
    out: dict[str, Any] = {}
    for table in ("_parameters", "_buffers"):
        for name, value in (rec.state.get(table) or {}).items():
            if value is not None:
                out[prefix + name] = value
    for name, child in (rec.state.get("_modules") or {}).items():
        if child is None:
            continue
        if not isinstance(child, PersistentRecord):
            raise LowRankGANError(f"{path}: unexpected module {prefix}{name} ({type(child).__name__})")
        out.update(_flatten_record(child, f"{prefix}{name}.", path))
    return out


# ----------------------------------------------------------------------------- NVIDIA TensorFlow

def _load_nvidia_tf(path: Path) -> StyleGAN2Generator:
    data = _read_pickle(path, NVIDIA_TF_GLOBALS)
    gs = data[-1] if isinstance(data, tuple) and data else data  # (G, D, Gs): Gs is the EMA one
    if not isinstance(gs, TFNetworkRecord):
        raise LowRankGANError(f"{path}: TensorFlow pickle without a generator Network")
    tf: dict[str, Any] = {}
    _collect_tf_vars(gs, "", tf, depth=0)
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
    base, cmax = _infer_channels(channels, path)
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
    _assign_weights(gen, _tf_to_ours(tf, cfg, path), path)
    return gen


def _collect_tf_vars(net: TFNetworkRecord, prefix: str, out: dict, depth: int) -> None:
    if depth > 8:
        raise pickle.UnpicklingError("TF Network components nested too deeply")
    for item in net.state.get("variables") or ():
        name, value = item
        out.setdefault(prefix + str(name), value)
    for name, comp in (net.state.get("components") or {}).items():
        if isinstance(comp, TFNetworkRecord):
            _collect_tf_vars(comp, f"{prefix}{name}/", out, depth + 1)


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

def _load_rosinality(path: Path) -> StyleGAN2Generator:
    try:
        # Training checkpoints also store their argparse.Namespace; it only sets attributes.
        with torch.serialization.safe_globals([argparse.Namespace]):
            data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise LowRankGANError(
            f"{path}: refusing to load: torch.load(weights_only=True) rejected it "
            f"({_first_line(e)})") from None
    except Exception as e:
        raise LowRankGANError(
            f"{path}: cannot read checkpoint, the file is truncated or corrupt "
            f"({type(e).__name__}: {_first_line(e)})") from None
    if isinstance(data, dict) and "g_ema" in data:
        sd, latent_avg = data["g_ema"], data.get("latent_avg")
    elif isinstance(data, dict) and "style.1.weight" in data:
        sd, latent_avg = data, None
    else:
        raise LowRankGANError(f"{path}: rosinality checkpoint without 'g_ema'")
    if not isinstance(sd, dict) or "conv1.conv.weight" not in sd:
        raise LowRankGANError(f"{path}: 'g_ema' is not a rosinality StyleGAN2 generator state")

    n_mlp = len([k for k in sd if re.fullmatch(r"style\.\d+\.weight", k)])
    w_dim, z_dim = sd["style.1.weight"].shape
    n_up = len([k for k in sd if re.fullmatch(r"to_rgbs\.\d+\.conv\.weight", k)])
    res = 4 * 2 ** n_up
    channels = {4: sd["conv1.conv.weight"].shape[1]}
    for j in range(n_up):
        channels[8 << j] = sd[f"convs.{2 * j + 1}.conv.weight"].shape[1]
    base, cmax = _infer_channels(channels, path)
    cfg = StyleGAN2Config(
        z_dim=int(z_dim), w_dim=int(w_dim), img_resolution=res,
        img_channels=int(sd["to_rgb1.conv.weight"].shape[1]), mapping_layers=n_mlp,
        mapping_lr_multiplier=0.01,  # rosinality's default lr_mlp; not stored in the file
        layer_features=int(sd["style.1.weight"].shape[0]), channel_base=base, channel_max=cmax,
        use_noise="conv1.noise.weight" in sd)
    _check_blur_kernel(sd, path)
    gen = StyleGAN2Generator(cfg)
    tensors = _rosinality_to_ours(sd, cfg, path)
    if latent_avg is None:
        # Training checkpoints carry no average; estimate it as rosinality's mean_latent does.
        _assign_weights(gen, {**tensors, "mapping.w_avg": torch.zeros(cfg.w_dim)}, path)
        tensors["mapping.w_avg"] = estimate_w_avg(gen)
    else:
        tensors["mapping.w_avg"] = torch.as_tensor(latent_avg).reshape(-1)
    _assign_weights(gen, tensors, path)
    return gen


def _check_blur_kernel(sd: Mapping[str, torch.Tensor], path: Path) -> None:
    k = sd.get("to_rgbs.0.upsample.kernel")
    if k is None:
        return
    ref = torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1]))
    if k.shape != ref.shape or not torch.allclose(k / k.sum(), ref / ref.sum(), atol=1e-6):
        raise LowRankGANError(f"{path}: only the [1,3,3,1] blur kernel is supported")


def _rosinality_to_ours(sd: Mapping[str, torch.Tensor], cfg: StyleGAN2Config,
                        path: Path) -> dict[str, Any]:
    def get(name: str) -> torch.Tensor:
        if name not in sd:
            raise LowRankGANError(f"{path}: g_ema entry '{name}' is missing")
        return sd[name]

    out: dict[str, Any] = {}
    for i in range(cfg.mapping_layers):  # style.0 is the PixelNorm
        out[f"mapping.fc{i}.weight"] = get(f"style.{i + 1}.weight")
        out[f"mapping.fc{i}.bias"] = get(f"style.{i + 1}.bias")

    def styled(src: str, ours: str, noise_index: int) -> None:
        out[f"{ours}.weight"] = get(f"{src}.conv.weight")[0]
        out[f"{ours}.affine.weight"] = get(f"{src}.conv.modulation.weight")
        out[f"{ours}.affine.bias"] = get(f"{src}.conv.modulation.bias")
        out[f"{ours}.bias"] = get(f"{src}.activate.bias")
        if cfg.use_noise:
            out[f"{ours}.noise_strength"] = get(f"{src}.noise.weight").reshape([])
            out[f"{ours}.noise_const"] = get(f"noises.noise_{noise_index}")[0, 0]

    def torgb(src: str, ours: str) -> None:
        out[f"{ours}.weight"] = get(f"{src}.conv.weight")[0]
        out[f"{ours}.affine.weight"] = get(f"{src}.conv.modulation.weight")
        out[f"{ours}.affine.bias"] = get(f"{src}.conv.modulation.bias")
        out[f"{ours}.bias"] = get(f"{src}.bias").reshape(-1)

    out["synthesis.b4.const"] = get("input.input")[0]
    styled("conv1", "synthesis.b4.conv1", 0)
    torgb("to_rgb1", "synthesis.b4.torgb")
    for j, r in enumerate(cfg.block_resolutions[1:]):
        styled(f"convs.{2 * j}", f"synthesis.b{r}.conv0", 2 * j + 1)
        styled(f"convs.{2 * j + 1}", f"synthesis.b{r}.conv1", 2 * j + 2)
        torgb(f"to_rgbs.{j}", f"synthesis.b{r}.torgb")
    return out


@torch.no_grad()
def estimate_w_avg(gen: StyleGAN2Generator, n: int = 10000, seed: int = 0) -> torch.Tensor:
    """Mean of w over ``n`` fixed-seed z (class 0 for conditional models)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, gen.z_dim, generator=g)
    c = None
    if gen.c_dim > 0:
        c = torch.zeros(n, gen.c_dim)
        c[:, 0] = 1
    return gen.mapping(z, c)[:, 0].mean(0)
