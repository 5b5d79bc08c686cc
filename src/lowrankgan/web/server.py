"""HTTP layer of ``lowrankgan serve``: Flask routes that validate every request and call the
``Workspace`` (itself glue over the public API); served by waitress (pure Python, threaded,
bounded request size and connections).

Endpoints (JSON unless noted; errors are ``{"error": message}`` with status 400/404/413/429):

``GET /``                          the page (``static/index.html``)
``GET /api/config``                models offered, methods and their parameters, limits
``GET /api/model?model&class``     resolution, classes, presets (as masks), slider range
``GET /api/image?model&class&seed[&translate&rotate]``  PNG of a seed's image; warms its Jacobian
``POST /api/compute``              ``{model, class, seed, mask, method, top_k, params[, translate, rotate]}`` -> 202
``GET /api/jobs/<job>``            ``{state, stage, elapsed_s, result|error}``
``GET /api/render?result&seed&alphas[&path_steps][&download]``   PNG of the edited image
``GET /api/strip?result&seeds&alphas[&path_steps][&outline]``    PNG: originals over edited images
``GET /api/gif?result&seed&alphas[&path_steps][&outline]``       GIF sweep of the edit

``translate`` (``TX,TY``, image widths/heights within ±1) and ``rotate`` (degrees within ±360):
StyleGAN3's input transform, moving / turning the picture first (other models: absent or zero).
A result's renders, strip, GIF and ZIP use the transform its directions were computed at.

``path_steps`` (0..8, default 0): 0 moves along the straight line ``c + Σ α_i v_i``; N > 0 follows
the path (``lowrankgan.pathedit``, as ``lowrankgan edit --path-steps N``) along ``v/|v|`` to
strength ``|v|``, ``v = Σ α_i v_i``, with the result's region and robust-PCA settings. Each step
costs one Jacobian and one robust PCA; path renders run one at a time.
``GET /api/directions?result[&alphas&path_steps]``  ZIP of the direction files (as ``lowrankgan
directions`` writes), the region as ``region.png`` and the sliders (``edit --alphas recorded``)
``GET /api/face-presets?model&class&seed``  presets that follow this seed's face (face models)

``/api/render`` answers the RMS change inside / outside the region in ``X-Change-Inside`` /
``X-Change-Outside``; a compute result carries each direction's leak and calibrated slider ends.
"""

from __future__ import annotations

import hmac
import math
import random
import re
import secrets
from importlib import resources
from pathlib import Path

import numpy as np
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from .. import api
from ..errors import LowRankGANError
from ..regions import parse_region, region_from_mask
from .session import Busy, Workspace, png_bytes, slider_max, uint8_png

MAX_BODY_BYTES = 256 * 1024  # a 128x128 mask is 16 KB of '0'/'1'
MAX_SEED = 2**31 - 1
MAX_TOP_K = 20
MAX_STRIP = 12
MAX_PATH_STEPS = 8
WEB_METHODS = tuple(name for name, m in api.METHODS.items() if m.uses_region)  # the page draws a region
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}
STATIC_DIR = Path(str(resources.files("lowrankgan.web") / "static"))
TOKEN_HEADER = "X-LowRankGAN-Token"
TOKEN_PLACEHOLDER = "__LOWRANKGAN_TOKEN__"
MAX_JSON_DEPTH = 8


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
        raise BadRequest(f"'{name}' is missing: give an integer 0..{MAX_SEED} or 'random'")
    if isinstance(value, str) and value.strip().lower() == "random":
        return random.randint(0, 99999)
    if isinstance(value, bool):
        raise BadRequest(f"bad {name} {value!r}: give an integer 0..{MAX_SEED}")
    try:
        seed = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise BadRequest(f"bad {name} '{str(value)[:40]}': give an integer 0..{MAX_SEED} or 'random'") from None
    if not 0 <= seed <= MAX_SEED:
        raise BadRequest(f"{name} {seed} is out of range 0..{MAX_SEED}")
    return seed


