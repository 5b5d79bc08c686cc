"""Our own StyleGAN2 generator (config-f mathematics), float32, pure PyTorch.

Parameter and buffer names mirror NVIDIA's stylegan2-ada-pytorch ``Generator`` exactly
(``mapping.fc0.weight``, ``synthesis.b4.conv1.affine.bias`` …) so that an NVIDIA pickle loads by
name; the other loaders translate their layouts into these names.

Everything here is written to run under ``torch.func.jvp`` and ``torch.func.vmap``: no in-place
ops on activations, no ``.item()``, no control flow on tensor values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import LowRankGANError
from ...limits import MAX_CHANNELS, MAX_CLASSES, MAX_LATENT_DIM, MAX_MAPPING_LAYERS, MAX_MODEL_PARAMS

_LRELU_SLOPE = 0.2
_LRELU_GAIN = math.sqrt(2.0)


@dataclass(frozen=True)
class StyleGAN2Config:
    """Hyper-parameters that decide the shapes (the NVIDIA ``init_kwargs`` we honour)."""

    z_dim: int = 512
    w_dim: int = 512
    c_dim: int = 0
    img_resolution: int = 1024
    img_channels: int = 3
    mapping_layers: int = 8
    mapping_lr_multiplier: float = 0.01
    embed_features: int | None = None  # None: w_dim (only used when c_dim > 0)
    layer_features: int | None = None  # None: w_dim
    channel_base: int = 32768
    channel_max: int = 512
    conv_clamp: float | None = None
    resample_filter: tuple[int, ...] = (1, 3, 3, 1)
    use_noise: bool = True

    def __post_init__(self) -> None:
        res = self.img_resolution
        if res < 4 or res > 4096 or res & (res - 1):
            raise LowRankGANError(
                f"StyleGAN2 resolution must be a power of two in 4..4096, got {res}")
        for name in ("z_dim", "w_dim", "mapping_layers", "channel_base", "channel_max",
                     "img_channels"):
            if int(getattr(self, name)) <= 0:
                raise LowRankGANError(f"StyleGAN2 {name} must be positive, got {getattr(self, name)}")
        self._check_ceilings()

    def _check_ceilings(self) -> None:
        """Refuse sizes no real StyleGAN2 has before any module is built: a 400-byte file must
        not make us build a network with 10⁷ layers or 12000-wide ones."""
        limits = {"z_dim": MAX_LATENT_DIM, "w_dim": MAX_LATENT_DIM, "c_dim": MAX_CLASSES,
                  "embed_features": MAX_LATENT_DIM, "layer_features": MAX_LATENT_DIM,
                  "mapping_layers": MAX_MAPPING_LAYERS, "channel_max": MAX_CHANNELS, "img_channels": 4}
        for name, high in limits.items():
            value = getattr(self, name)
            if value is not None and not 0 <= int(value) <= high:
                raise LowRankGANError(f"StyleGAN2 {name} = {value} is beyond this tool's limit ({high})")
        if len(self.resample_filter) > 16:
            raise LowRankGANError(f"StyleGAN2 resample_filter has {len(self.resample_filter)} taps (at most 16)")
        if self.estimated_params() > MAX_MODEL_PARAMS:
            raise LowRankGANError(f"StyleGAN2 config needs about {self.estimated_params():,} weights, more than "
                                  f"this tool's limit ({MAX_MODEL_PARAMS:,})")

    def estimated_params(self) -> int:
        """Weights the generator of this config holds (upper estimate, before building it)."""
        feat = max(self.z_dim, self.w_dim, self.layer_features or 0, self.embed_features or 0)
        total = self.mapping_layers * feat * (feat + 1) + self.c_dim * (self.embed_features or self.w_dim)
        cin = 0
        for res in self.block_resolutions:
            cout = min(self.channel_base // res, self.channel_max)
            cin = cin or cout
            total += 2 * (cin * cout * 9 + self.w_dim * cin) + cout * (self.w_dim + self.img_channels) + res * res * 2
            cin = cout
        return total

    @property
    def resolution_log2(self) -> int:
        return int(math.log2(self.img_resolution))

    @property
    def block_resolutions(self) -> list[int]:
        return [2 ** i for i in range(2, self.resolution_log2 + 1)]

    @property
    def num_ws(self) -> int:
        # b4: one conv (+ToRGB sharing the next row); every later block two convs; the last
        # block's ToRGB takes one extra row.
        return 2 * self.resolution_log2 - 2

    def channels(self, res: int) -> int:
        return min(self.channel_base // res, self.channel_max)


def _setup_filter(taps: Sequence[float]) -> torch.Tensor:
    """Separable 1-D taps -> normalised 2-D filter (sums to 1), NVIDIA's ``setup_filter``."""
    f = torch.as_tensor(list(taps), dtype=torch.float32)
    if f.ndim != 1 or f.numel() < 1:
        raise LowRankGANError("resample_filter must be a 1-D list of taps")
    f = torch.outer(f, f)
    return f / f.sum()


