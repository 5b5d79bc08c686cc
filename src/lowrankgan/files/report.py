"""What users look at: image grids, GIF sweeps and one-page HTML reports."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..safewrite import atomic_write
from ..errors import LowRankGANError

ORIGINAL_COLOUR = (255, 196, 0)
OUTLINE_COLOUR = (0, 255, 120)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """``[..., 3, H, W]`` in [-1, 1] -> ``[..., H, W, 3]`` uint8, ``clamp(x·127.5 + 128, 0, 255)``;
    uint8 images (photos with edits pasted in) as they are."""
    if images.dtype == torch.uint8:
        return images.detach().cpu().movedim(-3, -1).numpy()
    x = (images.detach().float().cpu() * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    return x.movedim(-3, -1).numpy()


def _outline(mask: np.ndarray, scale: int) -> np.ndarray:
    """Boolean image of the mask boundary at ``scale``× size."""
    big = np.kron(mask.astype(np.uint8), np.ones((scale, scale), np.uint8)).astype(bool)
    inner = big.copy()
    inner[1:, :] &= big[:-1, :]
    inner[:-1, :] &= big[1:, :]
    inner[:, 1:] &= big[:, :-1]
    inner[:, :-1] &= big[:, 1:]
    return big & ~inner


def cell_scale(resolution: int, min_cell: int = 128) -> int:
    return max(1, -(-min_cell // resolution))


def tile(images: np.ndarray, scale: int = 1, mask: np.ndarray | None = None) -> Image.Image:
    """One ``[H, W, 3]`` uint8 image upscaled by ``scale`` (nearest), the region outlined if given."""
    img = np.kron(images, np.ones((scale, scale, 1), np.uint8)) if scale > 1 else images.copy()
    if mask is not None:
        img[_outline(mask, scale)] = OUTLINE_COLOUR
    return Image.fromarray(img)


def grid_image(images: torch.Tensor, strengths: Sequence[float] | None = None, mask: np.ndarray | None = None,
               scale: int | None = None, pad: int = 4) -> Image.Image:
    """Rows × columns grid from ``[rows, cols, 3, H, W]``; the strength-0 column is framed."""
    arr = to_uint8(images)
    rows, cols, h, w, _ = arr.shape
    scale = scale or cell_scale(h)
    ch, cw = h * scale, w * scale
    canvas = Image.new("RGB", (cols * (cw + pad) + pad, rows * (ch + pad) + pad), (24, 24, 24))
    draw = ImageDraw.Draw(canvas)
    zero = None
    if strengths is not None:
        near = [i for i, s in enumerate(strengths) if abs(s) < 1e-9]
        zero = near[0] if near else None
    for r in range(rows):
        for c in range(cols):
            x, y = pad + c * (cw + pad), pad + r * (ch + pad)
            canvas.paste(tile(arr[r, c], scale, mask), (x, y))
            if c == zero:
                draw.rectangle([x - 2, y - 2, x + cw + 1, y + ch + 1], outline=ORIGINAL_COLOUR, width=2)
    return canvas


def save_png(image: Image.Image, path: Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(Path(path), lambda tmp: image.save(tmp, format="PNG"))


def gif_frames(images: torch.Tensor, mask: np.ndarray | None = None, scale: int | None = None) -> list[Image.Image]:
    """One frame per strength: the seeds side by side. ``images`` is ``[rows, cols, 3, H, W]``."""
    arr = to_uint8(images)
    scale = scale or cell_scale(arr.shape[2])
    frames = []
    for c in range(arr.shape[1]):
        row = np.concatenate([np.asarray(tile(arr[r, c], scale, mask)) for r in range(arr.shape[0])], axis=1)
        frames.append(Image.fromarray(row))
    return frames


def gif_bytes(frames: list[Image.Image], duration_ms: int = 120) -> bytes:
    """A looping GIF of ``frames`` there and back, so the loop has no jump."""
    frames = frames + frames[-2:0:-1]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=duration_ms, loop=0)
    return buf.getvalue()


def save_gif(images: torch.Tensor, path: Path, mask: np.ndarray | None = None, duration_ms: int = 120) -> None:
    data = gif_bytes(gif_frames(images, mask), duration_ms)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(Path(path), lambda tmp: Path(tmp).write_bytes(data))


def data_uri(image: Image.Image, fmt: str = "PNG", **kwargs) -> str:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kwargs)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()


def _gif_uri(frames: list[Image.Image], duration_ms: int = 120) -> str:
    return "data:image/gif;base64," + base64.b64encode(gif_bytes(frames, duration_ms)).decode()


def html_report(title: str, images: torch.Tensor, strengths: Sequence[float], meta: dict,
                seeds: Sequence[int], mask: np.ndarray | None = None, figures: dict | None = None) -> str:
    """A self-contained page: the grid, the sweep as a GIF, the direction's provenance and figures."""
    grid = grid_image(images, strengths, mask)
    gif = _gif_uri(gif_frames(images, mask))
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in meta.items())
    fig_rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                       for k, v in (figures or {}).items())
    labels = ", ".join(f"{s:+.2f}" for s in strengths)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;background:#111;color:#eee;margin:2em}}
table{{border-collapse:collapse}}th,td{{text-align:left;padding:2px 10px;border-bottom:1px solid #333}}
img{{image-rendering:pixelated;max-width:100%}}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Rows: seeds {html.escape(", ".join(map(str, seeds)))}. Columns: strengths {html.escape(labels)};
the original (strength 0) is framed in amber{"; the region is outlined in green" if mask is not None else ""}.</p>
<img alt="edit grid" src="{data_uri(grid)}">
<h2>Sweep</h2><img alt="edit sweep" src="{gif}">
<h2>Direction</h2><table>{rows}</table>
{"<h2>Measured</h2><table>" + fig_rows + "</table>" if fig_rows else ""}
</body></html>
"""


def save_html(text: str, path: Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(Path(path), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def output_kind(path: Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in (".png", ".gif", ".html", ".htm"):
        raise LowRankGANError(f"out {path}: unknown output type '{suffix or '(none)'}'; use .png, .gif or .html", "out")
    return "html" if suffix == ".htm" else suffix[1:]