def parse_seeds(value: str | None, limit: int = MAX_STRIP) -> list[int]:
    text = _text(value or "", "seeds", 400)
    parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    if not parts:
        raise BadRequest("'seeds' is empty: give a comma list such as 1,2,3")
    if len(parts) > limit:
        raise BadRequest(f"too many seeds ({len(parts)}); at most {limit}")
    return [parse_seed(p, "seed") for p in parts]


def parse_alphas(value: str | None, k: int, span: float) -> list[float]:
    text = _text(value or "", "alphas", 40 * MAX_TOP_K)
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


def parse_path_steps(value: str | None) -> int:
    """Path-following steps: 0 (the straight line, default) .. MAX_PATH_STEPS."""
    text = _text(value or "", "path_steps", 20).strip()
    if not text:
        return 0
    try:
        steps = int(text)
    except ValueError:
        raise BadRequest(f"bad path_steps '{text}': give an integer 0..{MAX_PATH_STEPS} "
                         "(0 = straight line)") from None
    if not 0 <= steps <= MAX_PATH_STEPS:
        raise BadRequest(f"path_steps {steps} is out of range 0..{MAX_PATH_STEPS} (0 = straight line)")
    return steps


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
    transform = api.check_transform(translate, 0.0 if rotate is None else rotate)
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
        raise BadRequest(str(exc)) from None


def parse_top_k(value) -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        k = int(str(value if value is not None else 5))
    except ValueError:
        raise BadRequest(f"top_k must be an integer 1..{MAX_TOP_K}") from None
    if not 1 <= k <= MAX_TOP_K:
        raise BadRequest(f"top_k {k} is out of range 1..{MAX_TOP_K}")
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
    body = api.parse_json(request.get_data(cache=False), "the request body", max_depth=MAX_JSON_DEPTH)
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

def create_app(workspace: Workspace, allowed_hosts: set[str] | None = None, token: str | None = None) -> Flask:
    """The Flask app over ``workspace``. ``allowed_hosts``: Host header names accepted (None: any);
    a loopback server accepts loopback names only, which stops DNS-rebinding pages from using it.

    Every ``/api/`` request must carry ``token`` (random per server unless given; ``app.token``) in
    the ``X-LowRankGAN-Token`` header or a ``token`` query parameter. The page reads it from its own
    HTML, which other sites cannot read (same-origin policy), so a foreign page that makes the
    browser send ``GET /api/image?seed=N`` gets 403: no computation, nothing written to disk."""
    app = Flask("lowrankgan.web", static_folder=str(STATIC_DIR), static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["JSON_SORT_KEYS"] = False
    app.workspace = workspace  # type: ignore[attr-defined]

    _install_guards(app, allowed_hosts, token)
    _model_routes(app, workspace)
    _result_routes(app, workspace)
    return app


def _model_args(workspace: Workspace):
    name = request.args.get("model") or None
    name = None if name is None else _text(name, "model", 300)
    return name, parse_class(name or workspace.models[0], request.args.get("class"))



def _install_guards(app: Flask, allowed_hosts: set[str] | None, token: str | None) -> None:
    """Host check, security headers and JSON errors for every route."""
    @app.before_request
    def check_host():
        if allowed_hosts is None:
            return None
        host = (request.host or "").rsplit(":", 1)[0] if not (request.host or "").startswith("[") \
            else (request.host or "").split("]")[0] + "]"
        if host.lower() not in allowed_hosts:
            return jsonify(error=f"host '{host[:60]}' is not served here; open http://127.0.0.1:<port>/"), 403
        return None

    _add_page_and_token(app, token or secrets.token_urlsafe(32))

    @app.after_request
    def headers(resp: Response) -> Response:
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Content-Security-Policy"] = ("default-src 'self'; img-src 'self' blob: data:; "
                                                   "style-src 'self'; script-src 'self'; frame-ancestors 'none'")
        resp.headers.setdefault("Cache-Control", "no-cache")
        return resp

    @app.errorhandler(LowRankGANError)
    def user_error(exc: LowRankGANError):
        return jsonify(error=str(exc)), 404 if isinstance(exc, _NotFound) else 400

    @app.errorhandler(Busy)
    def busy(exc: Busy):
        resp = jsonify(error=str(exc))
        resp.headers["Retry-After"] = "1"
        return resp, 429

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        message = {413: f"request too large (at most {MAX_BODY_BYTES // 1024} KB)"}.get(exc.code, exc.description)
        return jsonify(error=message), exc.code

    @app.errorhandler(Exception)
    def internal(exc: Exception):  # pragma: no cover - logged, answered as JSON
        app.logger.exception("internal error")
        return jsonify(error=f"internal error: {type(exc).__name__}"), 500



