"""Our own StyleGAN3 generator (configs T and R), float32, pure PyTorch.

Parameter and buffer names mirror NVIDIA's stylegan3 ``Generator`` (``synthesis.input.freqs``,
``synthesis.L3_52_512.affine.weight``, ``synthesis.L3_52_512.magnitude_ema`` …) so that a pickle's
weights load by name. The mapping network is StyleGAN2's (StyleGAN3 did not change it).

Written for ``torch.func.jvp`` / ``vmap``: no in-place ops on anything that carries a tangent,
no ``.item()``, no control flow on tensor values.
"""

from __future__ import annotations

import contextlib
import math
import threading

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..stylegan2.network import FullyConnectedLayer, MappingNetwork, StyleGenerator
from .config import InputSpec, LayerSpec, StyleGAN3Config, check_budget, design_lowpass_filter, geometry
from .ops import filtered_lrelu, modulated_conv

_LRELU_SLOPE = 0.2
_LRELU_GAIN = math.sqrt(2.0)
# Input transforms set for the calling thread only ({id(SynthesisInput): 3x3}): the page renders
# several transforms of one generator at once, which a shared buffer would mix up.
_SCOPED = threading.local()


class SynthesisInput(nn.Module):
    """Fourier features on a fixed grid, turned and shifted by a per-image similarity transform
    predicted from ``w`` (then the user's ``transform``), mixed by a learned 1x1 matrix."""

    def __init__(self, spec: InputSpec, w_dim: int) -> None:
        super().__init__()
        self.spec = spec
        self.channels, self.size = spec.channels, spec.size
        self.sampling_rate, self.bandwidth = spec.sampling_rate, spec.bandwidth
        self.weight = nn.Parameter(torch.randn(spec.channels, spec.channels))
        self.affine = FullyConnectedLayer(w_dim, 4)
        # Inverse transform with respect to the resulting image (identity: none).
        self.register_buffer("transform", torch.eye(3))
        self.register_buffer("freqs", torch.zeros(spec.channels, 2))
        self.register_buffer("phases", torch.zeros(spec.channels))
        coords = (torch.arange(spec.size, dtype=torch.float64) + 0.5 - spec.size / 2) / spec.sampling_rate
        self.register_buffer("grid", coords.float(), persistent=False)  # pixel centres, image units

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        t = self.affine(w)  # (cos, sin, tx, ty) up to scale
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        c, s, tx, ty = t.unbind(1)
        zero, one = torch.zeros_like(c), torch.ones_like(c)
        # rotation @ translation, built with stack (no slice assignment under jvp).
        m = torch.stack([torch.stack([c, -s, s * ty - c * tx], 1),
                         torch.stack([s, c, -s * tx - c * ty], 1),
                         torch.stack([zero, zero, one], 1)], 1)
        scoped = getattr(_SCOPED, "transforms", {}).get(id(self))
        m = m @ (self.transform if scoped is None else scoped).to(m.dtype)
        phases = self.phases + (self.freqs @ m[:, :2, 2:]).squeeze(2)  # [n, C]
        freqs = self.freqs @ m[:, :2, :2]  # [n, C, 2]
        # Fade out frequencies that the user's transform pushed outside the band.
        amp = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)
        g = self.grid.to(freqs.dtype)
        arg = (g[None, :, None, None] * freqs[:, None, None, :, 1]      # y along rows
               + g[None, None, :, None] * freqs[:, None, None, :, 0]    # x along columns
               + phases[:, None, None, :])
        x = torch.sin(arg * (2 * np.pi)) * amp[:, None, None, :]
        x = x @ (self.weight / math.sqrt(self.channels)).t()
        # [n, H, W, C] viewed as NCHW is channels-last memory, and every later op keeps it: the
        # depthwise resampling convolutions run several times faster that way on CPU.
        return x.permute(0, 3, 1, 2)


class SynthesisLayer(nn.Module):
    """Modulated conv -> bias -> filtered leaky ReLU (upsample, lrelu, clamp, downsample)."""

    def __init__(self, spec: LayerSpec, cfg: StyleGAN3Config) -> None:
        super().__init__()
        self.spec = spec
        self.is_torgb = spec.is_torgb
        self.conv_clamp = cfg.conv_clamp
        self.affine = FullyConnectedLayer(cfg.w_dim, spec.in_channels, bias_init=1.0)
        k = spec.conv_kernel
        self.weight = nn.Parameter(torch.randn(spec.out_channels, spec.in_channels, k, k))
        self.bias = nn.Parameter(torch.zeros(spec.out_channels))
        self.register_buffer("magnitude_ema", torch.ones([]))
        self.register_buffer("up_filter", design_lowpass_filter(
            spec.up_taps, spec.in_cutoff, spec.in_half_width * 2, spec.tmp_sampling_rate))
        self.register_buffer("down_filter", design_lowpass_filter(
            spec.down_taps, spec.out_cutoff, spec.out_half_width * 2, spec.tmp_sampling_rate,
            radial=spec.down_radial))
        self.weight_gain = 1.0 / math.sqrt(spec.in_channels * k * k)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        spec = self.spec
        styles = self.affine(w)
        if self.is_torgb:
            styles = styles * self.weight_gain
        x = modulated_conv(x, self.weight, styles, demodulate=not self.is_torgb,
                           input_gain=self.magnitude_ema.rsqrt(), padding=spec.conv_kernel - 1)
        x = x + self.bias.reshape(1, -1, 1, 1)
        return filtered_lrelu(x, self.up_filter, self.down_filter, spec.up_factor, spec.down_factor,
                              spec.padding, gain=1.0 if self.is_torgb else _LRELU_GAIN,
                              slope=1.0 if self.is_torgb else _LRELU_SLOPE, clamp=self.conv_clamp)


