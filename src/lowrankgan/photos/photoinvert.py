"""A photo through the model: align the face (or crop the centre), invert the crop, save the code
with everything needed to paste edits back into the photo."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .. import __version__
from ..safewrite import atomic_write, ensure_writable_dir, write_json
from ..errors import LowRankGANError, NoFaceFound
from .facelandmarks import DETECT_SIDE, small_image_landmarks
from .invert import Inversion, invert_image
from ..files.latents import Latents
from ..models.base import GeneratorAdapter
from .photo import Alignment, box_alignment, center_alignment, crop, ffhq_alignment, load_photo, paste_many, similarity_alignment

ALIGNS = ("auto", "face", "center")
# Where dcgan-faces puts the five MTCNN landmarks (left eye, right eye, nose, mouth corners), as
# fractions of the side: the median of MTCNN's landmarks on 64 of its faces (seeds 2000-2063)
# shown at 256 px; tests/test_invert.py re-derives it. Its faces are tight crops (DigiFace1M).
DCGAN_FACES_TEMPLATE = np.array([[21.97, 31.06], [42.18, 30.67], [32.33, 44.18], [23.44, 54.50], [40.80, 54.45]]) / 64


@dataclass
class PhotoInversion:
    inversion: Inversion
    target: torch.Tensor  # [1, 3, R, R] in [-1, 1]: the model's view of the photo
    alignment: Alignment
    model_id: str
    model_family: str
    photo_name: str = ""
    model_source: str | None = None  # what load_model takes to get the model back (a name or a path)

    def latents(self) -> Latents:
        return Latents(self.inversion.code.numpy().astype(np.float32), self.inversion.space, self.meta(), "")

    def meta(self) -> dict:
        inv = self.inversion
        return {"tool": "lowrankgan", "version": __version__, "model": self.model_id,
                "model_family": self.model_family, "model_source": self.model_source, "latent_space": inv.space, "space": inv.space,
                "latent_dim": int(inv.code.shape[-1]), "steps": inv.steps, "restarts": inv.restarts,
                "loss_curve": inv.losses, "final_loss": inv.losses[-1] if inv.losses else None,
                "psnr": round(inv.psnr, 3), "ssim": round(inv.ssim, 4), "time_s": round(inv.seconds, 2),
                "photo": self.photo_name, "alignment": self.alignment.to_json(), **inv.info}


def face_alignment(gen: GeneratorAdapter, photo: np.ndarray, landmarks: np.ndarray | None = None) -> Alignment:
    """The crop the model was trained on (its ``face_alignment``): FFHQ's for the StyleGAN families,
    the ``dcgan-faces`` landmark template for the rest. Landmarks are MTCNN's (the most confident face) unless given."""
    if landmarks is None:
        landmarks = find_photo_landmarks(photo)
        if landmarks is None:
            raise NoFaceFound("no face found in the photo; align='center' takes the centre square, crop_box another square")
    landmarks = np.asarray(landmarks, np.float64)
    if landmarks.shape != (5, 2) or not np.isfinite(landmarks).all():
        raise LowRankGANError("landmarks must be 5 (x, y) points: eyes, nose, mouth corners")
    size = gen.resolution
    h, w = photo.shape[:2]
    if gen.face_alignment == "ffhq":
        return ffhq_alignment(landmarks, size, (w, h))
    return similarity_alignment(landmarks, DCGAN_FACES_TEMPLATE * size, size, (w, h), "dcgan-faces-template")


DETECT_MAX_SIDE = 1024  # faces are looked for on a copy at most this large (a face under 1/50 of it is missed)


def find_photo_landmarks(photo: np.ndarray) -> np.ndarray | None:
    """MTCNN's five landmarks of the photo's most confident face, in its continuous pixel
    coordinates: a small photo (a model's own image) enlarged with a margin first, a large one
    looked at on a shrunk copy; ``None`` when there is no face."""
    from .faces import detect_faces

    if max(photo.shape[:2]) < DETECT_SIDE:
        return small_image_landmarks(photo)
    small, shrink = _detection_copy(photo)
    faces = detect_faces(small)
    return None if not faces else (faces[0].landmarks + 0.5) * shrink  # pixel indices -> coordinates


def _detection_copy(photo: np.ndarray) -> tuple[np.ndarray, float]:
    """The photo shrunk (antialiased) to ``DETECT_MAX_SIDE``, and the factor back: MTCNN's image
    pyramid over a 12-megapixel photo takes many seconds, over the copy a fraction of one."""
    h, w = photo.shape[:2]
    shrink = max(1.0, max(h, w) / DETECT_MAX_SIDE)
    if shrink == 1.0:
        return photo, 1.0
    size = (max(1, round(w / shrink)), max(1, round(h / shrink)))
    small = np.asarray(Image.fromarray(photo).resize(size, Image.Resampling.LANCZOS))
    return small, w / size[0]


