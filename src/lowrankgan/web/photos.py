"""Uploaded photos on the page: the inversion job that finds a photo's code, and the codes kept
per server (an LRU bounded in number and in the memory the decoded photos take), so that every
endpoint that takes a seed can take ``photo=<id>`` instead.

Glue over the public API (``api.decode_photo``, ``api.invert``, ``api.paste_edits``), like
``session``; the job runs in the workspace's one computation slot (``jobs.Jobs``).
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from .. import api
from ..errors import LowRankGANError, NoFaceFound

if TYPE_CHECKING:  # session imports this module
    from .jobs import Job
    from .session import Workspace

MAX_PHOTOS = 8  # uploaded photos kept per server, least recently used dropped first
MAX_PHOTO_MEMORY = 512 << 20  # decoded photos kept (a 40-megapixel photo is 120 MB); the newest always stays
PAGE_STEPS = 200  # the page's default: about 15 s for dcgan-faces on one CPU core (README, the page's photo table)
PAGE_RESTARTS = 4
ALIGNS = api.ALIGNS
NO_FACE = "no face found in the photo: choose Align “center” (the middle square) and upload it again"


@dataclass(eq=False)
class Photo:
    """An uploaded photo and its code for one model (and class)."""

    id: str
    model: str
    class_name: str | None
    name: str
    # The upload, RGB uint8 [H, W, 3], that edits are pasted back into; None once the store has
    # dropped the photo (a result computed on it still renders its code).
    image: np.ndarray | None
    inversion: api.PhotoInversion
    latents: api.Latents

    def public(self) -> dict:
        inv = self.inversion.inversion
        w, h = self.inversion.alignment.photo_size
        return {"photo": self.id, "name": self.name, "model": self.model, "class": self.class_name,
                "width": w, "height": h, "psnr": round(inv.psnr, 2), "ssim": round(inv.ssim, 3),
                "steps": inv.steps, "restarts": inv.restarts, "seconds": round(inv.seconds, 2),
                "alignment": self.inversion.alignment.method}


def subject_key(subject: int | Photo) -> int | str:
    """A seed, or a photo's id: what the workspace remembers (never the photo and its pixels)."""
    return subject if isinstance(subject, int) else f"photo:{subject.id}"


def subject_label(subject: int | Photo) -> str:
    """How the page names the image: ``seed 3`` or ``the photo me.jpg``."""
    if isinstance(subject, int):
        return f"seed {subject}"
    return f"the photo {subject.name}" if subject.name else "the uploaded photo"


def as_seeds(subject: int | Photo) -> list[int] | api.Latents:
    """What the API takes for one image: a seed as a one-element list, a photo as its code."""
    return [subject] if isinstance(subject, int) else subject.latents


def subject_json(subject: int | Photo) -> dict:
    return {"seed": subject, "photo": None} if isinstance(subject, int) else {"seed": None, "photo": subject.id}


def subject_file_label(subject: int | Photo) -> str:
    """How download names call the image: ``seed3`` or ``photo``."""
    return f"seed{subject}" if isinstance(subject, int) else "photo"


class PhotoStore:
    """Photos by id, least recently used dropped first beyond ``max_photos`` or ``max_bytes``."""

    def __init__(self, max_photos: int = MAX_PHOTOS, max_bytes: int = MAX_PHOTO_MEMORY) -> None:
        self.max_photos, self.max_bytes = max_photos, max_bytes
        self._photos: OrderedDict[str, Photo] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, photo: Photo) -> None:
        with self._lock:
            self._photos[photo.id] = photo
            self._photos.move_to_end(photo.id)
            while len(self._photos) > 1 and (len(self._photos) > self.max_photos or
                                             sum(p.image.nbytes for p in self._photos.values()) > self.max_bytes):
                self._photos.popitem(last=False)[1].image = None  # its memory goes, whoever holds the photo

    def get(self, photo_id: str) -> Photo:
        with self._lock:
            photo = self._photos[photo_id]  # KeyError: not (or no longer) here
            self._photos.move_to_end(photo_id)
            return photo

    def __len__(self) -> int:
        with self._lock:
            return len(self._photos)


def start_inversion(workspace: Workspace, job: Job, name: str, gen: api.GeneratorAdapter, image: np.ndarray,
                    photo_name: str, steps: int, align: str) -> None:
    """Invert ``image`` in the background under ``job`` (which holds the computation slot)."""
    job.state, job.stage, job.fraction = "running", "waiting for the CPU", 0.0
    thread = threading.Thread(target=_invert, args=(workspace, job, name, gen, image, photo_name, steps, align),
                              name=f"lowrankgan-invert-{job.id}", daemon=True)
    thread.start()


def _invert(workspace: Workspace, job: Job, name: str, gen: api.GeneratorAdapter, image: np.ndarray,
            photo_name: str, steps: int, align: str) -> None:
    def on_step(done: int, total: int) -> None:
        job.fraction = done / total
        job.stage = f"inverting the photo: step {done} of {total} ({PAGE_RESTARTS} starts at once)"

    with workspace.jobs.guard(job):
        with workspace.cpu_lock:
            face = align == "face" or (align == "auto" and name in api.FACE_MODELS)
            job.stage = "finding and aligning the face" if face else "cropping the photo"
            try:
                result = api.invert(gen, image, steps=steps, restarts=PAGE_RESTARTS, align=align, progress=False,
                                    on_step=on_step)
            except NoFaceFound:
                raise LowRankGANError(NO_FACE) from None
        result.photo_name = photo_name
        latents = api.Latents(result.inversion.code.numpy().astype(np.float32), result.inversion.space,
                              result.meta(), f"uploaded photo {photo_name}".strip())
        photo = Photo(secrets.token_hex(8), name, gen.class_name, photo_name, image, result, latents)
        workspace.photos.add(photo)
        job.result = photo.public()
        job.state, job.stage, job.fraction = "done", "done", 1.0
        workspace.warm(name, gen, photo)  # its Jacobian, so that the first Compute is quick


def pasted(photo: Photo, gen: api.GeneratorAdapter, edited: torch.Tensor, region: np.ndarray | None = None) -> torch.Tensor:
    """The edited crop ``[1, 3, R, R]`` pasted into the photo at its resolution (``[3, H, W]``): only
    the change from the reconstruction, so that the photo keeps what the model cannot draw, and
    only inside the edit's ``region`` (feathered), so that a local edit stays local."""
    if photo.image is None:
        raise KeyError(photo.id)
    return api.paste_edits(photo.image, photo.inversion, edited[:, None], model=gen, region=region)[0, 0]
