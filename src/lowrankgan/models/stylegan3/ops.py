"""The two StyleGAN3 operations that differ from StyleGAN2, written for ``torch.func`` forward mode.

``filtered_lrelu`` computes what NVIDIA's reference (non-CUDA) ``filtered_lrelu`` computes — bias,
upsampling by zero insertion + FIR filter, leaky ReLU with gain, clamp, FIR filter + decimation —
but never materialises the zero-inserted image: upsampling is a strided transposed convolution
(polyphase form) and downsampling a strided convolution, both depthwise and separable where the
filter is. No op is in place and nothing branches on tensor values, so ``jvp`` and ``vmap`` apply.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_SQRT2 = math.sqrt(2.0)


def _window(x: torch.Tensor, dim: int, start: int, length: int) -> torch.Tensor:
    """Samples ``[start, start + length)`` along ``dim`` of a signal that is zero outside ``x``."""
    n = x.shape[dim]
    lo, hi = max(start, 0), min(start + length, n)
    if hi <= lo:
        raise ValueError("filter window lies outside the signal")
    x = x.narrow(dim, lo, hi - lo)
    before, after = lo - start, start + length - hi
    if before or after:
        pad = [0, 0] * (x.ndim - 1 - dim) + [before, after]
        x = F.pad(x, pad)
    return x


def _up_1d(x: torch.Tensor, f: torch.Tensor, up: int, pad: tuple[int, int], dim: int,
           gain: float) -> torch.Tensor:
    """upfirdn along one spatial axis (``dim`` 2 = rows, 3 = columns): zero-insert by ``up``,
    pad ``pad`` (negative crops), convolve with ``f * gain``.

    The zero-inserted signal convolved with ``f`` is exactly ``conv_transpose`` with stride
    ``up``; sample ``j`` of NVIDIA's padded, "valid" result is sample ``j + T - 1 - pad0`` of it.
    """
    c, taps = x.shape[1], f.shape[0]
    k = (f * gain).to(x.dtype)
    shape, stride = ((1, taps), (1, up)) if dim == 3 else ((taps, 1), (up, 1))
    weight = k.reshape(1, 1, *shape).expand(c, 1, *shape)
    full = F.conv_transpose2d(x, weight, stride=stride, groups=c)
    length = x.shape[dim] * up + pad[0] + pad[1] - taps + 1
    return _window(full, dim, taps - 1 - pad[0], length)


def _down(x: torch.Tensor, f: torch.Tensor, down: int) -> torch.Tensor:
    """FIR filter (true convolution, no padding) then keep every ``down``-th sample."""
    c = x.shape[1]
    k = f.flip(list(range(f.ndim))).to(x.dtype)
    if f.ndim == 2:  # radially symmetric (config R): not separable
        weight = k.reshape(1, 1, *k.shape).expand(c, 1, *k.shape)
        return F.conv2d(x, weight, stride=down, groups=c)
    taps = k.shape[0]
    x = F.conv2d(x, k.reshape(1, 1, 1, taps).expand(c, 1, 1, taps), stride=(1, down), groups=c)
    return F.conv2d(x, k.reshape(1, 1, taps, 1).expand(c, 1, taps, 1), stride=(down, 1), groups=c)


def filtered_lrelu(x: torch.Tensor, fu: torch.Tensor | None, fd: torch.Tensor | None,
                   up: int, down: int, padding: tuple[int, int, int, int], gain: float,
                   slope: float, clamp: float | None) -> torch.Tensor:
    """NVIDIA's ``filtered_lrelu`` without the bias (callers add it to ``x`` first).

    ``padding`` is (x0, x1, y0, y1) relative to the upsampled image. ``fu`` is separable (1-D)
    or None; ``fd`` is 1-D, 2-D (radial) or None.
    """
    px0, px1, py0, py1 = padding
    if fu is not None or up != 1 or any(padding):
        f = fu if fu is not None else torch.ones(1, dtype=x.dtype, device=x.device)
        # lrelu is positively homogeneous: the activation gain rides on the upsampling filter.
        x = _up_1d(x, f, up, (px0, px1), dim=3, gain=up * gain)
        x = _up_1d(x, f, up, (py0, py1), dim=2, gain=up)
    elif gain != 1.0:
        x = x * gain
    if slope != 1.0:
        x = F.leaky_relu(x, slope)
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    if fd is not None:
        x = _down(x, fd, down)
    elif down != 1:
        x = x[:, :, ::down, ::down]
    return x


def modulated_conv(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool,
                   input_gain: torch.Tensor, padding: int) -> torch.Tensor:
    """StyleGAN3's modulated convolution (``input_gain`` = ``magnitude_ema ** -0.5``).

    With demodulation the weight is pre-normalised per output channel and the styles per sample
    (NVIDIA normalises the styles by their mean square over the whole batch; demodulation cancels
    any scale of the styles up to its 1e-8 epsilon, so the per-sample form gives the same images
    and keeps samples — and vmapped tangents — independent).
    """
    n = styles.shape[0]
    if demodulate:
        weight = weight * weight.square().mean(dim=[1, 2, 3], keepdim=True).rsqrt()
        styles = styles * styles.square().mean(dim=1, keepdim=True).rsqrt()
        # sum_{i,k} (w_oik s_i)^2 = (s^2) @ (sum_k w_oik^2)^T: no per-sample weight is formed.
        dcoefs = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()  # [n, out]
    styles = styles * input_gain
    if weight.shape[-1] == 1 and weight.shape[-2] == 1:
        # 1x1 (config R, ToRGB): fold styles and demodulation into a per-sample [out, in] matrix
        # and touch the activation once.
        w = weight[:, :, 0, 0].unsqueeze(0) * styles.unsqueeze(1)
        if demodulate:
            w = w * dcoefs.unsqueeze(2)
        x = torch.einsum("noi,nihw->nohw", w, x)
        return F.pad(x, [padding] * 4) if padding else x
    x = F.conv2d(x * styles.reshape(n, -1, 1, 1), weight, padding=padding)
    return x * dcoefs.reshape(n, -1, 1, 1) if demodulate else x
