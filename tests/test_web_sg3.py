"""The page on a StyleGAN3 file: the input transform (translate / rotate) as a control. The image,
Compute (the Jacobian of the moved picture), renders and the ZIP use it; `edit --alphas recorded`
reproduces the page's render with the recorded transform; bad values are one-line 400s; models
without a transform refuse one; concurrent requests with different transforms on one shared
adapter each get their own image."""

from __future__ import annotations

import os
import io
import json
import threading
import zipfile

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("flask")

from lowrankgan import api  # noqa: E402
from lowrankgan.cli import main  # noqa: E402
from lowrankgan.files.directionfile import load_directions  # noqa: E402
from lowrankgan.errors import LowRankGANError  # noqa: E402
from lowrankgan.models.stylegan3 import build_generator  # noqa: E402
from lowrankgan.files.report import grid_image, to_uint8  # noqa: E402
from lowrankgan.web.server import create_app, make_server  # noqa: E402
from lowrankgan.web.session import Workspace  # noqa: E402

from test_stylegan2 import _one_thread, fake_modules  # noqa: E402,F401
from test_stylegan3 import _cfg, write_sg3_pkl  # noqa: E402
from test_web import browser, open_page, page_pixels  # noqa: E402,F401
from helpers import wait_job, wait_paths  # noqa: E402

TOKEN = "test-token-sg3"
RES = 32
SEED = 1
BOX = (8, 8, 12, 12)  # TOP, LEFT, HEIGHT, WIDTH
MOVE = ("0.125,0.0625", 15.0)  # 4 px right, 2 px down, 15 degrees


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tmp_path_factory.mktemp("sg3web") / "tiny-sg3.pkl"


@pytest.fixture(autouse=True)
def _written(ckpt, fake_modules):
    """The test's StyleGAN3 pickle, written once (NVIDIA's structure needs the stand-in modules)."""
    if not ckpt.exists():
        write_sg3_pkl(ckpt, build_generator(_cfg(), seed=3), fake_modules)


@pytest.fixture(scope="module")
def workspace(ckpt):
    ws = Workspace([str(ckpt), "dcgan-faces"], device="cpu")
    yield ws
    ws.close()  # no Jacobian warm-up left inside torch when the process exits


def _client(workspace):
    client = create_app(workspace, allowed_hosts={"localhost"}, token=TOKEN).test_client()
    client.environ_base["HTTP_X_LOWRANKGAN_TOKEN"] = TOKEN
    return client


@pytest.fixture(scope="module")
def client(workspace):
    return _client(workspace)


@pytest.fixture
def reference(ckpt, _written):
    """A second adapter of the same file: what the CLI and the API give, transform set for the process."""
    return api.load_model(str(ckpt), device="cpu")


def png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def bits(top, left, height, width) -> str:
    m = np.zeros((RES, RES), bool)
    m[top:top + height, left:left + width] = True
    return "".join("1" if v else "0" for v in m.ravel())


def with_transform(gen, transform, fn):
    """``fn(gen)`` with the transform set for the process, as the CLI sets it."""
    gen.set_input_transform(tuple(float(v) for v in transform[0].split(",")), transform[1])
    try:
        return fn(gen)
    finally:
        gen.set_input_transform((0.0, 0.0), 0.0)


def expected(gen, transform, fn) -> np.ndarray:
    return to_uint8(with_transform(gen, transform, fn))


def run_compute(client, **extra) -> dict:
    resp = client.post("/api/compute", json={"seed": SEED, "mask": bits(*BOX), "top_k": 3, **extra})
    assert resp.status_code == 202, resp.get_json()
    job = wait_job(client, resp.get_json()["job"], 120.0)
    assert job["state"] == "done", job
    assert wait_paths(client, job["result"]["result"])["state"] == "done"  # the renders read the walked paths
    return job["result"]


def test_controls_only_for_models_with_a_transform(client):
    assert client.get("/api/model").get_json()["input_transform"] is True
    assert client.get("/api/model?model=dcgan-faces").get_json()["input_transform"] is False
    limits = client.get("/api/config").get_json()["limits"]
    assert limits["translate"] == 1.0 and limits["rotate"] == 360.0
    page = client.get("/").data
    assert b'id="transform-field" hidden' in page and page.index(b"transform.js") < page.index(b"app.js")