class SynthesisNetwork(nn.Module):
    """W+ ``[n, num_layers + 2, w_dim]`` -> image: row 0 drives the input transform, row
    ``i + 1`` drives layer ``L{i}``; the last layer is the ToRGB."""

    def __init__(self, cfg: StyleGAN3Config) -> None:
        super().__init__()
        inp, layers = geometry(cfg)
        self.num_ws = cfg.num_ws
        self.output_scale = cfg.output_scale
        self.input = SynthesisInput(inp, cfg.w_dim)
        self.layer_names = [spec.name for spec in layers]
        for spec in layers:
            self.add_module(spec.name, SynthesisLayer(spec, cfg))

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        rows = ws.unbind(dim=1)
        x = self.input(rows[0])
        for name, w in zip(self.layer_names, rows[1:]):
            x = getattr(self, name)(x, w)
        return x * self.output_scale if self.output_scale != 1 else x


class StyleGAN3Generator(StyleGenerator):
    """StyleGAN3's generator (configs T and R): StyleGAN2's mapping, the alias-free synthesis."""

    def __init__(self, cfg: StyleGAN3Config) -> None:
        super().__init__()
        check_budget(cfg)
        self.cfg = cfg
        self.z_dim, self.c_dim, self.w_dim = cfg.z_dim, cfg.c_dim, cfg.w_dim
        self.img_resolution, self.img_channels = cfg.img_resolution, cfg.img_channels
        self.num_ws = cfg.num_ws
        self.synthesis = SynthesisNetwork(cfg)
        self.mapping = MappingNetwork(cfg)  # reads the same field names as StyleGAN2Config

    def set_user_transform(self, matrix: torch.Tensor) -> None:
        """The input layer's ``transform`` buffer (3x3, inverse transform of the image)."""
        with torch.no_grad():
            self.synthesis.input.transform.copy_(matrix.to(self.synthesis.input.transform))

    @contextlib.contextmanager
    def thread_transform(self, matrix: torch.Tensor):
        """Use ``matrix`` instead of the ``transform`` buffer in this thread while inside; other
        threads keep seeing the buffer (or their own scoped matrix)."""
        table = _SCOPED.__dict__.setdefault("transforms", {})
        key = id(self.synthesis.input)
        previous = table.get(key)
        table[key] = matrix.detach().to(self.synthesis.input.transform).clone()
        try:
            yield
        finally:
            if previous is None:
                table.pop(key, None)
            else:
                table[key] = previous


def build_generator(cfg: StyleGAN3Config, seed: int = 0) -> StyleGAN3Generator:
    """A generator with reproducible random weights: NVIDIA's initialisation (random Fourier
    frequencies in the first layer's band), small non-zero input-transform and bias weights so
    every path is exercised, and ``magnitude_ema`` set to each layer's input mean square as
    training would leave it."""
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        g = StyleGAN3Generator(cfg)
    inp = g.synthesis.input
    with torch.no_grad():
        freqs = torch.randn(inp.channels, 2, generator=gen)
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        inp.freqs.copy_(freqs / (radii * radii.square().exp().pow(0.25)) * inp.bandwidth)
        inp.phases.copy_(torch.rand(inp.channels, generator=gen) - 0.5)
        inp.affine.weight.copy_(0.2 * torch.randn(inp.affine.weight.shape, generator=gen))
        inp.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        for name, p in g.named_parameters():
            if name.endswith(".bias") and "affine" not in name and "mapping" not in name:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
        g.mapping.w_avg.copy_(0.1 * torch.randn(cfg.w_dim, generator=gen))
        _calibrate_magnitudes(g, gen)
    return g.eval().requires_grad_(False)


def _calibrate_magnitudes(g: StyleGAN3Generator, gen: torch.Generator, n: int = 2) -> None:
    z = torch.randn(n, g.z_dim, generator=gen)
    c = F.one_hot(torch.zeros(n, dtype=torch.long), g.c_dim).float() if g.c_dim else None
    ws = g.mapping(z, c).unbind(1)
    x = g.synthesis.input(ws[0])
    for name, w in zip(g.synthesis.layer_names, ws[1:]):
        layer = getattr(g.synthesis, name)
        layer.magnitude_ema.copy_(x.square().mean())
        x = layer(x, w)
