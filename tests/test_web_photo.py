"""Your own photo on the page (`lowrankgan serve`): uploads checked before they are read and
decoded, the inversion as a job with its progress, the photo's code edited wherever a seed's image
is (compute, render, GIF, ZIP, face presets), the edit pasted back into the photo at its resolution,
and the flow in a real browser (fixtures from test_web)."""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("flask")

from lowrankgan import api  # noqa: E402
from lowrankgan.cli import main  # noqa: E402
from lowrankgan.web.photos import PAGE_STEPS, Photo, PhotoStore  # noqa: E402
from lowrankgan.web.server import create_app  # noqa: E402
from lowrankgan.web.session import Workspace  # noqa: E402
from helpers import wait_job, wait_paths  # noqa: E402
from test_web import ROOT, browser, live_server, open_page, page_pixels  # noqa: E402,F401  (fixtures)

TOKEN = "test-token-0123456789"  # test_web's live server's token
EYES = (23, 16, 10, 31)
NO_FACE = "no face found in the photo: choose Align “center” (the middle square) and upload it again"


@pytest.fixture(scope="module")
def workspace():
    workspace = Workspace(["dcgan-faces", "omniart-eyes"], device="cpu")
    yield workspace
    workspace.close(timeout=120.0)  # no path walk or warm-up outlives the module (they write the Jacobian cache)


@pytest.fixture(scope="module")
def client(workspace):
    client = create_app(workspace, token=TOKEN).test_client()
    client.environ_base["HTTP_X_LOWRANKGAN_TOKEN"] = TOKEN
    return client


def png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def face_photo(faces, seed: int, size: int = 256) -> np.ndarray:
    """A dcgan-faces image as a photo: upscaled, so that a centre crop gives the image back."""
    image = ((faces.synthesize(faces.sample([seed]))[0].clamp(-1, 1) + 1) * 127.5).round().byte()
    return np.asarray(Image.fromarray(image.permute(1, 2, 0).numpy()).resize((size, size), Image.Resampling.BICUBIC))


