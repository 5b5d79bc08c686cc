"""rosinality (stylegan2-pytorch) ``.pt`` checkpoints read into our generator (``torch.load``
with ``weights_only``: no code runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import argparse
import pickle
import re

import torch

from ...errors import LowRankGANError
from ...limits import check_tensors, check_torch_file
from .network import StyleGAN2Config, StyleGAN2Generator
from ..nvidia import first_line
from .weights import assign_weights, infer_channels


def load_rosinality(path: Path) -> StyleGAN2Generator:
    try:
        # Training checkpoints also store their argparse.Namespace; it only sets attributes.
        budget = check_torch_file(path)
        with torch.serialization.safe_globals([argparse.Namespace]):
            data = torch.load(path, map_location="cpu", weights_only=True)
    except LowRankGANError:
        raise
    except pickle.UnpicklingError as e:
        raise LowRankGANError(
            f"{path}: refusing to load: torch.load(weights_only=True) rejected it "
            f"({first_line(e)})") from None
    except Exception as e:
        raise LowRankGANError(
            f"{path}: cannot read checkpoint, the file is truncated or corrupt "
            f"({type(e).__name__}: {first_line(e)})") from None
    check_tensors(data, str(path), budget)
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
    base, cmax = infer_channels(channels, path)
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
        assign_weights(gen, {**tensors, "mapping.w_avg": torch.zeros(cfg.w_dim)}, path)
        tensors["mapping.w_avg"] = estimate_w_avg(gen)
    else:
        tensors["mapping.w_avg"] = torch.as_tensor(latent_avg).reshape(-1)
    assign_weights(gen, tensors, path)
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
