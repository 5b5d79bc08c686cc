"""Forward-mode derivatives of a plain layer stack, propagated by hand.

For an ``nn.Sequential`` of transposed convolutions, eval-mode batch norms, ReLUs, identities and a
final tanh (the DCGAN layout), the tangent of each layer is cheap to write down: a convolution
without its bias, a per-channel scale, a mask, ``1 - y²``. Propagating a batch of tangents next to
one primal pass gives the same columns as ``torch.func.jvp`` under ``vmap`` with less work (batch
norms folded into the convolutions, no dual-tensor bookkeeping) and without torch.func, whose first
call in a process imports torch's compiler stack (about 2 s on a 2-core machine).

Anything else in the stack makes ``sequential_tangents`` return ``None`` and the caller falls back
to torch.func, so a new layer type is slow rather than wrong.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FEW_CHANNELS = 8  # transposed convolutions with at most this many outputs go by matmul + fold
SUPPORTED = (nn.ConvTranspose2d, nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.Tanh, nn.Identity, nn.Dropout)


def supports(net: nn.Module) -> bool:
    """True for an eval-mode ``nn.Sequential`` made only of layers this module can linearise."""
    if not isinstance(net, nn.Sequential) or any(m.training for m in net.modules()):
        return False
    for layer in net:
        if type(layer) not in SUPPORTED:  # subclasses may override forward: not ours to linearise
            return False
        if isinstance(layer, nn.BatchNorm2d) and layer.running_var is None:
            return False
        if isinstance(layer, (nn.ConvTranspose2d, nn.Conv2d)) and (layer.groups != 1 or layer.padding_mode != "zeros"):
            return False
        if isinstance(layer, nn.ConvTranspose2d) and layer.output_padding != (0, 0):
            return False
    return True


def _bn_scale(bn: nn.BatchNorm2d) -> torch.Tensor:
    scale = torch.rsqrt(bn.running_var + bn.eps)
    return scale * bn.weight if bn.weight is not None else scale


def _conv(layer: nn.Module, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    if isinstance(layer, nn.ConvTranspose2d):
        if x.shape[-2:] == (1, 1) and layer.padding == (0, 0) and layer.dilation == (1, 1):
            # A 1x1 input (the code): the transposed convolution is one matrix product.
            out = (x.flatten(1) @ weight.flatten(1)).view(x.shape[0], *weight.shape[1:])
            return out if bias is None else out + bias.view(1, -1, 1, 1)
        if weight.shape[1] <= FEW_CHANNELS and layer.dilation == (1, 1):
            return _transposed_by_fold(x, weight, bias, layer.stride, layer.padding)
        return F.conv_transpose2d(x, weight, bias, layer.stride, layer.padding, 0, 1, layer.dilation)
    return F.conv2d(x, weight, bias, layer.stride, layer.padding, layer.dilation, 1)


def _transposed_by_fold(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                        stride: tuple[int, int], padding: tuple[int, int]) -> torch.Tensor:
    """A transposed convolution as one matrix product and a ``fold`` (sum of overlapping blocks).
    For an RGB output layer it beats oneDNN's transposed convolution, whose kernels vectorise over
    output channels, of which there are three."""
    n, cin, h, w = x.shape
    cout, kh, kw = weight.shape[1:]
    cols = torch.matmul(weight.reshape(cin, -1).T, x.reshape(n, cin, h * w))  # [n, cout*kh*kw, h*w]
    full = ((h - 1) * stride[0] + kh, (w - 1) * stride[1] + kw)
    out = F.fold(cols, full, (kh, kw), stride=stride)
    out = out[:, :, padding[0]:full[0] - padding[0], padding[1]:full[1] - padding[1]]
    return out if bias is None else out + bias.view(1, -1, 1, 1)


def _fold(conv: nn.Module, scale: torch.Tensor) -> torch.Tensor:
    """The conv weight with a per-output-channel ``scale`` folded in (output channels are dim 1 of a
    transposed convolution's weight, dim 0 of a convolution's)."""
    if isinstance(conv, nn.ConvTranspose2d):
        return conv.weight * scale.view(1, -1, 1, 1)
    return conv.weight * scale.view(-1, 1, 1, 1)


@torch.no_grad()
def sequential_tangents(net: nn.Module, x: torch.Tensor, tangents: torch.Tensor) -> torch.Tensor | None:
    """Output tangents ``[k, ...]`` of ``net`` at input ``x`` (``[1, ...]``) for input tangents
    ``[k, ...]``; ``None`` when ``net`` is not a supported stack."""
    if not supports(net):
        return None
    layers = list(net)
    y, t = x, tangents.to(x.dtype)
    i = 0
    while i < len(layers):
        layer = layers[i]
        if isinstance(layer, (nn.ConvTranspose2d, nn.Conv2d)):
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            if isinstance(nxt, nn.BatchNorm2d):  # conv then BN: one affine map, folded
                scale = _bn_scale(nxt)
                y = nxt(_conv(layer, y, layer.weight, layer.bias))
                t = _conv(layer, t, _fold(layer, scale), None)
                i += 2
                continue
            y = _conv(layer, y, layer.weight, layer.bias)
            t = _conv(layer, t, layer.weight, None)
        elif isinstance(layer, nn.BatchNorm2d):
            y = layer(y)
            t = t * _bn_scale(layer).view(1, -1, 1, 1)
        elif isinstance(layer, nn.ReLU):
            y = torch.relu(y)
            t = t * (y > 0)
        elif isinstance(layer, nn.Tanh):
            y = torch.tanh(y)
            t = t * (1 - y * y)
        # Identity / eval-mode Dropout: the tangent passes through.
        i += 1
    return t