def _model_routes(app: Flask, workspace: Workspace) -> None:
    """Configuration, models, images and compute jobs (the page itself: ``_add_page_and_token``)."""

    @app.get("/api/config")
    def config():
        catalog = {row["name"]: row for row in api.model_catalog()}
        return jsonify(models=[{"name": m, "description": api.model_description(m),
                                "classes": catalog[m]["classes"] if m in catalog else []} for m in workspace.models],
                       default_model=workspace.models[0], default_class=workspace.default_class,
                       methods=[d for d in api.method_descriptions() if d["name"] in WEB_METHODS],
                       limits={"top_k": MAX_TOP_K, "strip": MAX_STRIP, "seed": MAX_SEED,
                               "body_bytes": MAX_BODY_BYTES, "path_steps": MAX_PATH_STEPS,
                               "translate": api.MAX_PAGE_TRANSLATE, "rotate": api.MAX_PAGE_ROTATE})

    @app.get("/api/model")
    def model():
        return jsonify(workspace.model_info(*_model_args(workspace)))

    @app.get("/api/image")
    def image():
        name, cls = _model_args(workspace)
        seed = parse_seed(request.args.get("seed"))
        gen = workspace.model(name, cls)
        transform = parse_transform(request.args.get("translate"), request.args.get("rotate"), gen,
                                    name or workspace.models[0])
        data = uint8_png(workspace.image(gen, [seed], transform)[0])
        if not _flag(request.args.get("nowarm")):
            workspace.warm(name or workspace.models[0], gen, seed, transform)
        resp = Response(data, mimetype="image/png")
        resp.headers["X-Seed"] = str(seed)
        return resp

    @app.get("/api/face-presets")
    def face_presets():
        """Presets that follow this seed's face (empty where the model has no faces or the
        landmarks fail their checks: the fixed presets remain)."""
        name, cls = _model_args(workspace)
        seed = parse_seed(request.args.get("seed"))
        gen = workspace.model(name, cls)
        with workspace.render_slot():
            specs = api.face_presets(gen, name or workspace.models[0], seed)
        return jsonify(presets={k: "".join("1" if v else "0" for v in
                                           parse_region(spec, gen.resolution).mask.ravel())
                                for k, spec in specs.items()}, specs=specs)

    @app.post("/api/compute")
    def compute():
        body = parse_body()
        name = body.get("model") or None
        name = None if name is None else _text(name, "model", 300)
        cls = parse_class(name or workspace.models[0], body.get("class") or None)
        seed = parse_seed(body.get("seed"))
        method = _text(body.get("method") or "lowrankgan", "method", 40)
        if method not in WEB_METHODS:
            others = [m for m in api.METHODS if m not in WEB_METHODS]
            raise BadRequest(f"unknown method '{method}'; the page offers: {', '.join(WEB_METHODS)}"
                             + (f" (the CLI also has {', '.join(others)})" if others else ""))
        top_k = parse_top_k(body.get("top_k"))
        gen = workspace.model(name, cls)
        params = parse_params(method, body.get("params"))
        transform = parse_transform(body.get("translate"), body.get("rotate"), gen, name or workspace.models[0])
        region = region_from_mask(parse_mask(body.get("mask"), gen.resolution), api.analysis_size(gen))
        job = workspace.start_compute(name or workspace.models[0], gen, seed, region, method, top_k, params, transform)
        return jsonify(job.public()), 202


