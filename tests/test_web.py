"""`lowrankgan serve`: the HTTP API through Flask's test client, and the page in a real browser
(headless Debian Chromium driven by Playwright).

The browser test skips when Chromium or Playwright is missing, except under CI (env CI set),
where it fails: run `bash scripts/install_browser.sh .venv/bin/python` first.
With LOWRANKGAN_SCREENSHOT=1 it writes the README screenshots to docs/serve.png (1400 px wide) and
docs/serve-narrow.png (800 px).
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lowrankgan.errors import LowRankGANError

ROOT = Path(__file__).resolve().parents[1]
CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
CHROMIUM = os.environ.get("LOWRANKGAN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
EYES = (23, 16, 10, 31)  # the dcgan-faces "eyes" preset: TOP, LEFT, HEIGHT, WIDTH
SEED = 6  # a face whose eye directions are clearly local (inside/outside change about 3x)
TOKEN = "test-token-0123456789"  # the page token of the test servers (random per server otherwise)


def _require(module: str, why: str):
    try:
        return __import__(module)
    except ImportError:
        message = f"{module} is not installed ({why}); pip install 'lowrankgan[web,test]'"
        if CI:
            pytest.fail(message)
        pytest.skip(message)


_require("flask", "the web extra")
_require("waitress", "the web extra")

from lowrankgan.web.limits import MAX_BODY_BYTES  # noqa: E402
from lowrankgan.web.server import create_app, make_server  # noqa: E402
from lowrankgan.maths.regions import mask_to_spec  # noqa: E402
from lowrankgan.web.session import Workspace  # noqa: E402
from helpers import wait_job, wait_paths  # noqa: E402


def box_mask(top: int, left: int, height: int, width: int, size: int = 64) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    mask[top:top + height, left:left + width] = True
    return mask


def bits(mask: np.ndarray) -> str:
    return "".join("1" if v else "0" for v in mask.ravel())


def png_array(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float32)


def inside_outside(before: np.ndarray, after: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    change = np.abs(after - before).mean(-1)
    return float(change[mask].mean()), float(change[~mask].mean())


@pytest.fixture(scope="module")
def workspace():
    workspace = Workspace(["dcgan-faces"], device="cpu")
    yield workspace
    workspace.close(timeout=120.0)  # no path walk or warm-up outlives the module (they write the Jacobian cache)


@pytest.fixture(scope="module")
def client(workspace):
    client = create_app(workspace, allowed_hosts={"localhost", "127.0.0.1"}, token=TOKEN).test_client()
    client.environ_base["HTTP_X_LOWRANKGAN_TOKEN"] = TOKEN  # what the page sends on every request
    return client


def urlopen(url: str, timeout: float):
    """``urllib.request.urlopen`` with the page token, as the page's requests carry it."""
    from urllib.request import Request, urlopen as _urlopen
    return _urlopen(Request(url, headers={"X-LowRankGAN-Token": TOKEN}), timeout=timeout)


def compute(client, seed: int = SEED, mask: np.ndarray | None = None, walked: bool = True, **extra) -> dict:
    """A Compute job's answer; ``walked``: once its local paths are walked too (the renders read them)."""
    body = {"seed": seed, "mask": bits(box_mask(*EYES) if mask is None else mask), "method": "lowrankgan",
            "top_k": 5, **extra}
    resp = client.post("/api/compute", json=body)
    assert resp.status_code == 202, resp.get_json()
    job = wait_job(client, resp.get_json()["job"])
    assert job["state"] == "done", job
    if walked:
        assert wait_paths(client, job["result"]["result"])["state"] == "done"
    return job


@pytest.fixture(scope="module")
def result(client):
    return compute(client)["result"]


# ------------------------------------------------------------------------------------- light parts

def test_import_is_light():
    code = ("import sys, lowrankgan.web as w; "
            "bad = [m for m in ('flask', 'waitress', 'werkzeug') if m in sys.modules]; "
            "assert not bad, bad; assert callable(w.serve)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cli_registers_serve():
    from lowrankgan.cli import build_parser
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.device, args.model) == ("127.0.0.1", 7860, "auto", None)
    args = build_parser().parse_args(["serve", "--model", "dcgan-faces", "--port", "0", "--device", "cpu"])
    assert args.port == 0 and args.model == "dcgan-faces"