def _fir(x: torch.Tensor, f: torch.Tensor, pad: tuple[int, int, int, int], gain: float) -> torch.Tensor:
    """upfirdn2d with up=down=1: pad (x0, x1, y0, y1) then correlate with the flipped filter.

    The filter is applied per channel as a depthwise conv; flipping follows NVIDIA's reference
    (``flip_filter=False`` means true convolution) even though [1,3,3,1] is symmetric.
    """
    c = x.shape[1]
    k = (f * gain).flip([0, 1]).to(x.dtype)
    k = k[None, None].expand(c, 1, k.shape[0], k.shape[1])
    x0, x1, y0, y1 = pad
    if x0 == x1 and y0 == y1:  # let the conv pad: saves a full copy of the activation
        return F.conv2d(x, k, groups=c, padding=(y0, x0))
    return F.conv2d(F.pad(x, [x0, x1, y0, y1]), k, groups=c)


def upsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """NVIDIA ``upfirdn2d.upsample2d(x, f, up=2)``: zero-insert, pad, filter with gain 4."""
    n, c, h, w = x.shape
    fw = f.shape[-1]
    # Zero insertion as a reshape + pad (not strided assignment) keeps it jvp/vmap-friendly.
    x = x.reshape(n, c, h, 1, w, 1)
    x = F.pad(x, [0, 1, 0, 0, 0, 1])
    x = x.reshape(n, c, h * 2, w * 2)
    # NVIDIA pads [(fw + 1) // 2, (fw - 2) // 2] around the 2h x 2w grid so the output is 2h x 2w.
    p0 = (fw + 2 - 1) // 2
    p1 = (fw - 2) // 2
    return _fir(x, f, (p0, p1, p0, p1), gain=4.0)


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class FullyConnectedLayer(nn.Module):
    """Equalised-lr dense layer: weights stored unscaled, scaled at run time."""

    def __init__(self, in_features: int, out_features: int, lrelu: bool = False,
                 lr_multiplier: float = 1.0, bias_init: float = 0.0) -> None:
        super().__init__()
        self.lrelu = lrelu
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init)))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.weight_gain, self.bias * self.bias_gain)
        if self.lrelu:
            x = F.leaky_relu(x, _LRELU_SLOPE) * _LRELU_GAIN
        return x


class MappingNetwork(nn.Module):
    """z (+ class) -> w, broadcast to ``num_ws`` rows, with optional truncation."""

    def __init__(self, cfg: StyleGAN2Config) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = cfg.z_dim, cfg.c_dim, cfg.w_dim
        self.num_ws = cfg.num_ws
        embed = (cfg.embed_features or cfg.w_dim) if cfg.c_dim > 0 else 0
        hidden = cfg.layer_features or cfg.w_dim
        feats = [cfg.z_dim + embed] + [hidden] * (cfg.mapping_layers - 1) + [cfg.w_dim]
        if cfg.c_dim > 0:
            self.embed = FullyConnectedLayer(cfg.c_dim, embed)
        for i in range(cfg.mapping_layers):
            self.add_module(f"fc{i}", FullyConnectedLayer(
                feats[i], feats[i + 1], lrelu=True, lr_multiplier=cfg.mapping_lr_multiplier))
        self.num_layers = cfg.mapping_layers
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        # Follow the weights' dtype (float32 in practice; float64 only in precision tests).
        x = normalize_2nd_moment(z.to(self.w_avg.dtype))
        if self.c_dim > 0:
            if c is None:
                raise LowRankGANError("this StyleGAN2 generator is class-conditional: pass a class")
            y = normalize_2nd_moment(self.embed(c.to(self.w_avg.dtype)))
            x = torch.cat([x, y], dim=1)
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        ws = x.unsqueeze(1).expand(-1, self.num_ws, -1)
        return truncate(ws, self.w_avg, truncation_psi, truncation_cutoff)


