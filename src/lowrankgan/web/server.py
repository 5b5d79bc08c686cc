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
``GET /api/paths?result``          the background walk of the result's local paths: ``{state, done, total,
directions: [{ready, end_leaks}]}`` (``web/paths.py``); ``/api/render`` says ``X-Path-Pending: 1``
when it drew a direction whose path is not walked yet on the straight line

``translate`` (``TX,TY``, image widths/heights within ±1) and ``rotate`` (degrees within ±360):
StyleGAN3's input transform, moving / turning the picture first (other models: absent or zero).
A result's renders, strip, GIF and ZIP use the transform its directions were computed at.

``path_steps`` (0..8): 0 moves along the straight line ``c + Σ α_i v_i``; 8 (the page's default) along
each direction's local path (``lowrankgan.maths.localpath``, the default edit), walked once per result
after Compute and read from there on the result's own image; other counts, or other images, walk
their paths in the request (one Jacobian per step; such renders run one at a time).
``GET /api/directions?result[&alphas&path_steps]``  ZIP of the direction files (as ``lowrankgan
directions`` writes), the region as ``region.png`` and the sliders (``edit --alphas recorded``)
``GET /api/face-presets?model&class&seed``  presets that follow this seed's face (face models)

Every ``seed`` above may be ``photo=<id>`` instead: an uploaded photo's code (``photo_routes``:
``POST /api/photo`` inverts a photo as a job, ``GET /api/paste`` pastes an edit back into it).

