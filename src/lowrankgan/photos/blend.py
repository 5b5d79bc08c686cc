"""How a model's edit is carried onto a real photo (the delta paste).

The model's change (edited − reconstruction) is drawn at the model's resolution and in the model's
colours, which are not the photo's. Added as it is and upscaled, it paints the model's low-res
colours over the photo: brightening already-light teeth past white, tinting lips and nostrils with
the model's skin tones. So the change is split:

* **luminance** is added as the model changed it, but never by more than the same fraction of the
  photo's room towards black (or white) as the model used of its own: where the model darkens a
  pixel from ``yb`` to ``ye`` the photo's pixel of luminance ``y`` darkens by
  ``min(yb − ye, y · (yb − ye) / yb)`` (lightening likewise with ``1 − y`` and ``1 − yb``). On skin
  lighter than the model's the change is the model's own; on teeth already near white a lightening
  shrinks to what is left, instead of burning them out; the result never leaves [0, 255]. The
  change is the smooth upscaled map; the photo keeps its own full-resolution detail;
* **chroma** (the change minus its luminance) is kept only at ``CHROMA_KEEP``: the model's colours
  are its own, and a full chroma change shows as colour smears.

A zero change leaves the photo exactly as it was.
"""

from __future__ import annotations

import numpy as np
import torch

LUMA = (0.299, 0.587, 0.114)  # Rec. 601 weights, the photo's sRGB values as they are
CHROMA_KEEP = 0.25  # fraction of the model's chroma change that reaches the photo


def luma(x: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """The luminance of RGB ``x`` along ``dim`` (kept as a size-1 dimension)."""
    w = torch.tensor(LUMA, dtype=x.dtype).reshape([3 if i == dim % x.dim() else 1 for i in range(x.dim())])
    return (x * w).sum(dim, keepdim=True)


def delta_maps(faces: torch.Tensor, base: torch.Tensor, weight: torch.Tensor | None = None,
               chroma_keep: float = CHROMA_KEEP) -> torch.Tensor:
    """Crop-space maps ``[k, 5, s, s]`` of the edits ``faces`` (``[k, 3, s, s]``, [-1, 1]) against
    the reconstruction ``base`` (``[3, s, s]``): the reconstruction's luminance, the luminance change
    and the damped chroma change (3 channels), in [0, 1] units, the change scaled by ``weight``."""
    f = (faces.float().clamp(-1, 1) + 1) / 2
    b = (base.float().clamp(-1, 1) + 1) / 2
    d = f - b[None]
    if weight is not None:
        d = d * weight.float()[None, None]
    dy = luma(d)
    yb = luma(b[None]).expand_as(dy)
    return torch.cat([yb, dy, (d - dy) * chroma_keep], 1)


def apply_delta(pixels: np.ndarray, maps: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``pixels`` (float ``[h, w, 3]`` in 0..255) changed by ``maps`` (``delta_maps`` resampled to
    these pixels, ``[h, w, 5]``) faded by ``mask`` (``[h, w, 1]``, the seam's feather): float 0..255."""
    p = pixels / 255.0
    y = (p * np.asarray(LUMA, np.float32)).sum(-1, keepdims=True)
    yb = np.clip(maps[..., 0:1], 0, 1)
    dy = np.clip(yb + mask * maps[..., 1:2], 0, 1) - yb
    room = np.where(dy < 0, y / np.maximum(yb, 1e-6), (1 - y) / np.maximum(1 - yb, 1e-6))
    return np.clip(p + dy * np.minimum(room, 1) + mask * maps[..., 2:5], 0, 1) * 255.0