def truncate(ws: torch.Tensor, w_avg: torch.Tensor, psi: float, cutoff: int | None = None) -> torch.Tensor:
    """``w_avg + psi (w - w_avg)`` on the first ``cutoff`` rows of ``ws`` [n, L, d] (all if None)."""
    if psi == 1.0:
        return ws
    t = w_avg + psi * (ws - w_avg)
    if cutoff is None or cutoff >= ws.shape[1]:
        return t
    # Select rows with a mask instead of slice assignment (no in-place writes under jvp).
    rows = torch.arange(ws.shape[1], device=ws.device) < cutoff
    return torch.where(rows[None, :, None], t, ws)


def modulated_conv(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor,
                   demodulate: bool, up: bool, resample_filter: torch.Tensor | None,
                   padding: int, gain: float = 1.0, add: torch.Tensor | None = None) -> torch.Tensor:
    """StyleGAN2 modulated convolution, then ``* gain + add`` (bias/noise folded in by callers).

    Mathematically NVIDIA's grouped ("fused") form, but written as scale -> shared conv -> scale:
    the conv weight is shared by the whole batch, so a batch (or vmap over jvp tangents) is one
    dense conv instead of a grouped conv with per-sample weights, and forward-mode needs one conv
    per tangent instead of two.
    """
    n = styles.shape[0]
    if not up and not demodulate and weight.shape[-1] == 1 and weight.shape[-2] == 1:
        # 1x1 without demodulation (ToRGB): fold the styles into a tiny per-sample weight and
        # contract once, instead of rescaling the whole activation first.
        w = weight[:, :, 0, 0].unsqueeze(0) * styles.unsqueeze(1)  # [n, out, in]
        x = torch.einsum("noi,nihw->nohw", w, x)
        if gain != 1.0:
            x = x * gain
        return x if add is None else x + add
    x = x * styles.reshape(n, -1, 1, 1)
    if up:
        # Transposed conv (stride 2, weight not flipped) then the [1,3,3,1] filter, gain 4,
        # padded 1 on every side: NVIDIA's conv2d_resample for up=2, k=3, filter 4 taps.
        x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
        fw, kw = resample_filter.shape[-1], weight.shape[-1]
        p0 = (fw + 1) // 2 + padding - (kw - 1)
        p1 = (fw - 2) // 2 + padding - (kw - 2)
        x = _fir_pad_or_crop(x, resample_filter, p0, p1, gain=4.0)
    else:
        x = F.conv2d(x, weight, padding=padding)
    if demodulate:
        # sum_{i,k} (w_oik s_i)^2 = (s^2) @ (sum_k w_oik^2)^T: no per-sample weight is formed.
        wsq = weight.square().sum(dim=[2, 3])  # [out, in]
        scale = (styles.square() @ wsq.t() + 1e-8).rsqrt() * gain
        scale = scale.reshape(n, -1, 1, 1)
        # One pass over the activation for demodulation, gain, noise and bias together.
        return x * scale if add is None else torch.addcmul(add, x, scale)
    if gain != 1.0:
        x = x * gain
    return x if add is None else x + add


def _fir_pad_or_crop(x: torch.Tensor, f: torch.Tensor, p0: int, p1: int, gain: float) -> torch.Tensor:
    """Filter with (possibly negative = crop) symmetric-in-x/y padding."""
    if p0 < 0 or p1 < 0:
        h, w = x.shape[-2:]
        x = x[..., max(-p0, 0):h - max(-p1, 0), max(-p0, 0):w - max(-p1, 0)]
        p0, p1 = max(p0, 0), max(p1, 0)
    return _fir(x, f, (p0, p1, p0, p1), gain)


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally 2x upsampling) + constant noise + bias + lrelu."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int,
                 up: bool, cfg: StyleGAN2Config) -> None:
        super().__init__()
        self.up = up
        self.conv_clamp = cfg.conv_clamp
        self.use_noise = cfg.use_noise
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("resample_filter", _setup_filter(cfg.resample_filter))
        if cfg.use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w)
        # NVIDIA: lrelu(demod(conv) + noise + bias) * sqrt(2). lrelu is positively homogeneous,
        # so the gain moves inside and everything before the lrelu becomes one addcmul.
        add = self.bias.reshape(-1, 1, 1) * _LRELU_GAIN
        if self.use_noise:
            add = torch.addcmul(add, self.noise_const, self.noise_strength * _LRELU_GAIN)
        x = modulated_conv(x, self.weight, styles, demodulate=True, up=self.up,
                           resample_filter=self.resample_filter, padding=1,
                           gain=_LRELU_GAIN, add=add)
        x = F.leaky_relu(x, _LRELU_SLOPE)
        if self.conv_clamp is not None:
            x = x.clamp(-self.conv_clamp, self.conv_clamp)
        return x


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv without demodulation; styles scaled by 1/sqrt(in)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, cfg: StyleGAN2Config) -> None:
        super().__init__()
        self.conv_clamp = cfg.conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1.0 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv(x, self.weight, styles, demodulate=False, up=False,
                           resample_filter=None, padding=0, add=self.bias.reshape(-1, 1, 1))
        if self.conv_clamp is not None:
            x = x.clamp(-self.conv_clamp, self.conv_clamp)
        return x


