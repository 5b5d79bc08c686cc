"""Photos in and out: reading any image file safely, cropping the model's view of it, and pasting an
edited crop back into the photo at the photo's resolution.

Geometry is one affine map ``A`` (2x3) from the crop's continuous pixel coordinates (pixel (r, c)
covers [c, c+1) x [r, r+1), the convention of PIL's ``Image.transform``) to the photo's. Cropping
samples the photo at ``A(crop pixel)``; pasting samples the crop at ``A^-1(photo pixel)``, so the
two are exact inverses of each other whatever the alignment (centre crop, FFHQ quad, template fit).
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import LowRankGANError
from .blend import apply_delta, delta_maps
from ..limits import (MAX_COORDINATE, MAX_JPEG_SCANS, MAX_LANDMARKS, MAX_PHOTO_BYTES, MAX_PHOTO_PIXELS, MAX_RESOLUTION,
                      MIN_PHOTO_SIDE, printable, read_regular)
from ..readers import field_int, number_list, read_json_object

FEATHER = 0.12  # seam width as a fraction of the crop side
PASTE_TILE_PIXELS = 1 << 20  # pasting works on this many photo pixels at a time (~200 MB of temporaries)


@dataclass
class Alignment:
    """Where the model's square crop lies in the photo."""

    matrix: np.ndarray  # [2, 3] float64: crop (x, y, 1) -> photo (x, y)
    size: int  # the crop's side in pixels (the model's resolution)
    photo_size: tuple[int, int]  # (width, height)
    method: str = "center"
    landmarks: list[list[float]] | None = None  # the photo landmarks the crop was fitted to

    def to_json(self) -> dict:
        return {"matrix": np.round(self.matrix, 6).tolist(), "size": self.size,
                "photo_size": list(self.photo_size), "method": self.method, "landmarks": self.landmarks}

    @classmethod
    def from_json(cls, data: Any, where: str = "the alignment recorded in invert.json") -> "Alignment":
        """An alignment read back from a file: every field checked by type and range."""
        if not isinstance(data, dict):
            raise LowRankGANError(f"{where} is not an object; run `lowrankgan invert` again")
        rows = data.get("matrix")
        if not isinstance(rows, list) or len(rows) != 2:
            raise LowRankGANError(f"{where}: field 'matrix' must be 2 rows of 3 numbers; run `lowrankgan invert` again")
        matrix = np.array([number_list(r, f"matrix[{i}]", 3, MAX_COORDINATE, where) for i, r in enumerate(rows)])
        size = field_int(data, "size", 1, MAX_RESOLUTION, where)
        width, height = (int(v) for v in number_list(data.get("photo_size"), "photo_size", 2, MAX_PHOTO_PIXELS, where))
        if data["photo_size"] != [width, height] or min(width, height) < MIN_PHOTO_SIDE \
                or width * height > MAX_PHOTO_PIXELS:
            raise LowRankGANError(f"{where}: field 'photo_size' must be two whole numbers of pixels, at least "
                                  f"{MIN_PHOTO_SIDE} each and at most {MAX_PHOTO_PIXELS} in all")
        if abs(np.linalg.det(matrix[:, :2])) < 1e-9:
            raise LowRankGANError(f"{where}: field 'matrix' is not an invertible 2x3 matrix; run `lowrankgan invert` again")
        method = data.get("method", "?")
        marks = data.get("landmarks")
        if marks is not None:
            if not isinstance(marks, list) or len(marks) > MAX_LANDMARKS:
                raise LowRankGANError(f"{where}: field 'landmarks' must be a list of at most {MAX_LANDMARKS} points")
            marks = [number_list(m, f"landmarks[{i}]", 2, MAX_COORDINATE, where) for i, m in enumerate(marks)]
        return cls(matrix, size, (width, height), printable(method, 40) if isinstance(method, str) else "?", marks)

    @property
    def scale(self) -> float:
        """Photo pixels per crop pixel."""
        return float(np.sqrt(abs(np.linalg.det(self.matrix[:, :2]))))

    def inverse(self) -> np.ndarray:
        full = np.vstack([self.matrix, [0.0, 0.0, 1.0]])
        return np.linalg.inv(full)[:2]


# ---------------------------------------------------------------------------------------------
# reading

def load_photo(path: str | Path) -> np.ndarray:
    """An image file as RGB ``uint8 [H, W, 3]``: any mode PIL reads (alpha composited on white,
    16-bit and float scaled to 8 bits), EXIF orientation applied. Sizes are checked from the
    header before anything is decoded."""
    path = Path(path).expanduser()
    label = f"photo {printable(path)}"
    return _decode(read_regular(path, MAX_PHOTO_BYTES, "photo"), label)