def png_header_only(width: int, height: int) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def upload(client, data: bytes, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return client.post(f"/api/photo?{query}", data=data, content_type="image/png")


def invert(client, data: bytes, **params) -> dict:
    resp = upload(client, data, **params)
    assert resp.status_code == 202, resp.get_json()
    return wait_job(client, resp.get_json()["job"])


def image_of(resp) -> np.ndarray:
    assert resp.status_code == 200, resp.get_json()
    return np.asarray(Image.open(io.BytesIO(resp.data)).convert("RGB"), np.float64)


@pytest.fixture(scope="module")
def photo(client, faces):
    """A generated face, uploaded as a 256x256 photo and inverted from its centre square."""
    job = invert(client, png(face_photo(faces, 2200)), steps=60, align="center", name="face.png")
    assert job["state"] == "done", job
    return job


# ------------------------------------------------------------------------------------ validation

def test_size_is_checked_before_the_body_is_read(client, workspace):
    # The header claims more than the limit; the body is never read (it is not even that long).
    resp = client.post("/api/photo", data=b"x" * 100, content_type="image/png",
                       environ_overrides={"CONTENT_LENGTH": str(api.MAX_PHOTO_BYTES + 1)})
    assert resp.status_code == 413 and resp.get_json()["error"] == "the photo is 64.0 MB; at most 64 MB"
    assert workspace.jobs.computing is None
    short = client.post("/api/photo", data=b"x" * 100, content_type="image/png", environ_overrides={"CONTENT_LENGTH": "1000"})
    assert short.status_code == 400 and "arrived incomplete (100 of 1000 bytes)" in short.get_json()["error"]
    assert workspace.jobs.computing is None


@pytest.mark.parametrize("data, params, status, message", [
    (b"this is not an image", {}, 400, "cannot read the uploaded photo (not an image format PIL knows)"),
    (png_header_only(7000, 7000), {"name": "huge.png"}, 400, "the photo huge.png is 7000x7000, larger than 40 megapixels"),
    (png_header_only(100_000, 100_000), {}, 400, "larger than 40 megapixels; scale it down"),
    (b"", {}, 411, "send the photo as the request body, with its size"),
    (b"x", {"steps": "5"}, 400, "steps 5 is out of range 10..2000"),
    (b"x", {"align": "left"}, 400, "align 'left': use one of auto, face, center"),
    (b"x", {"model": "biggan"}, 400, "unknown model 'biggan'"),
])
def test_bad_uploads_are_one_line_errors(client, workspace, data, params, status, message):
    resp = upload(client, data, **params)
    assert resp.status_code == status and message in resp.get_json()["error"], resp.get_json()
    assert "\n" not in resp.get_json()["error"] and " at 0x" not in resp.get_json()["error"]
    assert workspace.jobs.computing is None  # a refused upload gives the computation slot back


def test_one_computation_at_a_time(client, workspace, faces):
    job = workspace.begin_job("compute")
    try:
        resp = upload(client, png(face_photo(faces, 1)))
        assert resp.status_code == 429 and "another computation is running" in resp.get_json()["error"]
    finally:
        workspace.end_job(job)


def test_unknown_photo_ids_are_404(client):
    both = client.get("/api/image?seed=1&photo=nope")
    assert both.status_code == 400 and both.get_json()["error"] == "give 'seed' or 'photo', not both"
    for url in ("/api/image?photo=nope", "/api/face-presets?photo=nope", "/api/photo/nope", "/api/photo/nope/aligned"):
        resp = client.get(url)
        assert resp.status_code == 404 and "upload it again" in resp.get_json()["error"], url
    resp = client.post("/api/compute", json={"photo": "0" * 16, "mask": "1" * 4096})
    assert resp.status_code == 404 and "no longer on the server" in resp.get_json()["error"]


def test_a_photo_without_a_face_says_so(client):
    grey = np.full((200, 300, 3), 128, np.uint8)
    job = invert(client, png(grey), steps=10)  # dcgan-faces: auto aligns the face
    assert job["state"] == "error" and job["error"] == NO_FACE and "--" not in job["error"]  # the page's words


@pytest.mark.slow
def test_a_face_is_found_and_aligned_as_the_cli_does(client, faces):
    canvas = np.full((300, 400, 3), 128, np.uint8)
    canvas[100:260, 200:360] = face_photo(faces, 2100, 160)
    job = invert(client, png(canvas), steps=20)
    assert job["state"] == "done" and job["result"]["alignment"] == "dcgan-faces-template", job
    assert (job["result"]["width"], job["result"]["height"]) == (400, 300)


def test_store_keeps_the_latest_photos_within_its_memory():
    def photo(i: int, side: int) -> Photo:
        return Photo(str(i), "m", None, "", np.zeros((side, side, 3), np.uint8), None, None)
    store = PhotoStore(max_photos=3, max_bytes=35_000 * 3)  # room for 3.5 photos of 100x100
    first = photo(0, 100)
    store.add(first)
    for i in range(1, 4):
        store.add(photo(i, 100))
    assert [store.get(str(i)).id for i in (1, 2, 3)] and len(store) == 3
    with pytest.raises(KeyError):
        store.get("0")
    assert first.image is None  # dropped: its pixels go even where a result still holds the photo
    store.get("1")  # used: now the most recent
    store.add(photo(4, 150))  # 2.25 photos' worth: the least recently used go until it fits (2, then 3)
    assert len(store) == 2 and store.get("1") and store.get("4")
    store.add(photo(5, 400))  # larger than the budget alone: kept, the only one
    assert len(store) == 1 and store.get("5")


# ------------------------------------------------------------------------------------ the flow

@pytest.mark.slow
def test_inversion_reports_progress_and_reconstructs_a_generated_face(client, photo):
    info = photo["result"]
    assert photo["fractions"][-1] == 1.0 and any(0 < (f or 0) < 1 for f in photo["fractions"])
    assert info["alignment"] == "center" and (info["width"], info["height"]) == (256, 256)
    assert info["psnr"] > 25 and info["steps"] == 60, info
    # The image the page edits is the code's image; beside it the aligned photo, at that PSNR.
    shown = image_of(client.get(f"/api/image?photo={info['photo']}"))
    aligned = image_of(client.get(f"/api/photo/{info['photo']}/aligned"))
    psnr = 10 * np.log10(255 ** 2 / ((shown - aligned) ** 2).mean())
    assert shown.shape == aligned.shape == (64, 64, 3) and psnr == pytest.approx(info["psnr"], abs=0.5)
    assert client.get(f"/api/photo/{info['photo']}").get_json() == info
    presets = client.get(f"/api/face-presets?photo={info['photo']}").get_json()["presets"]
    assert "eyes" in presets  # the reconstruction is a face: presets follow it


def test_the_photos_code_is_edited_and_pasted_back(client, photo, faces):
    pid = photo["result"]["photo"]
    mask = np.zeros((64, 64), bool)
    mask[EYES[0]:EYES[0] + EYES[2], EYES[1]:EYES[1] + EYES[3]] = True
    resp = client.post("/api/compute", json={"photo": pid, "mask": "".join("1" if v else "0" for v in mask.ravel()),
                                             "top_k": 3})
    job = wait_job(client, resp.get_json()["job"])
    assert job["state"] == "done" and job["result"]["photo"] == pid and job["result"]["seed"] is None
    res = job["result"]["result"]
    alphas = "5"  # a moderate edit (the calibrated slider end goes far further on this code)
    before = image_of(client.get(f"/api/image?photo={pid}"))
    after = image_of(client.get(f"/api/render?result={res}&alphas={alphas}"))  # the result's photo by default
    change = np.abs(after - before).mean(-1)
    assert change[mask].mean() > 2 * change[~mask].mean() and change[mask].mean() > 4, (change[mask].mean(), change[~mask].mean())
    assert client.get(f"/api/gif?result={res}&photo={pid}&alphas={alphas}").status_code == 200
    with zipfile.ZipFile(io.BytesIO(client.get(f"/api/directions?result={res}&alphas={alphas}").data)) as zf:
        meta = json.loads(zf.read("directions/directions.json"))
        code = np.load(io.BytesIO(zf.read("directions/latent.npy")))
    assert meta["slider_seed"] is None and code.shape == (1, 100)

    original = face_photo(faces, 2200)
    unedited = client.get(f"/api/paste?result={res}&photo={pid}&alphas=0")
    assert np.abs(image_of(unedited) - original).max() <= 1  # no edit: the photo as it was
    edited = client.get(f"/api/paste?result={res}&photo={pid}&alphas={alphas}")
    # The download's name says the edit followed the default local path (8 steps).
    assert "attachment" in edited.headers["Content-Disposition"] and "face-edited-path8.png" in edited.headers["Content-Disposition"]
    pasted = image_of(edited)
    big = np.asarray(Image.fromarray(mask).resize((256, 256), Image.Resampling.NEAREST))
    moved = np.abs(pasted - original).mean(-1)
    assert pasted.shape == (256, 256, 3) and moved[big].mean() > 2 * moved[~big].mean()


def test_a_photos_zip_is_reproduced_by_edit_alphas_recorded(client, photo, tmp_path, capsys):
    """The ZIP of a photo's result records no seed (``slider_seed`` null) and the photo's code in
    latent.npy: `edit --alphas recorded` edits that code, the page's render pixel for pixel."""
    pid, mask = photo["result"]["photo"], np.zeros((64, 64), bool)
    mask[EYES[0]:EYES[0] + EYES[2], EYES[1]:EYES[1] + EYES[3]] = True  # as above: the Jacobian is cached
    job = wait_job(client, client.post("/api/compute", json={
        "photo": pid, "mask": "".join("1" if v else "0" for v in mask.ravel()), "top_k": 3}).get_json()["job"])
    res, alphas = job["result"]["result"], "4,-2.5,1"
    assert wait_paths(client, res)["state"] == "done"  # the page's render along the walked paths
    page = image_of(client.get(f"/api/render?result={res}&alphas={alphas}"))
    zipfile.ZipFile(io.BytesIO(client.get(f"/api/directions?result={res}&alphas={alphas}").data)).extractall(tmp_path)
    folder = tmp_path / "directions"
    assert json.loads((folder / "directions.json").read_text())["slider_seed"] is None
    capsys.readouterr()
    out = tmp_path / "recorded.png"
    assert main(["edit", "--directions", str(folder), "--alphas", "recorded", "--out", str(out), "--device", "cpu"]) == 0
    said = capsys.readouterr().out
    assert "editing the 1 code the directions were found on" in said and "code 0, alphas 4,-2.5,1" in said
    assert (image_of_file(out) == page).all()
    # The same code given with --latent (the folder's latent.npy), with the alphas typed in.
    out = tmp_path / "latent.png"
    assert main(["edit", "--directions", str(folder), "--latent", str(folder), "--alphas", alphas,
                 "--out", str(out), "--device", "cpu"]) == 0
    assert (image_of_file(out) == page).all()
    # What the CLI did before: seed 0's image, another face altogether.
    out = tmp_path / "seed0.png"
    assert main(["edit", "--directions", str(folder), "--alphas", "recorded", "--seeds", "0", "--out", str(out),
                 "--device", "cpu"]) == 0
    assert np.abs(image_of_file(out) - page).mean() > 10
    assert main(["edit", "--directions", str(folder), "--latent", str(folder), "--seeds", "0", "--alphas", "1",
                 "--out", str(tmp_path / "x.png")]) == 2
    assert "exactly one of" in capsys.readouterr().err and not (tmp_path / "x.png").exists()


def image_of_file(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), np.float64)