def test_image_moves_and_turns(client, reference):
    base = png(client.get(f"/api/image?seed={SEED}&nowarm=1").data)
    right = png(client.get(f"/api/image?seed={SEED}&nowarm=1&translate=0.25,0").data)
    # Config T follows translations: a quarter of the width is 8 px to the right.
    assert np.abs(right[:, 8:].astype(int) - base[:, :-8]).max() <= 8
    assert np.abs(right.astype(int) - base).mean() > 10
    for translate, rotate in (("0.25,0", 0.0), MOVE):
        page = png(client.get(f"/api/image?seed={SEED}&nowarm=1&translate={translate}&rotate={rotate}").data)
        assert (page == expected(reference, (translate, rotate), lambda g: api.sample(g, [SEED])[0])).all()
    # Zero is no transform, and the shared adapter is left as it was.
    assert (png(client.get(f"/api/image?seed={SEED}&nowarm=1&translate=0,0&rotate=0").data) == base).all()


@pytest.mark.parametrize("query, message", [
    ("translate=0.1", "translate"),
    ("translate=x,0", "translate"),
    ("translate=nan,0", "out of range"),
    ("translate=1.5,0", "out of range"),
    ("rotate=400", "out of range"),
    ("rotate=inf", "out of range"),
    ("rotate=abc", "rotate"),
    ("model=dcgan-faces&translate=0.1,0", "no input transform"),
    ("model=dcgan-faces&rotate=5", "StyleGAN3"),
])
def test_bad_transforms_are_one_line_errors(client, query, message):
    resp = client.get(f"/api/image?seed=0&nowarm=1&{query}")
    error = resp.get_json()["error"]
    # The page names its own fields (Translate, Rotate), never a command-line flag.
    assert resp.status_code == 400 and message.lower() in error.lower() and "\n" not in error and "--" not in error, error


def test_bad_transform_in_compute_and_zero_on_other_models(client):
    for extra in ({"translate": [0.1]}, {"translate": [0.1, True]}, {"rotate": [1]}, {"translate": "0,2"}):
        resp = client.post("/api/compute", json={"seed": 0, "mask": bits(*BOX), **extra})
        assert resp.status_code == 400 and "\n" not in resp.get_json()["error"], extra
    resp = client.post("/api/compute", json={"model": "dcgan-faces", "seed": 0, "mask": "0" * 4096,
                                             "translate": "0.1,0"})
    assert resp.status_code == 400 and "no input transform" in resp.get_json()["error"]
    assert client.get("/api/image?model=dcgan-faces&seed=0&nowarm=1&translate=0,0&rotate=0").status_code == 200