def align_photo(gen: GeneratorAdapter, photo: np.ndarray, align: str = "auto",
                crop_box: tuple[float, float, float] | None = None, landmarks: np.ndarray | None = None) -> Alignment:
    """``auto``: the face alignment for the face models (``dcgan-faces``), the centre square for the
    rest; ``face``: detect and align a face whatever the model; ``center``: the centre square.
    ``crop_box`` (left, top, side in photo pixels) overrides them."""
    h, w = photo.shape[:2]
    if crop_box is not None:
        return box_alignment((w, h), gen.resolution, *crop_box)
    if align not in ALIGNS:
        raise LowRankGANError(f"align {align}: use one of {', '.join(ALIGNS)}", "align")
    if align == "face" or (align == "auto" and gen.model_family == "dcgan-faces") or landmarks is not None:
        al = face_alignment(gen, photo, landmarks)
        if align == "auto" and already_framed(al, (w, h)):  # taken as it is, not warped by a few pixels
            return center_alignment((w, h), gen.resolution, "center (already framed)")
        return al
    return center_alignment((w, h), gen.resolution)


# How far a square image's face may sit from the model's frame and still be taken as it is: about
# the spread of the model's own images around the template (dcgan-faces, seeds 0-199: scale 0.80 to
# 1.11, turn under 7 degrees and shift under 0.062 of the side for 99 in 100). Warping such an image
# by a few per cent and pixels costs far more in the inversion (18-25 dB) than it gains.
FRAME_SCALE = 0.22  # relative
FRAME_TURN = 10.0  # degrees
FRAME_SHIFT = 0.07  # of the side


def already_framed(al: Alignment, photo_size: tuple[int, int]) -> bool:
    """Whether the photo is square and its face alignment ``al`` is within the tolerances of taking
    the whole photo as it is (an image the model made, or one cropped the model's way)."""
    w, h = photo_size
    if w != h:
        return False
    (a, b, tx), (c, d, ty) = al.matrix
    scale = float(np.sqrt(abs(a * d - b * c))) / (w / al.size)
    turn = abs(float(np.degrees(np.arctan2(c, a))))
    centre = al.size / 2  # where the crop's centre lands in the photo, against the photo's centre
    shift = float(np.hypot(a * centre + b * centre + tx - w / 2, c * centre + d * centre + ty - h / 2)) / w
    return abs(scale - 1) <= FRAME_SCALE and turn <= FRAME_TURN and shift <= FRAME_SHIFT


def invert_photo(gen: GeneratorAdapter, photo: str | Path | np.ndarray, space: str | None = None, steps: int = 300,
                 restarts: int = 4, align: str = "auto", crop_box: tuple[float, float, float] | None = None,
                 landmarks: np.ndarray | None = None, seed: int = 0, progress: bool = True,
                 on_step: Callable[[int, int], None] | None = None) -> PhotoInversion:
    """Read (a path) or take (RGB ``uint8 [H, W, 3]``) a photo, align, crop and invert it
    (``on_step``: ``invert_image``'s progress callback)."""
    name = Path(photo).name if isinstance(photo, (str, Path)) else ""
    image = load_photo(photo) if isinstance(photo, (str, Path)) else _check_array(photo)
    al = align_photo(gen, image, align, crop_box, landmarks)
    target = crop(image, al)
    inv = invert_image(gen, target, space, steps, restarts, seed=seed, progress=progress, on_step=on_step)
    return PhotoInversion(inv, target, al, gen.model_id, gen.model_family, name)


def _check_array(photo: np.ndarray) -> np.ndarray:
    photo = np.asarray(photo)
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise LowRankGANError(f"a photo array must be RGB uint8 [H, W, 3], got {photo.dtype} {list(photo.shape)}")
    return photo


def _png(tensor: torch.Tensor) -> Image.Image:
    a = ((tensor[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(a)


INVERSION_FILES = ("latent.npy", "reconstruction.png", "target.png", "invert.json")


def save_inversion(result: PhotoInversion, out_dir: str | Path) -> Path:
    """``latent.npy`` (as ``directions`` writes it), ``reconstruction.png``, ``target.png`` (the
    aligned crop the code reproduces) and ``invert.json``, each written whole or not at all."""
    out = ensure_writable_dir(Path(out_dir))
    code = np.ascontiguousarray(result.inversion.code.numpy(), dtype=np.float32)
    atomic_write(out / "latent.npy", lambda tmp: np.save(open(tmp, "wb"), code))
    atomic_write(out / "reconstruction.png", lambda tmp: _png(result.inversion.reconstruction).save(tmp, format="PNG"))
    atomic_write(out / "target.png", lambda tmp: _png(result.target).save(tmp, format="PNG"))
    write_json(out / "invert.json", result.meta())
    return out


def paste_images(photo: np.ndarray, al: Alignment, images: torch.Tensor, base: torch.Tensor | None,
                 weight: torch.Tensor | None = None, blend: str = "tone") -> torch.Tensor:
    """Every crop of ``images`` ``[n, s, 3, R, R]`` pasted into ``photo``: ``uint8 [n, s, 3, H, W]``
    (n·s times the photo's RGB bytes, plus ``paste_many``'s bounded working set). ``base``
    ``[n, 3, R, R]`` (the unedited reconstructions) pastes only the change, ``weight`` only the
    region's (``photo.region_weight``), ``blend`` as ``photo.paste_many``."""
    n, s = images.shape[:2]
    h, w = photo.shape[:2]
    out = torch.empty((n, s, 3, h, w), dtype=torch.uint8)
    for i, row in enumerate(images):
        ref = None if base is None else base[i]
        paste_many(photo, al, row, ref, out=out[i].permute(0, 2, 3, 1).numpy(), weight=weight,
                   blend=blend)  # in place
    return out
