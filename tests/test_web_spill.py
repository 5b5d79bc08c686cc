"""The page's second pass through its HTTP API: each direction's leak and calibrated slider ends,
the live inside/outside readout, warnings, the ZIP that `edit --alphas recorded` reproduces pixel
for pixel, and presets that follow each face."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("flask")

from lowrankgan import api  # noqa: E402
from lowrankgan.cli import main  # noqa: E402
from lowrankgan.maths.regions import parse_region  # noqa: E402
from lowrankgan.web.server import create_app  # noqa: E402
from lowrankgan.web.session import Workspace  # noqa: E402
from helpers import wait_job, wait_paths  # noqa: E402

TOKEN = "test-token-spill"
EYES = (23, 16, 10, 31)
SEED = 6


def box_bits(top, left, height, width, size=64) -> str:
    m = np.zeros((size, size), bool)
    m[top:top + height, left:left + width] = True
    return "".join("1" if v else "0" for v in m.ravel())


@pytest.fixture(scope="module")
def workspace():
    workspace = Workspace(["dcgan-faces"], device="cpu")
    yield workspace
    workspace.close(timeout=120.0)  # no path walk or warm-up outlives the module (they write the Jacobian cache)


@pytest.fixture(scope="module")
def client(workspace):
    c = create_app(workspace, allowed_hosts={"localhost"}, token=TOKEN).test_client()
    c.environ_base["HTTP_X_LOWRANKGAN_TOKEN"] = TOKEN
    return c


def run_compute(client, mask: str, top_k: int = 3) -> dict:
    resp = client.post("/api/compute", json={"seed": SEED, "mask": mask, "top_k": top_k})
    assert resp.status_code == 202, resp.get_json()
    job = wait_job(client, resp.get_json()["job"], 300.0)
    assert job["state"] == "done", job
    # The local paths are walked after Compute answers (minutes when the machine is loaded).
    walk = wait_paths(client, job["result"]["result"])
    assert walk["state"] == "done", walk
    for d, w in zip(job["result"]["directions"], walk["directions"]):
        d["end_leaks"] = w["end_leaks"]  # the labels, as the page fills them in
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
    alphas = "1.25,-0.5,0.75"
    page = client.get(f"/api/render?result={result['result']}&seed={SEED}&alphas={alphas}").data  # local paths
    data = client.get(f"/api/directions?result={result['result']}&alphas={alphas}").data
    zipfile.ZipFile(io.BytesIO(data)).extractall(tmp_path)
    folder = tmp_path / "directions"
    meta = json.loads((folder / "directions.json").read_text())
    assert meta["slider_alphas"] == [1.25, -0.5, 0.75] and meta["slider_path_steps"] == api.DEFAULT_STEPS
    assert meta["slider_path"] == "local" and len(meta["slider_path_tops"]) == result["k"]
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
    # Seed 3 is a turned face, looking right (marked by eye on the enlarged image, row and column):
    # eyes at (28, 23) and (29, 36), nose tip at (38, 37), mouth at (50, 31).
    data = client.get("/api/face-presets?seed=3").get_json()
    specs, masks = data["specs"], {k: parse_region(v, 64).mask for k, v in data["specs"].items()}
    assert data["faces"] and set(specs) == {"eyes", "left eye", "right eye", "brows", "nose", "mouth", "chin"}
    assert masks["eyes"][28, 23] and masks["eyes"][29, 36] and not masks["eyes"][38, 37], specs["eyes"]
    assert masks["left eye"][28, 23] and not masks["left eye"][29, 36]
    assert masks["right eye"][29, 36] and not masks["right eye"][28, 23]
    assert masks["nose"][38, 37] and not masks["nose"][50, 31] and not masks["nose"][28, 23]
    assert masks["mouth"][50, 31] and not masks["mouth"][38, 37], specs["mouth"]
    assert not masks["brows"][28, 23] and not masks["chin"][50, 31]
    rows, cols = np.nonzero(masks["eyes"])  # shaped, not a box: the eyes fill little of their bounding box
    assert masks["eyes"].sum() < 0.75 * (np.ptp(rows) + 1) * (np.ptp(cols) + 1)
    assert bits_of(masks["eyes"]) == data["presets"]["eyes"]
    assert client.get("/api/face-presets?seed=x").status_code == 400


def bits_of(mask: np.ndarray) -> str:
    return "".join("1" if v else "0" for v in mask.ravel())


@pytest.mark.slow
def test_no_face_no_face_presets():
    from lowrankgan.photos.facelandmarks import image_face_presets

    assert image_face_presets(np.zeros((3, 64, 64), np.float32)) == {}
    two_dots = np.zeros((3, 64, 64), np.float32)
    two_dots[:, 28, 10] = two_dots[:, 28, 50] = -1  # two dark spots are not a face
    assert image_face_presets(two_dots) == {}


def test_face_regions_turn_with_the_face():
    from lowrankgan.photos.facelandmarks import landmark_regions

    # A face turned by 30 degrees in a 64x64 image: eyes 20 px apart, nose and mouth below them.
    turn = np.deg2rad(30)
    across, down = np.array([np.cos(turn), np.sin(turn)]), np.array([-np.sin(turn), np.cos(turn)])
    centre = np.array([32.0, 26.0])
    points = np.array([centre - 10 * across, centre + 10 * across, centre + 13 * down,
                       centre + 22 * down - 7 * across, centre + 22 * down + 7 * across])
    regions = landmark_regions(points, (64, 64))

    def holds(name, p):
        return bool(regions[name][int(p[1]), int(p[0])])

    assert holds("left eye", points[0]) and not holds("left eye", points[1]) and holds("eyes", points[1])
    assert holds("nose", points[2]) and not holds("nose", points[0]) and not holds("nose", (points[3] + points[4]) / 2)
    assert holds("mouth", (points[3] + points[4]) / 2) and not holds("mouth", points[2])
    assert holds("brows", points[0] - 6.6 * down) and not holds("brows", points[0])
    assert holds("chin", (points[3] + points[4]) / 2 + 11 * down) and not holds("chin", (points[3] + points[4]) / 2)
    # The mouth lies along the turned mouth line: its far ends are on that line, not level.
    rows, cols = np.nonzero(regions["mouth"])
    assert np.corrcoef(cols, rows)[0, 1] > 0.3


def test_regions_at_face_on_the_cli(tmp_path, capsys):
    out = tmp_path / "d"
    assert main(["directions", "--seed", "3", "--region", "mouth@face", "--top-k", "2", "--analysis-size", "32",
                 "--out", str(out)]) == 0
    recorded = api.load_directions(out).region
    mask = parse_region(recorded, 64).mask
    assert mask[50, 31] and not mask[38, 37] and not mask[28, 23]  # seed 3's own mouth (test above)
    assert main(["directions", "--seed", "3", "--region", "ears@face", "--out", str(tmp_path / "e")]) == 2
    assert "unknown face region 'ears'" in capsys.readouterr().err and not (tmp_path / "e").exists()


@pytest.mark.slow
def test_slider_labels_are_the_leak_at_the_ends_as_rendered(client, result):
    """Each slider's label: outside / inside at its two ends, along the path the page renders."""
    mask = parse_region("box:23,16,10,31", 64).mask

    def image(alphas: str, steps: str = "") -> np.ndarray:
        data = client.get(f"/api/render?result={result['result']}&seed={SEED}&alphas={alphas}&path_steps={steps}").data
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(np.float32) / 127.5 - 1

    def leak(a: np.ndarray, b: np.ndarray) -> float:
        sq = ((b - a) ** 2).mean(-1)
        return float(np.sqrt(sq[~mask].mean()) / np.sqrt(sq[mask].mean()))

    d = result["directions"][0]
    base = image("0")
    for key, steps in (("end_leaks", ""), ("straight_end_leaks", "0")):
        assert leak(base, image(f"{d['plus']}", steps)) == pytest.approx(d[key][0], rel=0.05, abs=0.01)
        assert leak(base, image(f"{-d['minus']}", steps)) == pytest.approx(d[key][1], rel=0.05, abs=0.01)


