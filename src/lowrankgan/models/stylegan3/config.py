"""StyleGAN3 hyper-parameters and the per-layer geometry they imply (Alias-Free GAN, Karras et al.
2021, §3 and Appendix F): cutoffs and stopbands that grow geometrically over the layers, sampling
rates that are powers of two, low-pass filters designed from those, and the padding that keeps each
layer's sample grid aligned.

The arithmetic is done in float64 numpy exactly as the paper's reference code does it, so that the
integer sizes, paddings and filter lengths come out identical; a checkpoint's stored layer
attributes are compared against these before any weight is used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ...errors import LowRankGANError

# Ceilings for sizes read from a file: far above every published config (1024², 1024 channels
# for R, 16 W+ rows), low enough that a hostile file cannot make us allocate without bound.
_LIMITS = {
    "z_dim": (1, 4096), "w_dim": (1, 4096), "c_dim": (0, 100_000), "img_resolution": (8, 4096),
    "img_channels": (1, 4), "mapping_layers": (1, 32), "channel_base": (1, 1 << 20),
    "channel_max": (1, 4096), "num_layers": (2, 64), "num_critical": (0, 63),
    "margin_size": (0, 256), "conv_kernel": (1, 7), "filter_size": (1, 64),
    "lrelu_upsampling": (1, 8),
}
MAX_PARAMETERS = 1_000_000_000  # ~4 GB of float32: an order of magnitude above the largest release


@dataclass(frozen=True)
class StyleGAN3Config:
    """The NVIDIA ``init_kwargs`` that decide a StyleGAN3 generator (defaults: config T)."""

    z_dim: int = 512
    w_dim: int = 512
    c_dim: int = 0
    img_resolution: int = 1024
    img_channels: int = 3
    mapping_layers: int = 2
    mapping_lr_multiplier: float = 0.01
    channel_base: int = 32768
    channel_max: int = 512
    num_layers: int = 14
    num_critical: int = 2
    first_cutoff: float = 2.0
    first_stopband: float = 2 ** 2.1
    last_stopband_rel: float = 2 ** 0.3
    margin_size: int = 10
    output_scale: float = 0.25
    conv_kernel: int = 3  # 1 for config R
    filter_size: int = 6
    lrelu_upsampling: int = 2
    use_radial_filters: bool = False  # True for config R
    conv_clamp: float | None = 256.0
    # The shared MappingNetwork reads these two (StyleGAN3's mapping has no separate widths).
    embed_features: int | None = field(default=None, init=False)
    layer_features: int | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        for name, (lo, hi) in _LIMITS.items():
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not lo <= value <= hi:
                raise LowRankGANError(f"StyleGAN3 {name} must be an integer in {lo}..{hi}, got {value!r}")
        if self.num_critical >= self.num_layers:
            raise LowRankGANError(f"StyleGAN3 num_critical ({self.num_critical}) must be below "
                                  f"num_layers ({self.num_layers})")
        for name in ("first_cutoff", "first_stopband", "last_stopband_rel", "output_scale",
                     "mapping_lr_multiplier"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 < value < 1e6:
                raise LowRankGANError(f"StyleGAN3 {name} must be a positive number, got {value!r}")
        if self.conv_clamp is not None and not (math.isfinite(self.conv_clamp) and self.conv_clamp > 0):
            raise LowRankGANError(f"StyleGAN3 conv_clamp must be positive or None, got {self.conv_clamp!r}")
        if self.first_cutoff >= self.img_resolution / 2:
            raise LowRankGANError("StyleGAN3 first_cutoff must be below half the image resolution")

    @property
    def num_ws(self) -> int:
        """W+ rows: one for the Fourier-feature input, one per layer (the last is ToRGB)."""
        return self.num_layers + 2


@dataclass(frozen=True)
class LayerSpec:
    """Everything one synthesis layer needs, in NVIDIA's attribute names."""

    name: str
    is_torgb: bool
    is_critically_sampled: bool
    in_channels: int
    out_channels: int
    in_size: int
    out_size: int
    in_sampling_rate: int
    out_sampling_rate: int
    in_cutoff: float
    out_cutoff: float
    in_half_width: float
    out_half_width: float
    conv_kernel: int
    up_factor: int
    down_factor: int
    up_taps: int
    down_taps: int
    down_radial: bool
    padding: tuple[int, int, int, int]
    tmp_sampling_rate: int


@dataclass(frozen=True)
class InputSpec:
    channels: int
    size: int
    sampling_rate: float
    bandwidth: float


