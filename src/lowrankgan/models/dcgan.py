"""DCGAN-style generators (the PyTorch tutorial layout) built from a state_dict alone.

The layout is read off the keys: ``main.{i}.weight`` of rank 4 is a ConvTranspose2d (4x4, stride 1
padding 0 for the first, stride 2 padding 1 after), ``main.{i}`` with ``running_mean`` is a
BatchNorm2d, and the indices in between are activations (ReLU, or Dropout, identity in eval mode).
So any checkpoint of that family loads, not only the two in the zoo.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from torch import nn

from ..errors import LowRankGANError
from ..limits import MAX_CHANNELS, MAX_DCGAN_LAYERS, MAX_RESOLUTION, printable
from .linearize import sequential_tangents
from .base import GeneratorAdapter, seed_codes


_DCGAN_KEY = re.compile(r"main\.(\d{1,6})\.(weight|bias|running_mean|running_var|num_batches_tracked)")


def check_dcgan_state(state: dict) -> list[int]:
    """The layer indices of a DCGAN state, after checking every key and shape against the layout
    and the size ceilings, so that nothing is built for a hostile file."""
    indices = set()
    for key, value in state.items():
        m = _DCGAN_KEY.fullmatch(key) if isinstance(key, str) else None
        if m is None:
            raise LowRankGANError(f"checkpoint key '{printable(key, 60)}' is not a DCGAN weight "
                                  "(main.<layer>.weight|bias|running_mean|running_var)")
        i = int(m.group(1))
        if i >= MAX_DCGAN_LAYERS:
            raise LowRankGANError(f"checkpoint key '{key}': layer {i} is beyond the {MAX_DCGAN_LAYERS} "
                                  "layers a DCGAN may have")
        want = {"weight": (1, 4), "bias": (1,), "running_mean": (1,), "running_var": (1,),
                "num_batches_tracked": (0,)}[m.group(2)]
        if value.dim() not in want:
            raise LowRankGANError(f"checkpoint entry '{key}' has shape {list(value.shape)}; "
                                  f"a DCGAN's has {' or '.join(map(str, want))} dimensions")
        if any(n > MAX_CHANNELS for n in value.shape) or (value.dim() == 4 and max(value.shape[2:]) > 16):
            raise LowRankGANError(f"checkpoint entry '{key}' has shape {list(value.shape)}, beyond this tool's "
                                  f"limits ({MAX_CHANNELS} channels, 16x16 kernels)")
        indices.add(i)
    if not indices:
        raise LowRankGANError("checkpoint has no 'main.*' weights; it is not a DCGAN-style generator")
    convs = [state[f"main.{i}.weight"] for i in sorted(indices)
             if f"main.{i}.weight" in state and state[f"main.{i}.weight"].dim() == 4]
    if "main.0.weight" not in state or state["main.0.weight"].dim() != 4:
        raise LowRankGANError("checkpoint's first layer (main.0.weight) is not a transposed convolution; "
                              "it is not a DCGAN-style generator")
    size = 1
    for n, weight in enumerate(convs):
        size = weight.shape[-1] if n == 0 else (size - 1) * 2 - 2 + weight.shape[-1]
        if size > MAX_RESOLUTION:
            raise LowRankGANError(f"checkpoint's layers make images larger than {MAX_RESOLUTION} pixels")
    return sorted(indices)


def build_dcgan(state: dict[str, torch.Tensor]) -> nn.Sequential:
    """An ``nn.Sequential`` named ``main`` in the state, weights loaded, eval mode."""
    indices = check_dcgan_state(state)
    layers: list[nn.Module] = []
    first_conv = True
    for i in range(indices[-1] + 1):
        weight = state.get(f"main.{i}.weight")
        if weight is not None and weight.dim() == 4:
            cin, cout, kh, kw = weight.shape
            stride, pad = (1, 0) if first_conv else (2, 1)
            layers.append(nn.ConvTranspose2d(cin, cout, (kh, kw), stride, pad,
                                             bias=f"main.{i}.bias" in state, device="meta"))
            first_conv = False
        elif f"main.{i}.running_mean" in state:
            layers.append(nn.BatchNorm2d(state[f"main.{i}.running_mean"].shape[0], device="meta"))
        elif i > 0 and isinstance(layers[-1], nn.BatchNorm2d):
            layers.append(nn.ReLU())
        else:
            layers.append(nn.Dropout(0.0))  # a gap after an activation: dropout, identity at eval
    layers.append(nn.Tanh())
    net = nn.Sequential(*layers)
    try:
        wrapper = nn.Module()
        wrapper.main = net
        # Layers are built on the meta device (no random init to overwrite: a third of the load
        # time) and take the checkpoint's tensors, as float32 whatever the file stored.
        wrapper.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()},
                                strict=True, assign=True)
    except RuntimeError as exc:
        raise LowRankGANError(f"checkpoint weights do not fit a DCGAN layout: {str(exc).splitlines()[0]}") from None
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    # oneDNN's transposed convolutions run about 20% faster on channels-last tensors on CPU.
    return net.to(memory_format=torch.channels_last)


class DCGANAdapter(GeneratorAdapter):
    """z -> image for a DCGAN, optionally class-conditional by a one-hot appended to z."""

    latent_spaces = ("z",)
    default_space = "z"
    default_strengths = "-3:3:7"  # z ~ N(0, I): ±3 already moves a 64² face a lot

    def __init__(self, net: nn.Sequential, model_id: str, classes: Sequence[str] = (),
                 presets: dict[str, str] | None = None, source: str = "") -> None:
        self.net = net
        self.model_id = model_id
        self.classes = tuple(classes)
        in_channels = net[0].in_channels
        self.latent_dim = in_channels - len(self.classes)
        if self.latent_dim <= 0:
            raise LowRankGANError(f"model {model_id}: {len(self.classes)} classes leave no latent dims")
        try:
            with torch.no_grad():
                out = net(torch.zeros(1, in_channels, 1, 1))
        except RuntimeError as exc:  # consecutive layers whose channel counts do not chain
            raise LowRankGANError(f"model {model_id}: the layers do not fit together "
                                  f"({printable(str(exc).splitlines()[0], 160)})") from None
        if out.shape[1] != 3:
            raise LowRankGANError(f"model {model_id} outputs {out.shape[1]} channels; only RGB is supported")
        self.resolution = int(out.shape[-1])
        self.presets = dict(presets or {})
        self.source = source
        self._class_index = 0 if self.classes else None

    def modules(self) -> list[nn.Module]:
        return [self.net]

    def set_class(self, name_or_index: str | int | None) -> None:
        super().set_class(name_or_index)
        if name_or_index is None:
            return
        key = str(name_or_index).strip().lower()
        if key in self.classes:
            self._class_index = self.classes.index(key)
        elif key.isdigit() and int(key) < len(self.classes):
            self._class_index = int(key)
        else:
            raise LowRankGANError(f"unknown class '{name_or_index}' for model {self.model_id}; "
                                  f"use one of: {', '.join(self.classes)}")

    @property
    def class_name(self) -> str | None:
        return None if self._class_index is None else self.classes[self._class_index]

    def sefa_weight(self, space: str, layers: Sequence[int] | None = None) -> torch.Tensor:
        """The first ConvTranspose2d's weights on z (the class one-hot rows follow z)."""
        self.check_space(space)
        W = self.net[0].weight.detach()[:self.latent_dim]  # [d, out, kh, kw]
        return W.reshape(W.shape[0], -1).T

    def sample(self, seeds: Sequence[int], space: str = "z", trunc: float = 1.0) -> torch.Tensor:
        self.check_space(space)
        return (seed_codes(seeds, self.latent_dim) * trunc).to(self.device)

    def synthesize(self, codes: torch.Tensor, space: str = "z") -> torch.Tensor:
        self.check_space(space)
        if codes.dim() != 2 or codes.shape[1] != self.latent_dim:
            raise LowRankGANError(f"model {self.model_id} takes codes [n, {self.latent_dim}], "
                                  f"got {list(codes.shape)}")
        return self.net(self._with_class(codes, 1.0)[:, :, None, None])

    def _with_class(self, codes: torch.Tensor, hot: float) -> torch.Tensor:
        """Codes with the class one-hot appended (``hot`` 0 for tangents: the class is fixed)."""
        if not self.classes:
            return codes
        onehot = torch.zeros(codes.shape[0], len(self.classes), dtype=codes.dtype, device=codes.device)
        onehot[:, self._class_index] = hot
        return torch.cat([codes, onehot], 1)

    def tangent_images(self, code: torch.Tensor, tangents: torch.Tensor, space: str) -> torch.Tensor | None:
        self.check_space(space)
        x = self._with_class(code.reshape(1, -1), 1.0)[:, :, None, None]
        return sequential_tangents(self.net, x, self._with_class(tangents, 0.0)[:, :, None, None])