def _result_routes(app: Flask, workspace: Workspace) -> None:
    """Jobs, and renders and downloads of computed directions."""
    def result_or_404(result_id: str | None):
        try:
            return workspace.result(_text(result_id or "", "result", 64))
        except KeyError:
            raise _NotFound("these directions are no longer on the server (it keeps the latest "
                            f"{workspace.max_results}); press Compute again") from None

    @app.get("/api/jobs/<job_id>")
    def job(job_id: str):
        try:
            return jsonify(workspace.job(job_id[:64]).public())
        except KeyError:
            raise _NotFound(f"no job '{job_id[:20]}' (the server keeps the latest 64)") from None

    def _edit_args(res):
        """The sliders' values and the path steps of an edit request."""
        gen = workspace.model(res.model, res.class_name)
        alphas = parse_alphas(request.args.get("alphas"), res.dirset.vectors.shape[0], max(slider_max(gen), res.span))
        return alphas, parse_path_steps(request.args.get("path_steps"))

    @app.get("/api/render")
    def render_png():
        res = result_or_404(request.args.get("result"))
        seed = parse_seed(request.args.get("seed", res.seed))
        alphas, steps = _edit_args(res)
        edited = workspace.edited(res, [seed], alphas, steps)[0]
        suffix = f"-path{steps}" if steps else ""
        name = f"lowrankgan-seed{seed}-edited{suffix}.png" if _flag(request.args.get("download")) else None
        resp = _attachment(uint8_png(edited), "image/png", name)
        # The live readout beside the sliders: RMS change inside / outside the region (the leak's measure).
        gen = workspace.model(res.model, res.class_name)
        original = workspace.image(gen, [seed], res.transform or api.NO_TRANSFORM)[0]
        inside, outside = api.change_inside_outside(original, edited, res.region.mask)
        resp.headers["X-Change-Inside"], resp.headers["X-Change-Outside"] = f"{inside:.5f}", f"{outside:.5f}"
        return resp

    @app.get("/api/strip")
    def strip():
        res = result_or_404(request.args.get("result"))
        seeds = parse_seeds(request.args.get("seeds"))
        alphas, steps = _edit_args(res)
        data = png_bytes(workspace.strip(res, seeds, alphas, _flag(request.args.get("outline")), steps))
        return _attachment(data, "image/png", None)

    @app.get("/api/gif")
    def gif():
        res = result_or_404(request.args.get("result"))
        seed = parse_seed(request.args.get("seed", res.seed))
        alphas, steps = _edit_args(res)
        data = workspace.gif(res, seed, alphas, _flag(request.args.get("outline")), steps=steps)
        suffix = f"-path{steps}" if steps else ""
        return _attachment(data, "image/gif", f"lowrankgan-seed{seed}-sweep{suffix}.gif")

    @app.get("/api/directions")
    def directions():
        res = result_or_404(request.args.get("result"))
        alphas, steps = _edit_args(res)
        return _attachment(workspace.direction_zip(res, alphas, steps), "application/zip",
                           f"lowrankgan-directions-seed{res.seed}.zip")


def _add_page_and_token(app: Flask, token: str) -> None:
    """The page at ``/`` with ``token`` written into it, and the token check on every ``/api/``
    request (after the Host check, before any route runs)."""
    app.token = token  # type: ignore[attr-defined]
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8").replace(TOKEN_PLACEHOLDER, token)

    @app.before_request
    def check_token():
        if not request.path.startswith("/api/"):
            return None
        given = request.headers.get(TOKEN_HEADER) or request.args.get("token") or ""
        if not hmac.compare_digest(given.encode("utf-8", "replace"), token.encode()):
            return jsonify(error="missing or wrong page token: reload the page (http://127.0.0.1:<port>/)"), 403
        return None

    @app.get("/")
    def index():
        resp = Response(page, mimetype="text/html")
        resp.headers["Cache-Control"] = "no-store"  # the token lives as long as this server
        return resp


class _NotFound(LowRankGANError):
    pass


def make_server(app: Flask, host: str, port: int, threads: int = 6):
    """A waitress server bound to ``host:port`` (port 0: any free port; ``.effective_port``)."""
    from waitress import create_server
    try:
        return create_server(app, host=host, port=port, threads=threads, connection_limit=64,
                             max_request_body_size=MAX_BODY_BYTES, channel_timeout=60,
                             ident="lowrankgan", clear_untrusted_proxy_headers=True)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise LowRankGANError(f"cannot listen on {host}:{port}: {reason}; "
                              "choose another --port (or --host)") from None