def decode_photo(data: bytes, label: str = "the uploaded photo") -> np.ndarray:
    """Image file bytes (an upload) as ``load_photo`` reads a file: the byte size and the pixel
    count from the header are checked before anything is decoded."""
    if len(data) > MAX_PHOTO_BYTES:
        raise LowRankGANError(f"{label} is {len(data) >> 20} MB; at most {MAX_PHOTO_BYTES >> 20} MB")
    return _decode(data, label)


def _decode(data: bytes, label: str) -> np.ndarray:
    """Decode within bounds. Any error of any decoder is one line; decoder warnings (TIFF tags,
    truncated chunks) are not shown: the result, or the error, says all the user needs."""
    if not data:
        raise LowRankGANError(f"{label} is empty; give a PNG, JPEG or other image file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:  # reads the header only
                _check_size(label, *im.size)
                if data[:2] == b"\xff\xd8":  # JPEG (and MPO): each scan is a pass over the whole image
                    _check_scans(data, label)
                im = ImageOps.exif_transpose(im)
                return to_rgb(im)
    except LowRankGANError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        # PIL's own guard (from the header too) fires first for the very largest claims
        raise LowRankGANError(f"{label} is larger than {MAX_PHOTO_PIXELS // 1_000_000} megapixels; "
                              "scale it down first") from None
    except MemoryError:
        raise LowRankGANError(f"{label} needs more memory to decode than this machine has; scale it down") from None
    except Exception as exc:  # PIL's plugins raise OSError, ValueError, NotImplementedError, RuntimeError, ...
        if isinstance(exc, UnidentifiedImageError):  # PIL's text names the in-memory buffer's repr
            first = "not an image format PIL knows"
        else:
            first = printable((str(exc).splitlines() or [type(exc).__name__])[0] or type(exc).__name__, 160)
        raise LowRankGANError(f"cannot read {label} ({first}); give a PNG, JPEG or other image file") from None


# Pillow's plugins log what they skip (odd TIFF tags, samples they cannot decode); with no logging
# set up, Python would print those on the terminal. What matters reaches the user as the result
# or as the error; an application that configures logging still gets the records.
logging.getLogger("PIL").addHandler(logging.NullHandler())

_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")  # a marker (not stuffing, not a restart) in scan data


def jpeg_scans(data: bytes) -> int:
    """The number of scans (SOS segments) in JPEG bytes, found by walking the segments, not decoding."""
    pos, scans, end = 2, 0, len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return scans  # not a marker where one must be: the decoder reports the damage
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:  # end of image
            return scans
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # no length
            pos += 2
            continue
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker == 0xDA:
            scans += 1
            found = _MARKER.search(data, pos)
            pos = found.start() if found else end
    return scans


def _check_scans(data: bytes, label: str) -> None:
    scans = jpeg_scans(data)
    if scans > MAX_JPEG_SCANS:
        raise LowRankGANError(f"{label} is a JPEG of {scans} scans (encoders write about 10; at most "
                              f"{MAX_JPEG_SCANS} are decoded); save it again as a plain JPEG or PNG")


def _check_size(label: str, width: int, height: int) -> None:
    if width * height > MAX_PHOTO_PIXELS:
        raise LowRankGANError(f"{label} is {width}x{height}, larger than {MAX_PHOTO_PIXELS // 1_000_000} "
                              "megapixels; scale it down first")
    if min(width, height) < MIN_PHOTO_SIDE:
        raise LowRankGANError(f"{label} is {width}x{height}; it needs at least {MIN_PHOTO_SIDE} pixels a side")


def to_rgb(im: Image.Image) -> np.ndarray:
    """Any PIL image as RGB ``uint8 [H, W, 3]``."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(a)
        im = Image.fromarray(a.round().astype(np.uint8), "L")
    if im.mode == "P":
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        back = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(back, rgba)
    return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


# ---------------------------------------------------------------------------------------------
# alignments

def center_alignment(photo_size: tuple[int, int], size: int, method: str = "center") -> Alignment:
    """The largest centred square of the photo."""
    w, h = photo_size
    side = min(w, h)
    s = side / size
    matrix = np.array([[s, 0.0, (w - side) / 2], [0.0, s, (h - side) / 2]])
    return Alignment(matrix, size, (w, h), method)


def box_alignment(photo_size: tuple[int, int], size: int, left: float, top: float, side: float) -> Alignment:
    """A square ``side`` pixels wide at (``left``, ``top``) of the photo (may reach outside it)."""
    if not side > 0:
        raise LowRankGANError("the crop side must be positive")
    s = side / size
    return Alignment(np.array([[s, 0.0, left], [0.0, s, top]]), size, tuple(photo_size), "box")


def similarity_alignment(src: np.ndarray, dst: np.ndarray, size: int, photo_size: tuple[int, int],
                         method: str) -> Alignment:
    """The crop whose points ``dst`` (crop pixels) land on the photo points ``src`` with the
    least-squares similarity (rotation, uniform scale, shift; Umeyama without reflection)."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = dst - mu_d, src - mu_s
    cov = b.T @ a / len(src)
    U, S, Vt = np.linalg.svd(cov)
    D = np.diag([1.0, np.sign(np.linalg.det(U @ Vt)) or 1.0])
    R = U @ D @ Vt
    scale = np.trace(np.diag(S) @ D) / a.var(0).sum()
    if not scale > 0:
        raise LowRankGANError("the face landmarks are degenerate (all in one place); give a clearer photo")
    t = mu_s - scale * R @ mu_d
    return Alignment(np.hstack([scale * R, t[:, None]]), size, tuple(photo_size), method, src.tolist())


def ffhq_alignment(landmarks: np.ndarray, size: int, photo_size: tuple[int, int]) -> Alignment:
    """FFHQ's crop (Karras et al., ``recreate_aligned_images``) from 5 points: left eye, right eye,
    nose, left and right mouth corner (photo pixels, the eyes as seen in the picture)."""
    lm = np.asarray(landmarks, np.float64)
    eye_left, eye_right, mouth_left, mouth_right = lm[0], lm[1], lm[3], lm[4]
    eye_avg = (eye_left + eye_right) / 2
    eye_to_eye = eye_right - eye_left
    eye_to_mouth = (mouth_left + mouth_right) / 2 - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    # The quad's corners (top-left, bottom-left, bottom-right, top-right) are the crop's corners.
    corners_photo = np.array([c - x - y, c - x + y, c + x + y, c + x - y])
    corners_crop = np.array([[0, 0], [0, size], [size, size], [size, 0]], np.float64)
    al = similarity_alignment(corners_photo, corners_crop, size, photo_size, "ffhq")
    al.landmarks = lm.tolist()
    return al


# ---------------------------------------------------------------------------------------------
# crop and paste

def crop(photo: np.ndarray, al: Alignment) -> torch.Tensor:
    """The model's view of the photo, ``[1, 3, size, size]`` in [-1, 1]: sampled at a resolution
    close to the photo's, then shrunk with an antialiasing filter (a direct resample would alias)."""
    h, w = photo.shape[:2]
    inter = int(min(4096, max(al.size, round(al.size * al.scale))))
    k = al.size / inter
    data = (al.matrix * [k, k, 1.0]).flatten().tolist()
    im = Image.fromarray(photo).transform((inter, inter), Image.Transform.AFFINE, data, Image.Resampling.BICUBIC,
                                          fillcolor=_edge_colour(photo))
    if inter != al.size:
        im = im.resize((al.size, al.size), Image.Resampling.LANCZOS)
    return torch.from_numpy(np.asarray(im, np.float32) / 127.5 - 1).permute(2, 0, 1)[None]


def _edge_colour(photo: np.ndarray) -> tuple[int, int, int]:
    """The median border colour: what a crop reaching outside the photo is filled with."""
    border = np.concatenate([photo[0], photo[-1], photo[:, 0], photo[:, -1]])
    return tuple(int(v) for v in np.median(border, 0))


def paste(photo: np.ndarray, al: Alignment, face: torch.Tensor, base: torch.Tensor | None = None,
          feather: float = FEATHER) -> np.ndarray:
    """``photo`` (``uint8 [H, W, 3]``) with the crop ``face`` (``[3, s, s]`` in [-1, 1]) put back.

    With ``base`` (the unedited reconstruction) only the change ``face - base`` is added: the
    photo keeps every detail the model could not reproduce and only the edit comes from the
    model. Without it the model's face replaces the photo's. Either way the seam is feathered
    over ``feather`` of the crop's side."""
    return paste_many(photo, al, face[None], base, feather)[0]


REGION_FEATHER = 0.04  # a region's edge fades over about twice this fraction of the crop side


def region_weight(mask: np.ndarray, size: int, feather: float = REGION_FEATHER) -> torch.Tensor:
    """A region (bool ``[R, R]``) as weights ``[size, size]`` in [0, 1] for the change pasted into
    a photo: 1 inside, fading to 0 just outside (grown by one blur width, then Gaussian-blurred),
    so that a local edit changes the photo only there and without a visible edge."""
    from scipy.ndimage import binary_dilation, gaussian_filter

    m = np.asarray(mask, bool)
    if m.shape != (size, size):
        t = torch.from_numpy(m.astype(np.float32))[None, None]
        m = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)[0, 0].numpy() >= 0.5
    sigma = feather * size
    grown = binary_dilation(m, iterations=max(1, round(sigma))) if m.any() else m
    w = gaussian_filter(grown.astype(np.float32), sigma)
    return torch.from_numpy(np.maximum(m, np.clip(w / max(float(w.max()), 1e-6), 0, 1)).astype(np.float32))


