"""Request parsing for ``lowrankgan serve``: every value that comes from a request (query, JSON
body, upload) is checked here, with the page's one-line messages, before anything is computed."""

from __future__ import annotations

import math
import random
import re

import numpy as np
from flask import Response, request

from .. import api
from ..errors import LowRankGANError
from .labels import page_message
from .limits import (MAX_PAGE_JSON_DEPTH, MAX_PAGE_PATH_STEPS, MAX_PAGE_ROTATE, MAX_PAGE_SEED, MAX_PAGE_STRIP,
                     MAX_PAGE_TOP_K, MAX_PAGE_TRANSLATE)
from .photos import Photo
from .models import slider_max
from .results import Result
from .session import Workspace

WEB_METHODS = tuple(name for name, m in api.METHODS.items() if m.uses_region)  # the page draws a region


class _NotFound(LowRankGANError):
    pass


class BadRequest(LowRankGANError):
    pass


# --------------------------------------------------------------------------------------------
# request parsing: every field is checked here, before the workspace sees it

def _text(value, name: str, limit: int = 200) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"'{name}' must be a string")
    if len(value) > limit:
        raise BadRequest(f"'{name}' is too long (at most {limit} characters)")
    return value


def parse_seed(value, name: str = "seed") -> int:
    if value is None or value == "":
        raise BadRequest(f"'{name}' is missing: give an integer 0..{MAX_PAGE_SEED} or 'random'")
    if isinstance(value, str) and value.strip().lower() == "random":
        return random.randint(0, 99999)
    if isinstance(value, bool):
        raise BadRequest(f"bad {name} {value!r}: give an integer 0..{MAX_PAGE_SEED}")
    try:
        seed = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise BadRequest(f"bad {name} '{str(value)[:40]}': give an integer 0..{MAX_PAGE_SEED} or 'random'") from None
    if not 0 <= seed <= MAX_PAGE_SEED:
        raise BadRequest(f"{name} {seed} is out of range 0..{MAX_PAGE_SEED}")
    return seed


def parse_subject(workspace: Workspace, source, model: str, gen: api.GeneratorAdapter,
                  default: int | Photo | None = None) -> int | Photo:
    """The image a request is about: ``photo=<id>`` (an uploaded photo's code, for the model and
    class it was inverted with), else ``seed`` (else ``default``). ``source``: query or JSON body."""
    photo_id = source.get("photo") or None
    if photo_id is not None and source.get("seed") not in (None, ""):
        raise BadRequest("give 'seed' or 'photo', not both")
    if photo_id is None:
        if isinstance(default, Photo) and source.get("seed") in (None, ""):
            return default
        return parse_seed(source.get("seed", default))
    photo = stored_photo(workspace, _text(photo_id, "photo", 64))
    if (photo.model, photo.class_name) != (model, gen.class_name):
        raise BadRequest(f"this photo was inverted with model {photo.model}; upload it again to edit it with {model}")
    return photo


def stored_photo(workspace: Workspace, photo_id: str) -> Photo:
    """An uploaded photo by id; 404 once the store has dropped it."""
    try:
        return workspace.photos.get(photo_id)
    except KeyError:
        raise _NotFound(f"this photo is no longer on the server (it keeps the latest {workspace.photos.max_photos}); "
                        "upload it again") from None


def stored_result(workspace: Workspace, result_id: str | None) -> Result:
    """Computed directions by id; 404 once the workspace has dropped them."""
    try:
        return workspace.result(_text(result_id or "", "result", 64))
    except KeyError:
        raise _NotFound("these directions are no longer on the server (it keeps the latest "
                        f"{workspace.max_results}); press Compute again") from None


def edit_args(workspace: Workspace, res: Result) -> tuple[list[float], int]:
    """The sliders' values and the path steps of a request that renders ``res``'s directions."""
    gen = workspace.model(res.model, res.class_name)
    alphas = parse_alphas(request.args.get("alphas"), res.dirset.vectors.shape[0], max(slider_max(gen), res.span))
    return alphas, parse_path_steps(request.args.get("path_steps"))


def parse_seeds(value: str | None, limit: int = MAX_PAGE_STRIP) -> list[int]:
    text = _text(value or "", "seeds", 400)
    parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    if not parts:
        raise BadRequest("'seeds' is empty: give a comma list such as 1,2,3")
    if len(parts) > limit:
        raise BadRequest(f"too many seeds ({len(parts)}); at most {limit}")
    return [parse_seed(p, "seed") for p in parts]


def parse_alphas(value: str | None, k: int, span: float) -> list[float]:
    text = _text(value or "", "alphas", 40 * MAX_PAGE_TOP_K)
    if not text.strip():
        return [0.0] * k
    try:
        alphas = [float(v) for v in text.split(",")]
    except ValueError:
        raise BadRequest("bad 'alphas': give a comma list of numbers, one per direction") from None
    if len(alphas) > k:
        raise BadRequest(f"{len(alphas)} slider values for {k} directions")
    limit = 4 * span
    if any(not math.isfinite(a) or abs(a) > limit for a in alphas):
        raise BadRequest(f"slider values must be finite numbers within ±{limit:g}")
    return alphas


