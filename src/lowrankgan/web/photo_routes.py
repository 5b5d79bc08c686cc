"""The page's photo endpoints (``photos`` holds the state, ``server`` the parsers they share):

``POST /api/photo?model&class[&steps&align&name]``  the photo file as the request body (any image
type) -> 202 ``{job}``; the job's result is ``{photo, psnr, ssim, width, height, ...}``. The byte
size is checked from ``Content-Length`` before the body is read, the pixel count from the image
header before it is decoded (the CLI's limits: ``api.MAX_PHOTO_BYTES``, ``api.MAX_PHOTO_PIXELS``).
``GET /api/photo/<id>``          the photo's inversion (as the job's result)
``GET /api/photo/<id>/aligned``  PNG: the aligned crop the code reproduces (the model's view of the photo)
``GET /api/paste?result&photo&alphas[&path_steps]``  PNG: the edit pasted back into the photo at
its own resolution (only the change from the reconstruction, as ``edit --photo --paste delta``)
"""

from __future__ import annotations

import contextlib
import re
import threading

from flask import Flask, jsonify, request

from .. import api
from ..errors import LowRankGANError
from .limits import MAX_DECODE_MEMORY, MAX_PAGE_INVERT_STEPS, MAX_PASTE_MEMORY, PASTE_BAND_BYTES
from .photos import ALIGNS, PAGE_STEPS, Photo, pasted, start_inversion
from .parse import (BadRequest, _attachment, _model_args, _NotFound, _text, edit_args, parse_count, parse_subject,
                    stored_photo, stored_result)
from .jobs import Busy
from .results import uint8_png
from .session import Workspace


class TooLarge(LowRankGANError):
    """Answered 413."""


class LengthRequired(LowRankGANError):
    """Answered 411."""


def check_upload_size() -> int:
    """The photo's size from ``Content-Length``, checked before a byte of it is read."""
    size = request.content_length
    if size is None:
        raise LengthRequired("send the photo as the request body, with its size (a Content-Length header)")
    if size > api.MAX_PHOTO_BYTES:
        raise TooLarge(f"the photo is {size / (1 << 20):.1f} MB; at most {api.MAX_PHOTO_BYTES >> 20} MB")
    if size == 0:
        raise BadRequest("no photo in the request: send the image file as the request body")
    return size


def read_body(size: int) -> bytes:
    """The ``size`` bytes of the body. Read from the WSGI input: the app's ``MAX_CONTENT_LENGTH``
    (which ``request.get_data`` enforces) is meant for the small JSON bodies of the other routes."""
    data = request.environ["wsgi.input"].read(size)
    if len(data) != size:
        raise BadRequest(f"the photo arrived incomplete ({len(data)} of {size} bytes); upload it again")
    return data


class MemoryBudget:
    """Bytes that requests running at once may claim; a request that would pass the budget waits
    up to ``wait_s``, then is answered 429 (``Busy``) instead of failing for want of memory.
    One request alone is always admitted."""

    def __init__(self, limit: int, wait_s: float = 5.0) -> None:
        self.limit, self.wait_s, self.used = limit, wait_s, 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def reserve(self, nbytes: int, doing: str):
        with self._cond:
            if not self._cond.wait_for(lambda: self.used == 0 or self.used + nbytes <= self.limit, self.wait_s):
                raise Busy(f"the server is busy {doing}; try again in a moment")
            self.used += nbytes
        try:
            yield
        finally:
            with self._cond:
                self.used -= nbytes
                self._cond.notify_all()


def paste_bytes(photo: Photo) -> int:
    """What pasting into ``photo`` and sending it as PNG holds at its peak: the photo, the pasted
    copy, the PNG's image and its bytes (each about the photo's RGB size), plus the bounded band."""
    size = photo.image.nbytes if photo.image is not None else 0
    return 4 * size + PASTE_BAND_BYTES


def add_photo_routes(app: Flask, workspace: Workspace) -> None:
    decoding = MemoryBudget(MAX_DECODE_MEMORY, wait_s=10.0)
    pasting = MemoryBudget(MAX_PASTE_MEMORY)

    @app.errorhandler(TooLarge)
    def too_large(exc: TooLarge):
        return jsonify(error=str(exc)), 413

    @app.errorhandler(LengthRequired)
    def length_required(exc: LengthRequired):
        return jsonify(error=str(exc)), 411

    @app.post("/api/photo")
    def upload():
        name, cls = _model_args(workspace)
        name = name or workspace.models[0]
        steps = parse_count(request.args.get("steps"), "steps", 10, MAX_PAGE_INVERT_STEPS, PAGE_STEPS)
        align = _text(request.args.get("align") or "auto", "align", 20)
        if align not in ALIGNS:
            raise BadRequest(f"align '{align}': use one of {', '.join(ALIGNS)}")
        label = api.printable(_text(request.args.get("name") or "", "name", 200), 80)
        gen = workspace.model(name, cls)
        size = check_upload_size()
        data = read_body(size)
        with decoding.reserve(size, "decoding other photos"):  # beside the computation slot, not in it
            image = api.decode_photo(data, f"the photo {label}" if label else "the uploaded photo")
        del data
        job = workspace.begin_job("invert")  # Busy (429) while another computation runs
        start_inversion(workspace, job, name, gen, image, label, steps, align)
        return jsonify(job.public()), 202

    @app.get("/api/photo/<photo_id>")
    def photo_info(photo_id: str):
        return jsonify(stored_photo(workspace, photo_id[:64]).public())

    @app.get("/api/photo/<photo_id>/aligned")
    def aligned(photo_id: str):
        return _attachment(uint8_png(stored_photo(workspace, photo_id[:64]).inversion.target[0]), "image/png", None)

    @app.get("/api/paste")
    def paste():
        res = stored_result(workspace, request.args.get("result"))
        gen = workspace.model(res.model, res.class_name)
        photo = parse_subject(workspace, request.args, res.model, gen, res.seed)
        if not isinstance(photo, Photo):
            raise BadRequest("the edited photo needs a photo: upload one (or give photo=<id>)")
        alphas, steps = edit_args(workspace, res)
        edited, _ = workspace.edited(res, photo.latents, alphas, steps)
        try:
            with pasting.reserve(paste_bytes(photo), "pasting into other large photos"), workspace.render_slot():
                data = uint8_png(pasted(photo, gen, edited, res.region.mask))
        except KeyError:
            raise _NotFound("this photo is no longer on the server; upload it again") from None
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", photo.name.rsplit(".", 1)[0])[:60] or "photo"
        return _attachment(data, "image/png", f"{stem}-edited{f'-path{steps}' if steps else ''}.png")