def paste_many(photo: np.ndarray, al: Alignment, faces: torch.Tensor, base: torch.Tensor | None = None,
               feather: float = FEATHER, out: np.ndarray | None = None,
               weight: torch.Tensor | None = None, blend: str = "tone") -> np.ndarray:
    """``paste`` of each crop of ``faces`` (``[k, 3, s, s]``) into ``photo``: ``uint8 [k, H, W, 3]``
    (written into ``out`` when given). Only the crop's bounding box is computed, a band of rows
    (``PASTE_TILE_PIXELS``) at a time, and the band's geometry once for all ``k`` crops: memory is
    the output plus ~300 MB, whatever the photo's size. ``weight`` (``region_weight``, with
    ``base``) scales the change per crop pixel: only the edited region's change reaches the photo.
    ``blend`` (with ``base``): ``tone`` carries the change as ``photos.blend`` describes (luminance
    as a relative tone change, chroma damped), ``add`` adds it as it is."""
    h, w = photo.shape[:2]
    if (w, h) != tuple(al.photo_size):
        raise LowRankGANError(f"the photo is {w}x{h} but the inversion was made from a {al.photo_size[0]}x"
                              f"{al.photo_size[1]} photo; give the photo that was inverted")
    if out is None:
        out = np.empty((faces.shape[0], h, w, 3), np.uint8)
    out[:] = photo
    x0, y0, x1, y1 = _bounds(al, w, h)
    if x1 <= x0 or y1 <= y0:
        return out
    if base is None:
        src = faces.float()
    elif blend == "tone":
        src = delta_maps(faces, base, weight)
    else:  # "add": the change as it is, in the model's colours (kept to compare against)
        src = (faces - base[None]).float() * (1 if weight is None else weight.float()[None, None])
    band = max(1, PASTE_TILE_PIXELS // (x1 - x0))
    for top in range(y0, y1, band):
        bottom = min(y1, top + band)
        grid, mask = _band_geometry(al, x0, x1, top, bottom, feather)
        region = photo[top:bottom, x0:x1].astype(np.float32)
        for k in range(src.shape[0]):
            warped = F.grid_sample(src[k:k + 1], grid, mode="bicubic", padding_mode="border", align_corners=False)
            warped = warped[0].permute(1, 2, 0).numpy()
            if base is None:
                pixels = region * (1 - mask) + mask * (warped + 1) * 127.5
            elif blend == "tone":
                pixels = apply_delta(region, warped, mask)
            else:
                pixels = region + mask * warped * 127.5
            out[k, top:bottom, x0:x1] = np.clip(pixels.round(), 0, 255)
    return out


def _band_geometry(al: Alignment, x0: int, x1: int, top: int, bottom: int,
                   feather: float) -> tuple[torch.Tensor, np.ndarray]:
    """For photo rows ``top:bottom``, columns ``x0:x1``: where each pixel centre falls in the crop
    (``grid_sample``'s grid) and the feathered seam's weight."""
    xs = np.arange(x0, x1, dtype=np.float64) + 0.5
    ys = (np.arange(top, bottom, dtype=np.float64) + 0.5)[:, None]
    inv = al.inverse()
    u = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]  # crop coordinates of each photo pixel centre
    v = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    s = al.size
    edge = np.minimum(np.minimum(u, s - u), np.minimum(v, s - v))
    mask = np.clip(edge / max(feather * s, 1e-6), 0, 1).astype(np.float32)[..., None]
    grid = torch.from_numpy(np.stack([u / s * 2 - 1, v / s * 2 - 1], -1)).float()[None]
    return grid, mask


def _bounds(al: Alignment, w: int, h: int) -> tuple[int, int, int, int]:
    """The photo pixels the crop covers (its corners' bounding box, clipped to the photo)."""
    s = al.size
    corners = np.array([[0, 0, 1], [s, 0, 1], [0, s, 1], [s, s, 1]], np.float64) @ al.matrix.T
    x0, y0 = np.floor(corners.min(0)).astype(int)
    x1, y1 = np.ceil(corners.max(0)).astype(int)
    return max(0, x0), max(0, y0), min(w, x1), min(h, y1)


def read_alignment(folder: Path) -> Alignment:
    """The alignment an inversion recorded in ``folder/invert.json``."""
    meta_path = Path(folder) / "invert.json"
    if not (meta_path.exists() or meta_path.is_symlink()):
        raise LowRankGANError(f"{printable(folder)} holds no invert.json; give a folder written by `lowrankgan invert`")
    meta = read_json_object(meta_path, "inversion record", root=folder)
    if not isinstance(meta.get("alignment"), dict):
        raise LowRankGANError(f"{printable(meta_path)} records no alignment; run `lowrankgan invert` again")
    return Alignment.from_json(meta["alignment"], f"{printable(meta_path)}: the alignment")