def parse_count(value: str | None, name: str, low: int, high: int, default: int, hint: str = "") -> int:
    """An integer request field within ``low..high`` (``default`` when empty); ``hint`` is added to
    its messages."""
    text = _text(value or "", name, 20).strip()
    if not text:
        return default
    try:
        count = int(text)
    except ValueError:
        raise BadRequest(f"bad {name} '{text}': give an integer {low}..{high}{hint}") from None
    if not low <= count <= high:
        raise BadRequest(f"{name} {count} is out of range {low}..{high}{hint}")
    return count


def parse_path_steps(value: str | None) -> int:
    """Local path steps: 0 (the straight line) .. MAX_PAGE_PATH_STEPS; default the library's (the
    paths the page computed at Compute)."""
    return parse_count(value, "path_steps", 0, MAX_PAGE_PATH_STEPS, api.DEFAULT_STEPS, " (0 = straight line)")


def parse_transform(translate, rotate, gen: api.GeneratorAdapter, name: str) -> api.Transform:
    """StyleGAN3's input transform: ``translate`` as ``"TX,TY"`` (or a JSON pair), ``rotate`` in
    degrees; absent or empty means none. Models without one accept only none."""
    if isinstance(translate, str):
        translate = _text(translate, "translate", 60).split(",") if translate.strip() else None
    if translate is None:
        translate = [0.0, 0.0]
    if isinstance(rotate, str):
        rotate = _text(rotate, "rotate", 30).strip() or None
    if (not isinstance(translate, list) or len(translate) != 2
            or any(isinstance(v, (bool, dict, list)) or v is None for v in (*translate, rotate or 0))):
        raise BadRequest("bad 'translate' / 'rotate': give translate as TX,TY (image widths/heights) and rotate in degrees")
    transform = api.check_transform(translate, 0.0 if rotate is None else rotate, MAX_PAGE_TRANSLATE, MAX_PAGE_ROTATE)
    if transform != api.NO_TRANSFORM and not api.supports_input_transform(gen):
        raise BadRequest(f"model {name[:80]} has no input transform: translate / rotate need a StyleGAN3 model; "
                         "leave them at 0")
    return transform


def parse_mask(value, resolution: int) -> np.ndarray:
    """The drawn region: a string of '0'/'1', row-major, ``resolution²`` long."""
    text = _text(value, "mask", resolution * resolution)
    if len(text) != resolution * resolution:
        raise BadRequest(f"'mask' has {len(text)} values; the model's images are {resolution}x{resolution} "
                         f"({resolution * resolution} values)")
    if text.strip("01"):
        raise BadRequest("'mask' may hold only the characters 0 and 1")
    return (np.frombuffer(text.encode("ascii"), np.uint8) == ord("1")).reshape(resolution, resolution)


def parse_params(method: str, params) -> dict:
    """The method's parameters checked against the registry (type, range, choices); empty fields
    take the defaults."""
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise BadRequest("'params' must be an object")
    given = {str(k)[:40]: v for k, v in params.items() if v is not None and v != ""}
    try:
        return api.get_method(method).check_params(given)
    except LowRankGANError as exc:
        raise BadRequest(page_message(exc)) from None


def parse_top_k(value) -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        k = int(str(value if value is not None else 5))
    except ValueError:
        raise BadRequest(f"top_k must be an integer 1..{MAX_PAGE_TOP_K}") from None
    if not 1 <= k <= MAX_PAGE_TOP_K:
        raise BadRequest(f"top_k {k} is out of range 1..{MAX_PAGE_TOP_K}")
    return k


def parse_class(model: str, value) -> str | None:
    """The class as the model names it, before any model is looked up: ``0``, ``00`` and ``000``
    are one class (and one loaded model), and a zoo model's unknown class costs no load."""
    if value is None or value == "":
        return None
    key = _text(value, "class", 64).strip().lower()
    if re.fullmatch(r"[0-9]{1,9}", key):
        key = str(int(key))
    entry = next((row for row in api.model_catalog() if row["name"] == model and row["source"] == "zoo"), None)
    if entry is None:
        return key
    classes = entry["classes"]
    if not classes:
        raise BadRequest(f"model {model} is not class-conditional; leave 'class' empty")
    if key.isdigit() and int(key) < len(classes):
        return classes[int(key)]
    if key not in classes:
        raise BadRequest(f"unknown class '{key[:40]}' for model {model}; use one of: {', '.join(classes)}")
    return key


def parse_body() -> dict:
    """The request's JSON object: bounded in size (by the server) and in nesting before parsing."""
    if not request.is_json:
        raise BadRequest("send a JSON object (Content-Type: application/json): {model, class, seed, mask, ...}")
    body = api.parse_json(request.get_data(cache=False), "the request body", max_depth=MAX_PAGE_JSON_DEPTH)
    if not isinstance(body, dict):
        raise BadRequest("send a JSON object: {model, class, seed, mask, method, top_k, params}")
    return body


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes", "on")


def _attachment(data: bytes, mimetype: str, filename: str | None) -> Response:
    resp = Response(data, mimetype=mimetype)
    if filename:
        resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


# --------------------------------------------------------------------------------------------


def _model_args(workspace: Workspace):
    name = request.args.get("model") or None
    name = None if name is None else _text(name, "model", 300)
    return name, parse_class(name or workspace.models[0], request.args.get("class"))