class SynthesisBlock(nn.Module):
    """One resolution of the 'skip' architecture: [conv0 (up)], conv1, torgb."""

    def __init__(self, in_channels: int, out_channels: int, resolution: int,
                 cfg: StyleGAN2Config) -> None:
        super().__init__()
        self.first = in_channels == 0
        if self.first:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, cfg.w_dim, resolution, True, cfg)
        self.conv1 = SynthesisLayer(out_channels, out_channels, cfg.w_dim, resolution, False, cfg)
        self.torgb = ToRGBLayer(out_channels, cfg.img_channels, cfg.w_dim, cfg)
        self.register_buffer("resample_filter", _setup_filter(cfg.resample_filter))
        self.num_conv = 1 if self.first else 2
        self.num_torgb = 1

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None,
                ws: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows = ws.unbind(dim=1)
        if self.first:
            x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
            x = self.conv1(x, rows[0])
        else:
            x = self.conv0(x, rows[0])
            x = self.conv1(x, rows[1])
        y = self.torgb(x, rows[self.num_conv])
        img = y if img is None else upsample2d(img, self.resample_filter) + y
        return x, img


class SynthesisNetwork(nn.Module):
    """W+ [n, num_ws, w_dim] -> image [n, img_channels, R, R]."""

    def __init__(self, cfg: StyleGAN2Config) -> None:
        super().__init__()
        self.block_resolutions = cfg.block_resolutions
        self.num_ws = cfg.num_ws
        for res in self.block_resolutions:
            cin = cfg.channels(res // 2) if res > 4 else 0
            self.add_module(f"b{res}", SynthesisBlock(cin, cfg.channels(res), res, cfg))

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        x = img = None
        i = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            # A block reads rows [i, i + num_conv + 1): its ToRGB shares the next block's first row.
            x, img = block(x, img, ws.narrow(1, i, block.num_conv + block.num_torgb))
            i += block.num_conv
        return img


class StyleGenerator(nn.Module):
    """Mapping + synthesis, as StyleGAN2 and StyleGAN3 both build them (StyleGAN3 with this mapping
    network): ``forward(z, c, psi, cutoff)`` = ``synthesis(mapping(z, c, psi, cutoff))``. The
    subclasses set the sizes and the two networks; the adapters use only what is declared here."""

    z_dim: int
    c_dim: int
    w_dim: int
    img_resolution: int
    img_channels: int
    num_ws: int
    mapping: MappingNetwork
    synthesis: nn.Module  # W+ codes [n, num_ws, w_dim] -> images [n, img_channels, H, W]

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        return self.synthesis(self.mapping(z, c, truncation_psi, truncation_cutoff))


class StyleGAN2Generator(StyleGenerator):
    """StyleGAN2's config-f generator."""

    def __init__(self, cfg: StyleGAN2Config) -> None:
        super().__init__()
        self.cfg = cfg
        self.z_dim, self.c_dim, self.w_dim = cfg.z_dim, cfg.c_dim, cfg.w_dim
        self.img_resolution, self.img_channels = cfg.img_resolution, cfg.img_channels
        self.num_ws = cfg.num_ws
        self.synthesis = SynthesisNetwork(cfg)
        self.mapping = MappingNetwork(cfg)


def build_generator(cfg: StyleGAN2Config, seed: int = 0) -> StyleGAN2Generator:
    """A generator with reproducible random weights (NVIDIA's initialisation; noise strengths and
    biases nudged away from zero so that every path of the network is exercised)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        g = StyleGAN2Generator(cfg)
    with torch.no_grad():
        for name, p in g.named_parameters():
            if name.endswith("noise_strength") or (name.endswith(".bias") and "affine" not in name):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
        # A w_avg that is not zero makes truncation tests meaningful.
        g.mapping.w_avg.copy_(0.1 * torch.randn(cfg.w_dim, generator=gen))
    return g.eval().requires_grad_(False)