@pytest.mark.slow
def test_compute_render_zip_and_edit_alphas_recorded(client, reference, ckpt, tmp_path):
    translate, rotate = MOVE
    res = run_compute(client, translate=translate, rotate=rotate)
    assert res["translate"] == [0.125, 0.0625] and res["rotate"] == 15.0
    rid, alphas = res["result"], "1.5,-1,0.5"
    page = png(client.get(f"/api/render?result={rid}&seed={SEED}&alphas={alphas}").data)
    data = client.get(f"/api/directions?result={rid}&alphas={alphas}").data
    zipfile.ZipFile(io.BytesIO(data)).extractall(tmp_path)
    folder = tmp_path / "directions"
    meta = json.loads((folder / "directions.json").read_text())
    assert meta["translate"] == [0.125, 0.0625] and meta["rotate"] == 15.0 and "slider_translate" not in meta
    dirset = load_directions(folder)
    # The page's render is the API's composed edit on the moved picture ...
    # (the local paths run to the sliders' ends, which the ZIP records)
    tops = meta["slider_path_tops"]
    assert len(tops) == 3 and all(t > 0 for pair in tops for t in pair)
    api_edit = expected(reference, MOVE, lambda g: api.composed_edit(g, dirset, [SEED], [1.5, -1, 0.5],
                                                                     path_tops=tops)[0])
    assert (page == api_edit).all()
    # (path-following too: each step's Jacobian is the moved picture's)
    path = png(client.get(f"/api/render?result={rid}&seed={SEED}&alphas={alphas}&path_steps=1").data)
    region = str(folder / "region.png")
    assert (path == expected(reference, MOVE, lambda g: api.composed_edit(
        g, dirset, [SEED], [1.5, -1, 0.5], path_steps=1, region=region, path_tops=tops)[0])).all()
    # ... its directions come from the moved picture's Jacobian (not the unmoved one's) ...
    moved = with_transform(reference, MOVE, lambda g: api.find_directions(g, SEED, region, top_k=1, progress=False,
                                                                         leak_images=0).vectors)
    still = api.find_directions(reference, SEED, region, top_k=1, progress=False, leak_images=0).vectors
    v = dirset.vectors[0]
    assert abs(float(v @ moved[0])) > 0.999 and abs(float(v @ still[0])) < 0.99
    # ... and the CLI reproduces it pixel for pixel from the ZIP with the recorded transform.
    out = tmp_path / "cli.png"
    assert main(["edit", "--model", str(ckpt), "--directions", str(folder), "--alphas", "recorded",
                 "--out", str(out), "--device", "cpu"]) == 0
    assert (png(out.read_bytes()) == page).all()
    # An explicit --translate / --rotate wins over the recorded one.
    out2 = tmp_path / "cli-still.png"
    assert main(["edit", "--model", str(ckpt), "--directions", str(folder), "--alphas", "recorded",
                 "--rotate", "0", "--out", str(out2), "--device", "cpu"]) == 0
    assert not (png(out2.read_bytes()) == page).all()
    # The strip and the GIF are of the moved picture too.
    strip = png(client.get(f"/api/strip?result={rid}&seeds={SEED},2&alphas={alphas}").data)
    grid = with_transform(reference, MOVE, lambda g: grid_image(
        api.composed_edit(g, dirset, [SEED, 2], [1.5, -1, 0.5], with_originals=True, path_tops=tops)))
    assert (strip == np.asarray(grid.convert("RGB"))).all()
    assert client.get(f"/api/gif?result={rid}&seed={SEED}&alphas={alphas}").data[:3] == b"GIF"


def test_recorded_transform_is_checked(tmp_path, ckpt, capsys):
    folder = tmp_path / "d"
    folder.mkdir()
    np.save(folder / "directions.npy", np.eye(2, 16, dtype=np.float32))
    for bad in ([0.1], ["x", 0], [9, 0]):
        (folder / "directions.json").write_text(json.dumps({"slider_alphas": [1.0], "slider_translate": bad}))
        assert main(["edit", "--model", str(ckpt), "--directions", str(folder), "--alphas", "recorded",
                     "--out", str(tmp_path / "x.png")]) == 2
        err = capsys.readouterr().err
        assert "slider_translate" in err and err.count("\n") == 1 and not (tmp_path / "x.png").exists()


def test_input_transform_scope_nests_and_stays_in_its_thread(reference, workspace):
    gen = reference
    gen.set_input_transform((0.1, 0.0), 0.0)  # the process-wide one (the CLI's)
    try:
        seen = []
        with api.input_transform(gen, (0.2, 0.0), 5.0):
            other = threading.Thread(target=lambda: seen.append((gen.input_transform(), gen.cache_key())))
            other.start()
            other.join()
            with pytest.raises(RuntimeError), api.input_transform(gen, (0.3, 0.0), 0.0):
                assert gen.input_transform() == ((0.3, 0.0), 0.0)
                raise RuntimeError
            assert gen.input_transform() == ((0.2, 0.0), 5.0) and "rotate=5.0" in gen.cache_key()
        assert gen.input_transform() == ((0.1, 0.0), 0.0)
        assert seen[0][0] == ((0.1, 0.0), 0.0) and "translate=(0.1, 0.0)|rotate=0.0" in seen[0][1]
    finally:
        gen.set_input_transform((0.0, 0.0), 0.0)
    faces = workspace.model("dcgan-faces")
    assert not api.supports_input_transform(faces) and api.supports_input_transform(gen)
    with api.input_transform(faces, (0.0, 0.0), 0.0):
        pass
    with pytest.raises(LowRankGANError, match="StyleGAN3"), api.input_transform(faces, (0.1, 0.0), 0.0):
        pass
    with pytest.raises(LowRankGANError, match="translate"):
        api.check_transform([10**400, 0], 0)