``/api/render`` answers the RMS change inside / outside the region in ``X-Change-Inside`` /
``X-Change-Outside``; a compute result carries each direction's leak and calibrated slider ends.
"""

from __future__ import annotations

import hmac
import secrets
from importlib import resources
from pathlib import Path

from flask import Flask, Response, jsonify, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from .. import api
from ..errors import LowRankGANError
from .labels import page_message
from .limits import (MAX_BODY_BYTES, MAX_PAGE_PATH_STEPS, MAX_PAGE_ROTATE, MAX_PAGE_SEED, MAX_PAGE_STRIP, MAX_PAGE_TOP_K,
                     MAX_PAGE_TRANSLATE)
from .parse import (WEB_METHODS, BadRequest,
                    _attachment, _flag, _model_args, _NotFound, _text, parse_body, parse_class, parse_mask,
                    parse_params, parse_seeds, parse_subject, parse_top_k, parse_transform, edit_args, stored_result)
from .photo_routes import add_photo_routes
from .photos import subject_file_label
from .jobs import Busy
from .photos import as_seeds
from .results import png_bytes, uint8_png
from .session import Workspace

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}
STATIC_DIR = Path(str(resources.files("lowrankgan.web") / "static"))
TOKEN_HEADER = "X-LowRankGAN-Token"
TOKEN_PLACEHOLDER = "__LOWRANKGAN_TOKEN__"


def create_app(workspace: Workspace, allowed_hosts: set[str] | None = None, token: str | None = None) -> Flask:
    """The Flask app over ``workspace``. ``allowed_hosts``: Host header names accepted (None: any);
    a loopback server accepts loopback names only, which stops DNS-rebinding pages from using it.

    Every ``/api/`` request must carry ``token`` (random per server unless given; ``app.token``) in
    the ``X-LowRankGAN-Token`` header or a ``token`` query parameter. The page reads it from its own
    HTML, which other sites cannot read (same-origin policy), so a foreign page that makes the
    browser send ``GET /api/image?seed=N`` gets 403: no computation, nothing written to disk."""
    app = Flask("lowrankgan.web", static_folder=str(STATIC_DIR), static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json = _StrictJSON(app)
    app.workspace = workspace  # type: ignore[attr-defined]

    _install_guards(app, allowed_hosts, token)
    _model_routes(app, workspace)
    _result_routes(app, workspace)
    add_photo_routes(app, workspace)
    return app


class _StrictJSON(DefaultJSONProvider):
    """Responses in strict JSON: a number that is not finite (a leak never reached) is null, which
    the browser's parser takes (it refuses ``Infinity`` and ``NaN``)."""

    sort_keys = False

    def dumps(self, obj, **kwargs) -> str:
        kwargs.setdefault("allow_nan", False)
        return super().dumps(api.finite_json(obj), **kwargs)


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
        return jsonify(error=page_message(exc)), 404 if isinstance(exc, _NotFound) else 400

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
                       limits={"top_k": MAX_PAGE_TOP_K, "strip": MAX_PAGE_STRIP, "seed": MAX_PAGE_SEED,
                               "body_bytes": MAX_BODY_BYTES, "path_steps": MAX_PAGE_PATH_STEPS,
                               "photo_bytes": api.MAX_PHOTO_BYTES, "photo_pixels": api.MAX_PHOTO_PIXELS,
                               "translate": MAX_PAGE_TRANSLATE, "rotate": MAX_PAGE_ROTATE})

    @app.get("/api/model")
    def model():
        return jsonify(workspace.model_info(*_model_args(workspace)))

    @app.get("/api/image")
    def image():
        name, cls = _model_args(workspace)
        gen = workspace.model(name, cls)
        seed = parse_subject(workspace, request.args, name or workspace.models[0], gen)
        transform = parse_transform(request.args.get("translate"), request.args.get("rotate"), gen,
                                    name or workspace.models[0])
        data = uint8_png(workspace.image(gen, as_seeds(seed), transform)[0])
        if not _flag(request.args.get("nowarm")):
            workspace.warm(name or workspace.models[0], gen, seed, transform)
        resp = Response(data, mimetype="image/png")
        resp.headers["X-Seed"] = str(seed) if isinstance(seed, int) else ""
        return resp

    @app.get("/api/face-presets")
    def face_presets():
        """Regions shaped on this seed's (or photo's) own face; ``faces`` says whether the model
        draws faces, so that an empty answer on one reads "no face found" (the fixed presets remain)."""
        name, cls = _model_args(workspace)
        gen = workspace.model(name, cls)
        seed = parse_subject(workspace, request.args, name or workspace.models[0], gen)
        with workspace.render_slot():
            specs = api.face_presets(gen, name or workspace.models[0], seed if isinstance(seed, int) else seed.latents)
        return jsonify(presets={k: "".join("1" if v else "0" for v in
                                           api.parse_region(spec, gen.resolution).mask.ravel())
                                for k, spec in specs.items()}, specs=specs,
                       faces=(name or workspace.models[0]) in api.FACE_MODELS)

    @app.post("/api/compute")
    def compute():
        body = parse_body()
        name = body.get("model") or None
        name = None if name is None else _text(name, "model", 300)
        cls = parse_class(name or workspace.models[0], body.get("class") or None)
        method = _text(body.get("method") or "lowrankgan", "method", 40)
        if method not in WEB_METHODS:
            others = [m for m in api.METHODS if m not in WEB_METHODS]
            raise BadRequest(f"unknown method '{method}'; the page offers: {', '.join(WEB_METHODS)}"
                             + (f" (the CLI also has {', '.join(others)})" if others else ""))
        top_k = parse_top_k(body.get("top_k"))
        gen = workspace.model(name, cls)
        seed = parse_subject(workspace, body, name or workspace.models[0], gen)
        params = parse_params(method, body.get("params"))
        transform = parse_transform(body.get("translate"), body.get("rotate"), gen, name or workspace.models[0])
        region = api.region_from_mask(parse_mask(body.get("mask"), gen.resolution), api.analysis_size(gen))
        job = workspace.start_compute(name or workspace.models[0], gen, seed, region, method, top_k, params, transform)
        return jsonify(job.public()), 202