def geometry(cfg: StyleGAN3Config) -> tuple[InputSpec, list[LayerSpec]]:
    """The input layer and the ``num_layers + 1`` synthesis layers (last = ToRGB) of ``cfg``."""
    n, res = cfg.num_layers, cfg.img_resolution
    last_cutoff = res / 2
    last_stopband = last_cutoff * cfg.last_stopband_rel
    exponents = np.minimum(np.arange(n + 1) / (n - cfg.num_critical), 1)
    cutoffs = cfg.first_cutoff * (last_cutoff / cfg.first_cutoff) ** exponents
    stopbands = cfg.first_stopband * (last_stopband / cfg.first_stopband) ** exponents
    rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, res))))
    half_widths = np.maximum(stopbands, rates / 2) - cutoffs
    sizes = rates + cfg.margin_size * 2
    sizes[-2:] = res
    channels = np.rint(np.minimum((cfg.channel_base / 2) / cutoffs, cfg.channel_max))
    channels[-1] = cfg.img_channels
    if channels.min() < 1:
        raise LowRankGANError(f"StyleGAN3 channel_base {cfg.channel_base} gives layers without channels")

    inp = InputSpec(int(channels[0]), int(sizes[0]), float(rates[0]), float(cutoffs[0]))
    layers = []
    for idx in range(n + 1):
        prev = max(idx - 1, 0)
        torgb = idx == n
        critical = idx >= n - cfg.num_critical
        in_rate, out_rate = int(rates[prev]), int(rates[idx])
        tmp = max(in_rate, out_rate) * (1 if torgb else cfg.lrelu_upsampling)
        up, down = int(np.rint(tmp / in_rate)), int(np.rint(tmp / out_rate))
        if in_rate * up != tmp or out_rate * down != tmp:
            raise LowRankGANError(f"StyleGAN3 layer {idx}: sampling rates {in_rate}/{out_rate} are not "
                                  f"integer fractions of {tmp}")
        k = 1 if torgb else cfg.conv_kernel
        up_taps = cfg.filter_size * up if up > 1 and not torgb else 1
        down_taps = cfg.filter_size * down if down > 1 and not torgb else 1
        in_size, out_size = int(sizes[prev]), int(sizes[idx])
        pad_total = (out_size - 1) * down + 1 - (in_size + k - 1) * up + up_taps + down_taps - 2
        pad_lo = (pad_total + up) // 2  # symmetric interpretation of sample positions (App. C.3)
        pad_hi = pad_total - pad_lo
        out_ch = int(channels[idx])
        layers.append(LayerSpec(
            name=f"L{idx}_{out_size}_{out_ch}", is_torgb=torgb, is_critically_sampled=critical,
            in_channels=int(channels[prev]), out_channels=out_ch, in_size=in_size, out_size=out_size,
            in_sampling_rate=in_rate, out_sampling_rate=out_rate, in_cutoff=float(cutoffs[prev]),
            out_cutoff=float(cutoffs[idx]), in_half_width=float(half_widths[prev]),
            out_half_width=float(half_widths[idx]), conv_kernel=k, up_factor=up, down_factor=down,
            up_taps=up_taps, down_taps=down_taps,
            down_radial=cfg.use_radial_filters and not critical,
            padding=(pad_lo, pad_hi, pad_lo, pad_hi), tmp_sampling_rate=tmp))
    return inp, layers


def parameter_count(cfg: StyleGAN3Config) -> int:
    """Parameters the generator will hold (checked against ``MAX_PARAMETERS`` before building)."""
    inp, layers = geometry(cfg)
    total = cfg.mapping_layers * (cfg.w_dim + 1) * cfg.w_dim + cfg.z_dim * cfg.w_dim
    total += cfg.c_dim * cfg.w_dim + inp.channels ** 2 + 5 * cfg.w_dim
    for spec in layers:
        total += spec.out_channels * spec.in_channels * spec.conv_kernel ** 2
        total += (cfg.w_dim + 1) * spec.in_channels + spec.out_channels
    return total


def check_budget(cfg: StyleGAN3Config) -> None:
    """Refuse configs whose weights or per-image activations would not fit any sane machine."""
    n = parameter_count(cfg)
    if n > MAX_PARAMETERS:
        raise LowRankGANError(f"StyleGAN3 config has {n:,} parameters, more than the "
                              f"{MAX_PARAMETERS:,} this tool accepts")
    _, layers = geometry(cfg)
    # The widest temporary is the upsampled activation inside the filtered leaky ReLU.
    biggest = max(s.out_channels * (s.in_size * s.up_factor + s.up_taps) ** 2 for s in layers)
    if biggest > 2 ** 32:
        raise LowRankGANError(f"StyleGAN3 config needs a {biggest:,}-value activation per image; refusing")


def design_lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float,
                          radial: bool = False) -> torch.Tensor | None:
    """Kaiser-windowed low-pass filter: separable 1-D taps, or a radially symmetric 2-D jinc
    (config R). ``None`` for one tap (identity)."""
    if numtaps <= 1:
        return None
    # Imported here: scipy.signal takes about 1 s to import, which every CLI call would pay.
    import scipy.signal
    import scipy.special
    if not radial:
        f = scipy.signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs)
        return torch.as_tensor(f, dtype=torch.float32)
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    with np.errstate(divide="ignore", invalid="ignore"):
        f = scipy.special.j1(2 * cutoff * (np.pi * r)) / (np.pi * r)
    f = np.where(r == 0, cutoff, f)  # the limit j1(2πcr)/(πr) -> c at r = 0 (never hit for even taps)
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(numtaps, width / (fs / 2)))
    w = np.kaiser(numtaps, beta)
    f = f * np.outer(w, w)
    f = f / np.sum(f)
    return torch.as_tensor(f, dtype=torch.float32)