def test_a_photo_belongs_to_its_model(client, photo):
    pid = photo["result"]["photo"]
    resp = client.get(f"/api/image?model=omniart-eyes&photo={pid}")
    assert resp.status_code == 400 and "inverted with model dcgan-faces" in resp.get_json()["error"]
    seed_job = wait_job(client, client.post("/api/compute", json={"seed": 3, "mask": "1" * 256 + "0" * 3840,
                                                                  "top_k": 1}).get_json()["job"])
    resp = client.get(f"/api/paste?result={seed_job['result']['result']}&alphas=1")
    assert resp.status_code == 400 and "needs a photo" in resp.get_json()["error"]


# ------------------------------------------------------------------------------------ the browser

def _page(browser, live_server, width: int = 1400, height: int = 940):
    context, page, errors = open_page(browser, live_server + "/", width, height)
    # A step count below the page's choices: the flow, not the quality, is tested here.
    page.evaluate("(() => { const s = document.getElementById('photo-steps'); const o = document.createElement('option');"
                  " o.value = '20'; o.textContent = '20'; s.append(o); s.value = '20'; })()")
    return context, page, errors


@pytest.mark.slow
def test_browser_upload_invert_slide_and_back(browser, live_server, faces, tmp_path):
    context, page, errors = _page(browser, live_server)
    # No face: the CLI's one-line message where the progress shows.
    Image.fromarray(np.full((120, 160, 3), 128, np.uint8)).save(tmp_path / "wall.png")
    page.set_input_files("#photo-file", str(tmp_path / "wall.png"))
    page.wait_for_selector("#progress.error", timeout=60_000)
    assert page.text_content("#progress-stage") == NO_FACE and not page.evaluate("window.lrg.state.photo")

    shots = ROOT / "docs" if os.environ.get("LOWRANKGAN_SCREENSHOT") == "1" else None
    if shots:  # the README's picture: a real photo at the page's default steps (needs scikit-image)
        from skimage import data
        photo, steps, align = data.astronaut(), PAGE_STEPS, "auto"
    else:
        photo, steps, align = face_photo(faces, 2300), 20, "center"
    Image.fromarray(photo).save(tmp_path / "me.png")
    page.select_option("#photo-steps", str(steps))
    page.select_option("#photo-align", align)
    page.set_input_files("#photo-file", str(tmp_path / "me.png"))
    page.wait_for_function("window.lrg.state.photo && window.lrg.idle() && "
                           "document.getElementById('photo-aligned').naturalWidth > 0", timeout=300_000)
    assert page.is_visible("#photo-view") and "PSNR" in page.text_content("#photo-info")
    assert page.evaluate("document.getElementById('image').src === window.lrg.state.originalUrl")
    info = page.evaluate("window.lrg.state.photo")
    assert info["steps"] == steps and (info["width"], info["height"]) == (photo.shape[1], photo.shape[0])

    page.select_option("#preset", "eyes")
    page.click("#compute")
    page.wait_for_selector("#slider-0", timeout=120_000)
    page.wait_for_function("window.lrg.idle()")
    assert "from the photo" in page.text_content("#result-info")
    before = page_pixels(page)
    page.fill("#slider-0", "0.3")
    page.dispatch_event("#slider-0", "input")
    page.wait_for_function("window.lrg.idle() && window.lrg.state.alphas[0] !== 0")
    assert np.abs(page_pixels(page) - before).max() > 10  # the photo's code moved
    href = page.get_attribute("#dl-photo", "href")
    assert "disabled" not in page.get_attribute("#dl-photo", "class") and href.startswith("/api/paste?")
    resp = page.request.get(live_server + href)
    assert resp.ok and Image.open(io.BytesIO(resp.body())).size == (photo.shape[1], photo.shape[0])
    shots = shots or tmp_path
    page.screenshot(path=str(shots / "serve-photo.png"))
    page.set_viewport_size({"width": 360, "height": 740})
    page.evaluate("window.scrollTo(0, 0)")
    img = page.locator("#canvas-wrap").bounding_box()
    assert img["width"] <= 360 and page.evaluate("document.documentElement.scrollWidth") <= 360
    page.locator("#photo-section").scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "serve-photo-narrow.png"))
    page.set_viewport_size({"width": 1400, "height": 940})

    # Back to the seed: the seed's image again, the photo's directions stale, no photo download.
    page.click("#photo-back")
    page.wait_for_function("!window.lrg.state.photo && window.lrg.idle()")
    assert "Seed changed" in page.text_content("#stale") and not page.is_visible("#dl-photo")
    assert page.is_hidden("#photo-view")
    assert not errors, errors
    context.close()