def _result_routes(app: Flask, workspace: Workspace) -> None:
    """Jobs, and renders and downloads of computed directions."""
    @app.get("/api/jobs/<job_id>")
    def job(job_id: str):
        try:
            return jsonify(workspace.job(job_id[:64]).public())
        except KeyError:
            raise _NotFound(f"no job '{job_id[:20]}' (the server keeps the latest 64)") from None

    def result_subject(res):
        """The request's seed or photo (default: the one the directions were found on)."""
        return parse_subject(workspace, request.args, res.model, workspace.model(res.model, res.class_name), res.seed)

    @app.get("/api/render")
    def render_png():
        res = stored_result(workspace, request.args.get("result"))
        seed = result_subject(res)
        alphas, steps = edit_args(workspace, res)
        download = _flag(request.args.get("download"))
        # A slider render shows a direction whose path is still being walked on the straight line
        # (X-Path-Pending says so); a download computes the path instead.
        edited, pending = workspace.edited(res, as_seeds(seed), alphas, steps, preview=not download)
        edited = edited[0]
        suffix = f"-path{steps}" if steps else ""
        label = subject_file_label(seed)
        name = f"lowrankgan-{label}-edited{suffix}.png" if download else None
        resp = _attachment(uint8_png(edited), "image/png", name)
        resp.headers["X-Path-Pending"] = "1" if pending else "0"
        # The live readout beside the sliders: RMS change inside / outside the region (the leak's measure).
        original = workspace.original(res, as_seeds(seed))[0]
        inside, outside = api.change_inside_outside(original, edited, res.region.mask)
        resp.headers["X-Change-Inside"], resp.headers["X-Change-Outside"] = f"{inside:.5f}", f"{outside:.5f}"
        return resp

    @app.get("/api/paths")
    def paths():
        """How far the background walk of a result's local paths is, and each ready direction's
        leak at its two ends along its path (the slider labels)."""
        res = stored_result(workspace, request.args.get("result"))
        if res.walk is None:
            return jsonify(state="none", done=0, total=0, error="", directions=[])
        return jsonify(res.walk.public(res.paths, res.end_leaks))

    @app.get("/api/strip")
    def strip():
        res = stored_result(workspace, request.args.get("result"))
        seeds = parse_seeds(request.args.get("seeds"))
        alphas, steps = edit_args(workspace, res)
        data = png_bytes(workspace.strip(res, seeds, alphas, _flag(request.args.get("outline")), steps))
        return _attachment(data, "image/png", None)

    @app.get("/api/gif")
    def gif():
        res = stored_result(workspace, request.args.get("result"))
        seed = result_subject(res)
        alphas, steps = edit_args(workspace, res)
        data = workspace.gif(res, seed, alphas, _flag(request.args.get("outline")), steps=steps)
        suffix = f"-path{steps}" if steps else ""
        label = subject_file_label(seed)
        return _attachment(data, "image/gif", f"lowrankgan-{label}-sweep{suffix}.gif")

    @app.get("/api/directions")
    def directions():
        res = stored_result(workspace, request.args.get("result"))
        alphas, steps = edit_args(workspace, res)
        label = subject_file_label(res.seed)
        return _attachment(workspace.direction_zip(res, alphas, steps), "application/zip",
                           f"lowrankgan-directions-{label}.zip")


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


def make_server(app: Flask, host: str, port: int, threads: int = 6):
    """A waitress server bound to ``host:port`` (port 0: any free port; ``.effective_port``)."""
    from waitress import create_server

    from .guard import guard, server_options
    max_body = max(MAX_BODY_BYTES, api.MAX_PHOTO_BYTES)  # the photo upload's, the largest body a route reads
    try:
        return guard(create_server(app, host=host, port=port, threads=threads, ident="lowrankgan",
                                   clear_untrusted_proxy_headers=True, **server_options(max_body)), max_body)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise LowRankGANError(f"cannot listen on {host}:{port}: {reason}; "
                              "choose another --port (or --host)") from None
