"""The page's second pass through its HTTP API: each direction's leak and calibrated slider ends,
the live inside/outside readout, warnings, the ZIP that `edit --alphas recorded` reproduces pixel
for pixel, and presets that follow each face."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("flask")

from lowrankgan import api  # noqa: E402
from lowrankgan.cli import main  # noqa: E402
from lowrankgan.maths.regions import parse_region  # noqa: E402
from lowrankgan.web.server import create_app  # noqa: E402
from lowrankgan.web.session import Workspace  # noqa: E402

TOKEN = "test-token-spill"
EYES = (23, 16, 10, 31)
SEED = 6


def box_bits(top, left, height, width, size=64) -> str:
    m = np.zeros((size, size), bool)
    m[top:top + height, left:left + width] = True
    return "".join("1" if v else "0" for v in m.ravel())


@pytest.fixture(scope="module")
def workspace():
    return Workspace(["dcgan-faces"], device="cpu")


@pytest.fixture(scope="module")
def client(workspace):
    c = create_app(workspace, allowed_hosts={"localhost"}, token=TOKEN).test_client()
    c.environ_base["HTTP_X_LOWRANKGAN_TOKEN"] = TOKEN
    return c


def run_compute(client, mask: str, top_k: int = 3) -> dict:
    resp = client.post("/api/compute", json={"seed": SEED, "mask": mask, "top_k": top_k})
    assert resp.status_code == 202, resp.get_json()
    job_id = resp.get_json()["job"]
    for _ in range(3000):
        job = client.get(f"/api/jobs/{job_id}").get_json()
        if job["state"] in ("done", "error"):
            break
        import time
        time.sleep(0.05)
    assert job["state"] == "done", job
    return job["result"]


@pytest.fixture(scope="module")
def result(client):
    return run_compute(client, box_bits(*EYES))


@pytest.mark.slow
def test_leaks_and_calibrated_ends(client, result, workspace):
    dirs = result["directions"]
    assert len(dirs) == result["k"] == 3 and result["slider_target"] == 0.3 and not result["warnings"]
    gen = workspace.model(None)
    res = workspace.result(result["result"])
    leaks = api.direction_leaks(gen, res.dirset, SEED, res.region)
    for d, lk in zip(dirs, leaks):  # the page's leak is the API's metric
        assert d["leak"] == pytest.approx(lk.leak, rel=1e-3)
        assert 0 < d["plus"] < 30 and 0 < d["minus"] < 30
    # At the calibrated + end, the render's readout says the region changed by RMS 0.3.
    d0 = dirs[0]
    resp = client.get(f"/api/render?result={result['result']}&seed={SEED}&alphas={d0['plus']:.6f}")
    inside, outside = float(resp.headers["X-Change-Inside"]), float(resp.headers["X-Change-Outside"])
    assert inside == pytest.approx(0.3, abs=0.01)
    assert outside / inside == pytest.approx(dirs[0]["leak"], rel=0.6)


@pytest.mark.slow
def test_tiny_region_warns(client):
    res = run_compute(client, box_bits(30, 30, 1, 1), top_k=5)
    text = " ".join(res["warnings"])
    assert "only 1 pixel" in text and "Draw at least" in text, text
    # The method says how many it found and why (its rank), once: the page adds no second count.
    assert res["k"] < 5 and f"{res['k']} directions, fewer than the 5 asked for: the region's low-rank part" in text
    assert "Only" not in text


@pytest.mark.slow
def test_zip_reproduced_by_edit_alphas(client, result, tmp_path, monkeypatch):
    alphas, steps = "1.25,-0.5,0.75", 0
    page = client.get(f"/api/render?result={result['result']}&seed={SEED}&alphas={alphas}").data
    data = client.get(f"/api/directions?result={result['result']}&alphas={alphas}&path_steps={steps}").data
    zipfile.ZipFile(io.BytesIO(data)).extractall(tmp_path)
    folder = tmp_path / "directions"
    meta = json.loads((folder / "directions.json").read_text())
    assert meta["slider_alphas"] == [1.25, -0.5, 0.75] and meta["slider_path_steps"] == 0
    assert meta["region"] == "region.png" and meta["region_boxes"] == "box:23,16,10,31"
    assert (parse_region(str(folder / "region.png"), 64).mask
            == parse_region("box:23,16,10,31", 64).mask).all()
    out = tmp_path / "cli.png"
    assert main(["edit", "--directions", str(folder), "--alphas", "recorded", "--out", str(out),
                 "--device", "cpu"]) == 0
    cli = np.asarray(Image.open(out).convert("RGB"))
    assert (cli == np.asarray(Image.open(io.BytesIO(page)).convert("RGB"))).all()
    # Path steps: the CLI follows the recorded region.png back (relative to the direction folder).
    page2 = client.get(f"/api/render?result={result['result']}&seed={SEED}&alphas={alphas}&path_steps=1").data
    out2 = tmp_path / "cli2.png"
    assert main(["edit", "--directions", str(folder), "--alphas", alphas, "--seeds", str(SEED),
                 "--path-steps", "1", "--out", str(out2), "--device", "cpu"]) == 0
    # `--region region.png` from another working directory is the one beside the direction files.
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert main(["edit", "--directions", str(folder), "--region", "region.png", "--seeds", str(SEED),
                 "--strengths", "-1:1:3", "--outline", "--out", str(tmp_path / "grid.png"), "--device", "cpu"]) == 0
    assert (np.asarray(Image.open(out2).convert("RGB")) == np.asarray(Image.open(io.BytesIO(page2)).convert("RGB"))).all()


def test_edit_alphas_errors(tmp_path, capsys):
    folder = tmp_path / "d"
    folder.mkdir()
    np.save(folder / "directions.npy", np.eye(3, 100, dtype=np.float32))
    assert main(["edit", "--directions", str(folder), "--alphas", "recorded", "--out", str(tmp_path / "x.png")]) == 2
    assert "records no slider values" in capsys.readouterr().err
    assert main(["edit", "--directions", str(folder), "--alphas", "1,x", "--out", str(tmp_path / "x.png")]) == 2
    assert "comma list" in capsys.readouterr().err and not (tmp_path / "x.png").exists()


@pytest.mark.slow
def test_face_presets_follow_the_face(client):
    # Seed 3 is a turned face: its eyes sit left of and above the fixed box's centre line.
    specs = client.get("/api/face-presets?seed=3").get_json()["specs"]
    top, left, height, width = map(int, specs["eyes"][4:].split(","))
    # the eyes found by looking at the picture: about (22, 25) and (27, 38)
    for row, col in ((23, 25), (26, 37)):
        assert top <= row < top + height and left <= col < left + width, specs["eyes"]
    mouth = parse_region(specs["mouth"], 64).mask
    assert mouth[40, 35], specs["mouth"]  # the mouth of seed 3 (row 40, column 35), below the fixed box
    assert not parse_region("mouth", 64, {"mouth": "box:48,23,8,17"}).mask[40, 35]
    assert client.get("/api/face-presets?seed=x").status_code == 400


def test_face_presets_fall_back_on_a_faceless_image():
    from lowrankgan.photos.facelandmarks import image_face_presets

    assert image_face_presets(np.zeros((3, 64, 64), np.float32)) is None  # nothing dark: the fixed boxes stay
    two_dots = np.zeros((3, 64, 64), np.float32)
    two_dots[:, 28, 10] = two_dots[:, 28, 50] = -1  # dark spots 40 px apart: no face has eyes so far apart
    assert image_face_presets(two_dots) is None


def test_face_landmarks_on_a_drawn_face():
    from lowrankgan.photos.facelandmarks import face_landmarks

    face = np.full((3, 64, 64), 0.5, np.float32)
    face[:, 27:30, 17:20] = face[:, 25:28, 33:36] = -0.8  # eyes (tilted: a turned head), mouth below
    face[:, 47:49, 22:34] = -0.6
    (ly, lx), (ry, rx), mouth = face_landmarks(face)
    assert abs(ly - 28) <= 1 and abs(lx - 18) <= 1 and abs(ry - 26) <= 1 and abs(rx - 34) <= 1
    assert abs(mouth - 47.5) <= 1.5