@pytest.mark.slow
def test_slider_render_runs_the_generator_once(client, result, workspace, monkeypatch):
    """A slider render of the result's own image runs the generator for the edit alone: the unedited
    image its readout is measured against is kept (rendering it again doubled a render's cost).
    The readout matches one measured against a fresh render, on the own seed and on another."""
    gen = workspace.model(None)
    mask = workspace.result(result["result"]).region.mask
    calls = []
    synthesize = gen.synthesize
    monkeypatch.setattr(gen, "synthesize", lambda *a, **k: calls.append(1) or synthesize(*a, **k))
    alpha = 0.6 * result["directions"][0]["plus"]
    counts = []
    for seed, steps in ((SEED, ""), (SEED, ""), (SEED + 1, "0")):
        calls.clear()
        resp = client.get(f"/api/render?result={result['result']}&seed={seed}&alphas={alpha:.6f}&path_steps={steps}")
        assert resp.status_code == 200, resp.get_json()
        counts.append(len(calls))
        pixels = np.asarray(Image.open(io.BytesIO(resp.data)).convert("RGB"), np.float32) / 127.5 - 1
        edited = torch.from_numpy(pixels).permute(2, 0, 1)
        inside, outside = api.change_inside_outside(api.sample(gen, [seed])[0], edited, mask)
        assert float(resp.headers["X-Change-Inside"]) == pytest.approx(inside, abs=0.01)
        assert float(resp.headers["X-Change-Outside"]) == pytest.approx(outside, abs=0.01)
    assert counts[1] == 1 and counts[2] == 2, counts