def test_port_in_use_is_one_line_error(capsys):
    from lowrankgan import main
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        code = main(["serve", "--model", "dcgan-faces", "--device", "cpu", "--port", str(port), "--no-warmup"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("lowrankgan: error: cannot listen on 127.0.0.1:") and "--port" in err
    assert len(err.splitlines()) == 1


def test_bad_port_and_model_are_errors():
    from lowrankgan.web import serve
    with pytest.raises(LowRankGANError, match="out of range"):
        serve(port=70000)
    with pytest.raises(LowRankGANError, match="unknown model"):
        serve(["no-such-model"], port=0, warmup=False)


@pytest.mark.parametrize("seed", range(5))
def test_mask_to_spec_round_trips(seed):
    from lowrankgan.maths.regions import parse_region
    rng = np.random.default_rng(seed)
    mask = rng.random((64, 64)) < [0.02, 0.3, 0.7, 0.98, 0.5][seed]
    mask[0, 0], mask[-1, -1] = True, False
    assert (parse_region(mask_to_spec(mask), 64).mask == mask).all()
    assert mask_to_spec(box_mask(*EYES)) == "box:23,16,10,31"


# ------------------------------------------------------------------------------------- API

def test_config_and_model(client):
    config = client.get("/api/config").get_json()
    assert config["default_model"] == "dcgan-faces"
    assert [m["name"] for m in config["methods"]] == ["lowrankgan", "resefa"]  # the region methods
    lowrankgan = config["methods"][0]
    assert [p["name"] for p in lowrankgan["params"]] == ["lam", "relax", "rank_rtol", "order"]
    assert lowrankgan["params"][0]["default"] == "1/sqrt(d)" and lowrankgan["params"][3]["choices"] == ["ratio", "energy", "paper"]
    info = client.get("/api/model").get_json()
    assert info["resolution"] == 64 and info["latent_dim"] == 100 and info["slider_max"] == 3.0
    assert info["presets"]["eyes"] == bits(box_mask(*EYES))
    page = client.get("/")
    assert page.status_code == 200 and b"app.js" in page.data
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    for asset in ("app.js", "style.css"):
        assert client.get(f"/static/{asset}").status_code == 200


def test_page_uses_no_external_resources(client):
    scripts = re.findall(r'<script src="(/static/[\w.-]+)"></script>', client.get("/").get_data(as_text=True))
    assert "/static/app.js" in scripts and len(scripts) > 2
    for path in ("/", "/static/style.css", *scripts):
        text = client.get(path).get_data(as_text=True)
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, path


def test_image_is_the_seed_png(client):
    from lowrankgan import load_model, sample
    from lowrankgan.files.report import to_uint8
    resp = client.get("/api/image?seed=7&nowarm=1")
    assert resp.status_code == 200 and resp.mimetype == "image/png"
    expected = to_uint8(sample(load_model("dcgan-faces", device="cpu"), [7]))[0]
    assert (png_array(resp.data) == expected).all()


@pytest.mark.parametrize("query, message", [
    ("seed=-1", "out of range"), ("seed=abc", "bad seed"), (f"seed={2**31}", "out of range"), ("", "missing"),
    ("seed=1&model=/etc/passwd", "unknown model"), ("seed=1&model=omniart", "unknown model"),
    ("seed=1&class=blue", "not class-conditional"),
])
def test_image_validation(client, query, message):
    resp = client.get(f"/api/image?{query}")
    assert resp.status_code == 400
    assert message in resp.get_json()["error"]


@pytest.mark.parametrize("change, message", [
    ({"mask": bits(np.zeros((64, 64), bool))}, "empty"),
    ({"mask": bits(np.ones((64, 64), bool))}, "whole image"),
    ({"mask": "01" * 100}, "4096 values"),
    ({"mask": "2" * 4096}, "only the characters"),
    ({"mask": 5}, "must be a string"),
    ({"method": "sefa"}, "unknown method"),
    ({"top_k": 0}, "out of range"), ({"top_k": 99}, "out of range"), ({"top_k": "x"}, "integer"),
    ({"params": {"lam": -1}}, "out of range"), ({"params": {"lam": "nan"}}, "finite"),
    ({"params": {"relax": 5000}}, "out of range"), ({"params": {"order": "best"}}, "one of"),
    ({"params": {"tau": 0.1}}, "unknown parameter"), ({"params": [1]}, "object"),
    ({"method": "resefa", "params": {"tau": 2}}, "out of range"),
    ({"seed": "1e9"}, "bad seed"), ({"seed": True}, "bad seed"),
    ({"model": "../x.pt"}, "unknown model"),
])
def test_compute_validation(client, change, message):
    body = {"seed": 1, "mask": bits(box_mask(*EYES)), "method": "lowrankgan", "top_k": 5, **change}
    resp = client.post("/api/compute", json=body)
    assert resp.status_code == 400, resp.get_json()
    assert message in resp.get_json()["error"]


def test_compute_needs_json_and_bounds_size(client):
    assert client.post("/api/compute", data="seed=1").status_code == 400
    resp = client.post("/api/compute", data="x" * (MAX_BODY_BYTES + 1), content_type="application/json")
    assert resp.status_code == 413 and "too large" in resp.get_json()["error"]


def test_foreign_host_header_is_refused(client):
    assert client.get("/api/config", headers={"Host": "attacker.example:7860"}).status_code == 403
    assert client.get("/api/config", headers={"Host": "127.0.0.1:7860"}).status_code == 200


def test_one_compute_at_a_time(client, workspace):
    body = {"seed": 11, "mask": bits(box_mask(*EYES)), "method": "resefa", "top_k": 3}
    with workspace.cpu_lock:  # the first job waits for the CPU: the second request must be refused
        first = client.post("/api/compute", json=body)
        second = client.post("/api/compute", json=body)
        assert first.status_code == 202
        assert second.status_code == 429 and "another computation" in second.get_json()["error"]
        assert client.get(f"/api/jobs/{first.get_json()['job']}").get_json()["stage"] == "waiting for the CPU"
    assert wait_job(client, first.get_json()["job"])["state"] == "done"


def test_unknown_result_and_job_are_404(client):
    assert client.get("/api/render?result=deadbeef").status_code == 404
    assert "Compute again" in client.get("/api/render?result=deadbeef").get_json()["error"]
    assert client.get("/api/jobs/nope").status_code == 404


def test_compute_then_sliders_edit_the_region(client, result):
    assert result["k"] == 5 and result["method"] == "lowrankgan" and result["region"] == "box:23,16,10,31"
    base = client.get(f"/api/render?result={result['result']}")
    original = client.get(f"/api/image?seed={SEED}&nowarm=1")
    assert base.status_code == 200 and base.data == original.data  # all sliders at 0: the original
    mask = box_mask(*EYES)
    for index in range(2):
        alphas = ["0"] * 5
        alphas[index] = "2.5"
        moved = client.get(f"/api/render?result={result['result']}&alphas={','.join(alphas)}")
        inside, outside = inside_outside(png_array(original.data), png_array(moved.data), mask)
        assert inside > 3.0 and inside > 2 * outside, (index, inside, outside)


def test_sliders_compose_like_the_api(client, result, workspace):
    """Two sliders at once give ``code + a0 v0 + a1 v1`` rendered by the API."""
    import torch
    from lowrankgan.maths.edit import render
    from lowrankgan.files.report import to_uint8
    res = workspace.result(result["result"])
    gen = workspace.model("dcgan-faces")
    code = gen.sample([SEED], "z")
    v = torch.from_numpy(res.dirset.vectors)
    expected = to_uint8(render(gen, code + 1.5 * v[0] - 2.0 * v[1], "z"))[0]
    # path_steps=0: the straight line (the default follows each slider's local path)
    got = png_array(client.get(f"/api/render?result={result['result']}&alphas=1.5,-2&path_steps=0").data)
    assert np.abs(got - expected).max() <= 1


@pytest.mark.parametrize("alphas, message", [("1,2,3,4,5,6", "6 slider values"), ("x", "numbers"),
                                             ("100", "within"), ("nan", "within"), ("inf", "within")])
def test_render_validation(client, result, alphas, message):
    resp = client.get(f"/api/render?result={result['result']}&alphas={alphas}")
    assert resp.status_code == 400 and message in resp.get_json()["error"]


def test_strip_gif_and_downloads(client, result, tmp_path):
    from lowrankgan.files.directionfile import load_directions
    from lowrankgan.maths.regions import parse_region
    rid = result["result"]
    strip = client.get(f"/api/strip?result={rid}&seeds=1,2,3&alphas=2.5&outline=1")
    assert strip.status_code == 200
    assert Image.open(io.BytesIO(strip.data)).size == (3 * 132 + 4, 2 * 132 + 4)  # 2 rows of 3 cells, 128 px
    assert client.get(f"/api/strip?result={rid}&seeds={','.join(['1'] * 13)}").status_code == 400

    gif = client.get(f"/api/gif?result={rid}&alphas=2")
    assert gif.status_code == 200 and "attachment" in gif.headers["Content-Disposition"]
    assert Image.open(io.BytesIO(gif.data)).n_frames == 16  # 9 frames there and back

    png = client.get(f"/api/render?result={rid}&alphas=2&download=1")
    assert png.headers["Content-Disposition"].endswith('.png"')

    zipped = client.get(f"/api/directions?result={rid}")
    assert zipped.status_code == 200
    with zipfile.ZipFile(io.BytesIO(zipped.data)) as zf:
        assert sorted(zf.namelist()) == ["directions/directions.json", "directions/directions.npy",
                                         "directions/latent.npy", "directions/region.png"]
        zf.extractall(tmp_path)
    dirset = load_directions(tmp_path / "directions")
    assert dirset.vectors.shape == (5, 100) and dirset.meta["seeds"] == [SEED]
    assert (parse_region(dirset.meta["region"], 64).mask == box_mask(*EYES)).all()
    assert (parse_region(str(tmp_path / "directions" / "region.png"), 64).mask == box_mask(*EYES)).all()
    # The CLI edits with the downloaded files.
    from lowrankgan.cli import main
    out = tmp_path / "edit.png"
    assert main(["edit", "--model", "dcgan-faces", "--device", "cpu", "--directions", str(tmp_path / "directions"),
                 "--seeds", str(SEED), "--outline", "--out", str(out)]) == 0 and out.exists()


def http_get(base: str, path: str) -> tuple[int, bytes, dict]:
    """GET over HTTP (waitress worker threads, as the page gets them): status, body, headers."""
    from urllib.error import HTTPError
    try:
        with urlopen(base + path, timeout=120) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def in_thread(fn):
    """``fn()`` in a fresh thread. Path renders go over HTTP and the reference here runs in a
    thread: on this CPU, MKL's eigh (robust PCA) in the main thread can be ~100x slower once
    other threads have used it (0.4 s instead of 1 ms per call)."""
    out = []
    thread = threading.Thread(target=lambda: out.append(fn()))
    thread.start()
    thread.join()
    return out[0]


def test_path_render_follows_the_path(client, result, workspace, live_server):
    """A slider render moves along each direction's local path to the slider's ends (cached at
    Compute for the result's own image, so the default render pays no Jacobian); ``path_steps`` N
    recomputes the paths with N steps to the same ends; 0 is the straight line. Each is the API's
    ``composed_edit`` with the page's recorded ends (glue, no maths of its own)."""
    from lowrankgan import api
    from lowrankgan.files.report import to_uint8
    rid = result["result"]
    res = workspace.result(rid)
    gen = workspace.model("dcgan-faces")
    assert len(res.path_tops) == res.dirset.vectors.shape[0] and all(t > 0 for p in res.path_tops for t in p)
    alpha = 0.9 * res.path_tops[0][0]  # near the slider's + end: a strong edit
    original = client.get(f"/api/image?seed={SEED}&nowarm=1").data
    times, renders = {}, {}
    for steps in ("", "", 0, 2):  # "" (the default) twice: the second render reads the cached paths
        t0 = time.perf_counter()
        arg = f"&path_steps={steps}" if steps != "" else ""
        status, data, headers = http_get(live_server, f"/api/render?result={rid}&alphas={alpha}{arg}")
        times.setdefault(steps, []).append(time.perf_counter() - t0)
        assert status == 200 and headers["Content-Type"] == "image/png", data[:200]
        renders[steps] = png_array(data)
    print(f"\n[web timing] slider render over HTTP: cached path {[round(1000 * t) for t in times['']]} ms, "
          f"straight {1000 * times[0][0]:.0f} ms, 2-step path recomputed {1000 * times[2][0]:.0f} ms")

    def api_edit(**kw) -> np.ndarray:
        images = in_thread(lambda: api.composed_edit(gen, res.dirset, [SEED], [alpha], region=res.region,
                                                     path_tops=res.path_tops, **kw))
        return to_uint8(images)[0].astype(float)

    assert np.abs(renders[""] - api_edit()).max() <= 1
    assert np.abs(renders[0] - api_edit(path_steps=0)).max() <= 1
    assert np.abs(renders[2] - api_edit(path_steps=2)).max() <= 1
    assert np.abs(renders[""] - renders[0]).mean() > 0.5, "the path render is the straight line"
    # The local path keeps the rest stiller than the straight line at this strength, and the edit is local.
    mask = box_mask(*EYES)
    inside, outside = inside_outside(png_array(original), renders[""], mask)
    s_inside, s_outside = inside_outside(png_array(original), renders[0], mask)
    assert inside > 3.0 and inside > 2 * outside, (inside, outside)
    assert outside / inside < s_outside / s_inside, ((inside, outside), (s_inside, s_outside))
    # All sliders at zero: the original image, whatever the steps.
    assert client.get(f"/api/render?result={rid}&path_steps=3").data == original


def test_path_strip_gif_and_download(client, result, live_server):
    rid = result["result"]
    status, strip, _ = http_get(live_server, f"/api/strip?result={rid}&seeds=1,2&alphas=2.5&path_steps=1")
    assert status == 200
    assert Image.open(io.BytesIO(strip)).size == (2 * 132 + 4, 2 * 132 + 4)
    assert strip != client.get(f"/api/strip?result={rid}&seeds=1,2&alphas=2.5").data
    status, gif, headers = http_get(live_server, f"/api/gif?result={rid}&alphas=2&path_steps=1")
    assert status == 200 and headers["Content-Disposition"].endswith('-path1.gif"')
    assert Image.open(io.BytesIO(gif)).n_frames == 16
    status, _, headers = http_get(live_server, f"/api/render?result={rid}&alphas=2&path_steps=1&download=1")
    assert status == 200 and headers["Content-Disposition"].endswith('-path1.png"')


@pytest.mark.parametrize("endpoint", ["render", "strip", "gif"])
@pytest.mark.parametrize("steps, message", [("9", "path_steps 9 is out of range 0..8"),
                                            ("-1", "out of range 0..8"), ("x", "bad path_steps"),
                                            ("2.5", "bad path_steps")])
def test_path_steps_validation(client, result, endpoint, steps, message):
    resp = client.get(f"/api/{endpoint}?result={result['result']}&seeds=1&alphas=1&path_steps={steps}")
    assert resp.status_code == 400 and message in resp.get_json()["error"], resp.get_json()


def test_path_renders_leave_a_slot_for_sliders(client, result, workspace, live_server):
    """Path renders run one at a time: while one runs, slider renders still go through, and a
    second path render waits for it (then 429, busy)."""
    rid = result["result"]
    saved = workspace.slots.path_wait_s
    with workspace.slots.path():
        workspace.slots.path_wait_s = 0.05
        try:
            assert client.get(f"/api/render?result={rid}&alphas=1").status_code == 200
            busy = client.get(f"/api/render?result={rid}&alphas=1&path_steps=1")
            assert busy.status_code == 429 and "path" in busy.get_json()["error"]
        finally:
            workspace.slots.path_wait_s = saved
    assert http_get(live_server, f"/api/render?result={rid}&alphas=1&path_steps=1")[0] == 200


def test_compute_and_renders_on_the_default_model(client, workspace, live_server):
    """Directions after "compute" with the Jacobian warmed (seed shown), and slider renders over
    HTTP (waitress worker threads, as the page gets them)."""
    client.get("/api/image?seed=21")  # showing a seed warms its Jacobian in the background
    end = time.monotonic() + 60
    while not workspace.warmer.is_warm("dcgan-faces", workspace.model("dcgan-faces"), 21) and time.monotonic() < end:
        time.sleep(0.05)
    t0 = time.perf_counter()
    job = compute(client, seed=21, mask=box_mask(48, 23, 8, 17))
    compute_s = time.perf_counter() - t0
    api_s = sum(job["result"]["timing_s"].values())  # what find_directions itself reports
    rid = job["result"]["result"]
    times = []
    for i in range(20):
        t0 = time.perf_counter()
        with urlopen(f"{live_server}/api/render?result={rid}&alphas={(i - 10) * 0.3:.2f},0.5", timeout=30) as resp:
            assert resp.status == 200 and resp.read(8) == b"\x89PNG\r\n\x1a\n"
        times.append(time.perf_counter() - t0)
    render_ms = 1000 * float(np.median(times))
    print(f"\n[web timing] compute {compute_s:.3f} s with a warm Jacobian (find_directions: {api_s:.3f} s, "
          f"{job['result']['timing_s']}), slider render median {render_ms:.1f} ms")
    # Speed is measured by benchmarks, not asserted here; the renders above must all have worked.
    assert len(times) == 20 and job["state"] == "done"


def test_live_server_on_a_free_port(live_server):
    with urlopen(f"{live_server}/api/config", timeout=10) as resp:
        assert json.loads(resp.read())["default_model"] == "dcgan-faces"


# ------------------------------------------------------------------------------------- browser

@pytest.fixture(scope="module")
def live_server(workspace):
    app = create_app(workspace, allowed_hosts={"localhost", "127.0.0.1"}, token=TOKEN)
    server = make_server(app, "127.0.0.1", 0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        message = "playwright is not installed: run `bash scripts/install_browser.sh .venv/bin/python`"
        pytest.fail(message) if CI else pytest.skip(message)
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: run `bash scripts/install_browser.sh` (Debian package chromium)"
        pytest.fail(message) if CI else pytest.skip(message)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


PIXELS_JS = """() => {
  const img = document.getElementById('image');
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  return Array.from(ctx.getImageData(0, 0, c.width, c.height).data);
}"""


def open_page(browser, url: str, width: int = 1400, height: int = 940, ready: str = "naturalWidth > 0"):
    """A new browser page on ``url`` with every page error and console error collected in
    ``errors`` (each browser test asserts it stays empty), once the page has loaded its model."""
    # bypass_csp: Playwright's wait_for_function evaluates strings, which the page's CSP forbids.
    context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(url)
    page.wait_for_function(f"window.lrg && window.lrg.state.info && document.getElementById('image').{ready}")
    return context, page, errors


def page_pixels(page) -> np.ndarray:
    data = np.asarray(page.evaluate(PIXELS_JS), np.float32)
    size = int(round((data.size / 4) ** 0.5))
    return data.reshape(size, size, 4)[..., :3]


@pytest.mark.slow
def test_browser_draw_compute_slide(browser, live_server, tmp_path):
    context, page, errors = open_page(browser, live_server + "/")
    page.fill("#seed", str(SEED))
    page.dispatch_event("#seed", "change")
    page.wait_for_function("document.getElementById('image').src.startsWith('blob:') && window.lrg.idle()")

    # Draw the region: a rectangle over the eyes, then a brush dab that the eraser takes away again.
    box = page.locator("#overlay").bounding_box()
    cell = box["width"] / 64

    def at(row: float, col: float) -> tuple[float, float]:
        return box["x"] + (col + 0.5) * cell, box["y"] + (row + 0.5) * cell

    top, left, height, width = EYES
    page.click("#tool-rect")
    page.mouse.move(*at(top, left))
    page.mouse.down()
    page.mouse.move(*at(top + height // 2, left + width // 2), steps=4)
    page.mouse.move(*at(top + height - 1, left + width - 1), steps=4)
    page.mouse.up()
    page.click("#tool-brush")
    page.mouse.move(*at(55, 10))
    page.mouse.down()
    page.mouse.move(*at(55, 14), steps=3)
    page.mouse.up()
    page.click("#erase")
    page.mouse.move(*at(55, 8))
    page.mouse.down()
    page.mouse.move(*at(55, 16), steps=6)
    page.mouse.up()
    page.click("#erase")
    mask = np.asarray(page.evaluate("Array.from(window.lrg.state.mask)"), bool).reshape(64, 64)
    assert (mask == box_mask(*EYES)).all(), "the drawn region is not the rectangle"

    before = page_pixels(page)
    t0 = time.perf_counter()
    page.click("#compute")
    page.wait_for_selector("#slider-0", timeout=300_000)
    compute_s = time.perf_counter() - t0
    page.wait_for_function("window.lrg.idle()")
    assert page.locator("#sliders input[type=range]").count() == 5

    # Drag the first slider most of the way to the right: the image follows.
    slider = page.locator("#slider-0").bounding_box()
    y = slider["y"] + slider["height"] / 2
    page.mouse.move(slider["x"] + slider["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(slider["x"] + slider["width"] * 0.95, y, steps=10)
    page.mouse.up()
    page.wait_for_function("window.lrg.idle()")
    alpha = page.evaluate("window.lrg.state.alphas[0]")  # the raw strength (the slider is calibrated)
    assert alpha > 1.0 and float(page.locator("#slider-0").input_value()) > 0.8
    after = page_pixels(page)
    inside, outside = inside_outside(before, after, mask)
    assert inside > 3.0 and inside > 2 * outside, (inside, outside)

    # The local paths are walked after Compute answered: the labels fill in, and an image that drew the
    # slider on the straight line meanwhile renders again along its path.
    page.wait_for_function("window.lrg.state.result.paths.state === 'done' && window.lrg.idle()", timeout=600_000)
    assert not page.evaluate("window.lrg.state.shownPending")
    assert page.locator("#path-status").text_content() == ""
    assert all(page.text_content(f"#leak-{i}").startswith("leak +") for i in range(5))

    # Path steps 2: dragging renders the straight line live, releasing the slider follows the path.
    page.evaluate("""() => { const el = document.getElementById('path-status'); window.seenStatus = [];
      new MutationObserver(() => window.seenStatus.push(el.textContent))
        .observe(el, {childList: true, characterData: true, subtree: true}); }""")
    page.fill("#path-steps", "2")
    page.dispatch_event("#path-steps", "change")
    page.wait_for_function("window.lrg.idle() && window.lrg.state.shownSteps === 2", timeout=60_000)
    page.mouse.move(slider["x"] + slider["width"] * 0.95, y)
    page.mouse.down()
    page.mouse.move(slider["x"] + slider["width"] * 0.99, y, steps=4)
    page.mouse.up()
    page.wait_for_function("window.lrg.idle() && window.lrg.state.shownSteps === 2 && "
                           "window.lrg.state.pathRenders.length >= 2", timeout=60_000)
    assert "following path…" in page.evaluate("window.seenStatus")
    assert page.locator("#path-status").text_content() == ""
    assert "path_steps=2" in page.get_attribute("#dl-png", "href")
    path_after = page_pixels(page)
    inside, outside = inside_outside(before, path_after, mask)
    assert inside > 3.0 and inside > 2 * outside, (inside, outside)

    # Other seeds, downloads, outline toggle.
    page.click("#strip-apply")
    page.wait_for_selector("#strip:not([hidden])")
    page.wait_for_function("document.getElementById('strip').naturalWidth > 0")
    for link in ("#dl-png", "#dl-gif", "#dl-dirs"):
        href = page.get_attribute(link, "href")
        assert href.startswith("/api/") and "result=" in href
        resp = page.request.get(live_server + href)
        assert resp.ok and "attachment" in resp.headers["content-disposition"], link
    renders = page.evaluate("window.lrg.state.renders")
    path_renders = page.evaluate("window.lrg.state.pathRenders")
    print(f"\n[web timing, browser] compute->sliders {compute_s:.2f} s; slider renders median "
          f"{float(np.median(renders)):.0f} ms over {len(renders)} (fetch + decode); path renders (2 steps) "
          f"{[round(ms) for ms in path_renders]} ms")
    assert not errors, errors

    shot = tmp_path / "serve.png"  # the README's screenshots: test_browser_spill_state_and_widths
    page.screenshot(path=str(shot), full_page=True)
    assert Image.open(shot).size[0] == 1400
    context.close()


@pytest.mark.slow
def test_browser_spill_state_and_widths(browser, live_server, tmp_path):
    """The second pass: leaks and calibrated sliders, the live readout, warnings, stale results,
    undo / redo / Escape, the O key, validation next to each field, and the layout at 800 px."""
    context, page, errors = open_page(browser, live_server + "/", height=900)
    page.fill("#seed", str(SEED))
    page.dispatch_event("#seed", "input")
    page.dispatch_event("#seed", "change")
    page.wait_for_function(f"window.lrg.state.facePresetSeed === {SEED}")
    page.select_option("#preset", "face:eyes")
    eyes = page.evaluate("window.lrg.state.facePresets.eyes")  # seed 6's own eyes, not the mean face's box
    assert eyes != bits(box_mask(*EYES)) and page.evaluate("Array.from(window.lrg.state.mask).join('')") == eyes
    page.fill("#top-k", "3")
    page.dispatch_event("#top-k", "input")
    page.click("#compute")
    page.wait_for_selector("#slider-0", timeout=300_000)
    page.wait_for_function("window.lrg.idle()")
    if page.evaluate("window.lrg.state.result.paths.state === 'running'"):  # said, not another path's number
        assert page.text_content("#leak-0") == "leak … (walking its path)"
        assert "leak pending" in page.get_attribute("#leak-0", "class")
    page.wait_for_function("window.lrg.state.result.paths.state === 'done' && window.lrg.idle()", timeout=600_000)
    leaks = [page.text_content(f"#leak-{i}") for i in range(3)]
    ends = [re.fullmatch(r"leak \+(\d\.\d\d) / −(\d\.\d\d)", t) for t in leaks]  # each slider's two ends
    assert all(m and 0 < float(m[1]) < 1 and 0 < float(m[2]) < 1 for m in ends), leaks
    # The slider's right end is the calibrated strength: the readout says inside ≈ 0.3.
    page.fill("#slider-0", "1")
    page.dispatch_event("#slider-0", "input")
    page.wait_for_function("window.lrg.idle() && window.lrg.state.readout")
    readout = page.evaluate("window.lrg.state.readout")
    assert abs(readout["inside"] - 0.3) < 0.02 and "inside" in page.text_content("#readout")
    assert float(page.text_content("#slider-0 + output")) > 0
    page.check("#show-heat")
    page.wait_for_selector("#heat:not([hidden])")
    page.keyboard.down("o")
    assert page.evaluate("document.getElementById('image').src === window.lrg.state.originalUrl")
    page.keyboard.up("o")
    assert "alphas=" in page.get_attribute("#dl-dirs", "href")

    # Region change -> stale: sliders disabled, note shown; undo restores the mask.
    before = page.evaluate("Array.from(window.lrg.state.mask)")
    box = page.locator("#overlay").bounding_box()
    cell = box["width"] / 64
    page.mouse.move(box["x"] + 5 * cell, box["y"] + 55 * cell)
    page.mouse.down()
    page.mouse.move(box["x"] + 12 * cell, box["y"] + 55 * cell, steps=3)
    page.mouse.up()
    assert page.is_visible("#stale") and page.is_disabled("#slider-0")
    assert "disabled" in page.get_attribute("#dl-dirs", "class")
    assert "Region changed" in page.text_content("#stale")
    page.keyboard.press("Control+z")  # back to the computed region: current again
    assert page.evaluate("Array.from(window.lrg.state.mask)") == before
    assert not page.is_visible("#stale") and not page.is_disabled("#slider-0")
    page.keyboard.press("Control+Shift+z")
    assert page.evaluate("Array.from(window.lrg.state.mask)") != before and page.is_disabled("#slider-0")
    page.keyboard.press("Control+z")
    # Escape cancels a stroke in progress.
    page.mouse.move(box["x"] + 5 * cell, box["y"] + 58 * cell)
    page.mouse.down()
    page.mouse.move(box["x"] + 20 * cell, box["y"] + 58 * cell, steps=3)
    page.keyboard.press("Escape")
    page.mouse.up()
    assert page.evaluate("Array.from(window.lrg.state.mask)") == before and not page.is_visible("#stale")
    page.select_option("#method", "resefa")  # another method: stale until Compute
    assert "Method changed" in page.text_content("#stale") and page.is_disabled("#slider-0")
    page.select_option("#method", "lowrankgan")

    # All invalid inputs at once, each next to its field; Compute waits.
    page.fill("#top-k", "50")
    page.dispatch_event("#top-k", "input")
    page.fill("#p-lam", "-1")
    page.dispatch_event("#p-lam", "input")
    page.fill("#seed", "-5")
    page.dispatch_event("#seed", "input")
    page.fill("#strip-seeds", "1,2,x")
    page.dispatch_event("#strip-seeds", "input")
    shown = page.eval_on_selector_all(".field-error:not([hidden])", "els => els.map(e => e.textContent)")
    assert any("at most 20" in t for t in shown) and any("at least 0" in t for t in shown)
    assert any("“x” is not a seed" in t for t in shown) and page.is_disabled("#compute")
    assert any("at least 0.000001" in t for t in shown), shown
    page.fill("#p-lam", "")
    page.fill("#top-k", "3")
    page.fill("#seed", "1234567")
    page.fill("#strip-seeds", "1,2")
    page.dispatch_event("#strip-seeds", "input")
    assert page.evaluate("document.querySelectorAll('.field-error:not([hidden])').length") == 0

    # A one-pixel region: the result says why it cannot be local, and how many directions came back.
    page.fill("#seed", str(SEED))
    page.dispatch_event("#seed", "change")
    page.wait_for_function(f"window.lrg.idle() && window.lrg.state.facePresetSeed === {SEED}")
    page.click("#clear")
    page.evaluate("window.scrollTo(0, 0)")
    box = page.locator("#overlay").bounding_box()  # where the image is now
    page.evaluate("(() => { const b = document.getElementById('brush-size'); b.value = 1; "
                  "b.dispatchEvent(new Event('input')); })()")
    page.mouse.click(box["x"] + 30.5 * cell, box["y"] + 30.5 * cell)
    assert sum(page.evaluate("Array.from(window.lrg.state.mask)")) == 1
    page.click("#compute")
    page.wait_for_function("window.lrg.state.result && !window.lrg.state.stale && window.lrg.idle()", timeout=300_000)
    warning = page.text_content("#warnings")
    assert page.is_visible("#warnings") and "only 1 pixel" in warning and "Draw at least" in warning
    page.keyboard.press("Control+z")
    page.keyboard.press("Control+z")  # the dab, then the clear: the face preset's region again
    page.evaluate("(() => { const b = document.getElementById('brush-size'); b.value = 4; b.dispatchEvent(new Event('input')); })()")
    assert page.evaluate("Array.from(window.lrg.state.mask)") == before

    shots = ROOT / "docs" if os.environ.get("LOWRANKGAN_SCREENSHOT") == "1" else tmp_path
    page.click("#compute")
    page.wait_for_function("window.lrg.state.result && !window.lrg.state.stale && window.lrg.idle()", timeout=300_000)
    page.wait_for_function("window.lrg.state.result.paths.state === 'done'", timeout=600_000)
    page.fill("#slider-0", "0.8")
    page.dispatch_event("#slider-0", "input")
    page.wait_for_function("window.lrg.idle()")
    page.screenshot(path=str(shots / "serve.png"))
    long_seed_fits = "(() => { const e = document.getElementById('seed'); e.value = '2147483647'; " \
        "const ok = e.scrollWidth <= e.clientWidth && e.getBoundingClientRect().right <= " \
        "document.getElementById('controls').getBoundingClientRect().right; e.value = '6'; return ok; })()"
    assert page.evaluate(long_seed_fits)
    # 800 px: the image and its first slider on one screen; a long seed fits its box.
    page.set_viewport_size({"width": 800, "height": 900})
    page.fill("#seed", "2147483647")
    img, slider = page.locator("#canvas-wrap").bounding_box(), page.locator("#slider-0").bounding_box()
    page.evaluate("window.scrollTo(0, 0)")
    img, slider = page.locator("#canvas-wrap").bounding_box(), page.locator("#slider-0").bounding_box()
    assert img["y"] >= 0 and img["y"] + img["height"] < slider["y"] < 900 - slider["height"], (img, slider)
    assert page.evaluate(long_seed_fits)
    page.fill("#seed", str(SEED))
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(shots / "serve-narrow.png"))
    page.set_viewport_size({"width": 360, "height": 740})
    page.evaluate("window.scrollTo(0, 0)")
    img, slider = page.locator("#canvas-wrap").bounding_box(), page.locator("#slider-0").bounding_box()
    assert img["width"] <= 360 and slider["y"] + slider["height"] <= 740, (img, slider)
    assert not errors, errors
    context.close()