def test_concurrent_requests_with_different_transforms(workspace, reference):
    """Threads sharing the workspace's one adapter: each image has its own transform."""
    transforms = [("0,0", 0.0), ("0.25,0", 0.0), ("0,-0.125", 0.0), ("0,0", 90.0), MOVE]
    want = {t: expected(reference, t, lambda g: api.sample(g, [SEED])[0]) for t in transforms}
    assert len({w.tobytes() for w in want.values()}) == len(transforms)
    wrong, errors = [], []

    def worker(t):
        client = _client(workspace)
        for _ in range(6):
            resp = client.get(f"/api/image?seed={SEED}&nowarm=1&translate={t[0]}&rotate={t[1]}")
            if resp.status_code != 200:
                errors.append(resp.get_json())
            elif not (png(resp.data) == want[t]).all():
                wrong.append(t)

    slots, workspace.slots.render_slots = workspace.slots.render_slots, threading.BoundedSemaphore(len(transforms))  # all at once
    threads = [threading.Thread(target=worker, args=(t,)) for t in transforms]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    workspace.slots.render_slots = slots
    assert not errors and not wrong, (errors, wrong)


def set_range(page, element_id: str, value: float) -> None:
    """Move a slider as a user does: input events while dragging, change on release."""
    page.evaluate("([id, v]) => { const r = document.getElementById(id); r.value = v;"
                  " r.dispatchEvent(new Event('input')); r.dispatchEvent(new Event('change')); }", [element_id, value])


def window_result(page) -> list:
    return page.evaluate("() => [window.lrg.state.result.translate, window.lrg.state.result.rotate]")


@pytest.mark.slow
def test_browser_transform_controls(browser, workspace, tmp_path):
    app = create_app(workspace, allowed_hosts={"localhost", "127.0.0.1"}, token=TOKEN)
    server = make_server(app, "127.0.0.1", 0, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    context, page, errors = open_page(browser, f"http://127.0.0.1:{server.effective_port}/",
                                      ready="src.startsWith('blob:')")
    try:
        assert page.is_visible("#transform-field") and page.is_visible("#rotate")
        before, src = page_pixels(page), page.evaluate("() => document.getElementById('image').src")
        set_range(page, "translate-x", 0.25)
        page.wait_for_function("(old) => { const i = document.getElementById('image');"
                               " return i.src !== old && i.complete && i.naturalWidth > 0; }", arg=src)
        after = page_pixels(page)
        assert page.text_content("#translate-x-value") == "0.25"
        shifted = np.abs(after[:, 8:] - before[:, :-8])  # a quarter of 32 px: 8 px to the right
        assert shifted.max() <= 8 and np.abs(after - before).mean() > 3 * shifted.mean(), (shifted.mean(), np.abs(after - before).mean())
        # Compute on the moved picture; turning it makes the directions stale, turning back does not.
        page.evaluate(f"() => {{ const m = window.lrg.state.mask; m.fill(0); for (let y = 8; y < 20; y++)"
                      f" for (let x = 8; x < 20; x++) m[y * {RES} + x] = 1; }}")
        page.click("#compute")
        page.wait_for_function("window.lrg.state.result && window.lrg.idle()", timeout=120_000)
        assert window_result(page) == [[0.25, 0], 0]
        set_range(page, "rotate", 30)
        page.wait_for_selector("#stale:not([hidden])")
        assert page.text_content("#stale").startswith("Transform changed")
        page.screenshot(path=os.environ.get("LOWRANKGAN_SG3_SHOT") or str(tmp_path / "sg3-page.png"))
        set_range(page, "rotate", 0)
        page.wait_for_selector("#stale", state="hidden")
        page.select_option("#model", "dcgan-faces")
        page.wait_for_function("window.lrg.state.info.model === 'dcgan-faces'")
        assert not page.is_visible("#transform-field") and not errors, errors
    finally:
        context.close()
        server.close()
