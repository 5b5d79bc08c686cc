"""The page's local paths, walked in the background after Compute answers (web/paths.py): Compute
does not wait for them, their progress is reported, a slider render before its path is there says
so and shows the straight line, a download computes the path instead, and a new Compute cancels
the walk. The walk is held at its start by a gate the test opens, so nothing here depends on timing."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("flask")

from lowrankgan import api  # noqa: E402
from lowrankgan.web import compute as compute_module  # noqa: E402
from lowrankgan.web.server import create_app  # noqa: E402
from lowrankgan.web.session import Workspace  # noqa: E402
from helpers import wait_job, wait_paths  # noqa: E402
from test_web import EYES, SEED, TOKEN, bits, box_mask, png_array as png  # noqa: E402


@pytest.fixture(scope="module")
def workspace():
    workspace = Workspace(["dcgan-faces"], device="cpu")
    yield workspace
    workspace.close(timeout=120.0)


@pytest.fixture(scope="module")
def client(workspace):
    c = create_app(workspace, allowed_hosts={"localhost"}, token=TOKEN).test_client()
    c.environ_base["HTTP_X_LOWRANKGAN_TOKEN"] = TOKEN
    return c


@pytest.fixture
def gate(monkeypatch):
    """Walks started from now on wait until the test sets the returned event."""
    event, real = threading.Event(), compute_module.start_walk

    def gated(res, gen, cpu_lock):
        threading.Thread(target=lambda: (event.wait(120), real(res, gen, cpu_lock)), daemon=True).start()

    monkeypatch.setattr(compute_module, "start_walk", gated)
    yield event
    event.set()


def start(client, top_k: int = 2) -> str:
    resp = client.post("/api/compute", json={"seed": SEED, "mask": bits(box_mask(*EYES)), "top_k": top_k})
    assert resp.status_code == 202, resp.get_json()
    return resp.get_json()["job"]


def test_compute_answers_before_the_paths_and_renders_say_what_they_drew(client, workspace, gate):
    job = wait_job(client, start(client), 300.0)
    assert job["state"] == "done", job
    result = job["result"]
    rid = result["result"]
    walk = client.get(f"/api/paths?result={rid}").get_json()
    assert walk["state"] == "running" and walk["done"] == 0 and walk["total"] == 2 * 2 * api.DEFAULT_STEPS
    assert not any(d["ready"] for d in walk["directions"])
    assert all(d["end_leaks"] is None for d in result["directions"])  # no label of a path not walked
    assert all(d["straight_end_leaks"][0] is not None for d in result["directions"])
    res = workspace.result(rid)
    resp = client.get(f"/api/render?result={rid}&seed={SEED}&alphas=2,0")
    assert resp.headers["X-Path-Pending"] == "1"  # drawn on the straight line, and said so
    straight = api.composed_edit(workspace.model("dcgan-faces"), res.dirset, [SEED], [2.0, 0.0], path_steps=0)
    assert (png(resp.data) == api.to_uint8(straight)[0]).all()
    assert client.get(f"/api/render?result={rid}&seed={SEED}&alphas=0,0").headers["X-Path-Pending"] == "0"

    gate.set()
    seen = []
    while True:  # the progress only grows, to the total
        walk = client.get(f"/api/paths?result={rid}").get_json()
        seen.append(walk["done"])
        if walk["state"] != "running":
            break
        threading.Event().wait(0.1)
    assert walk["state"] == "done" and seen == sorted(seen) and seen[-1] == walk["total"]
    assert all(d["ready"] and len(d["end_leaks"]) == 2 for d in walk["directions"])

    # Walked: the render reads the cached path, says nothing is pending, and equals the path the API
    # computes afresh to the same slider ends (what `edit --alphas recorded` replays).
    resp = client.get(f"/api/render?result={rid}&seed={SEED}&alphas=2,0")
    assert resp.headers["X-Path-Pending"] == "0"
    fresh = api.composed_edit(workspace.model("dcgan-faces"), res.dirset, [SEED], [2.0, 0.0], region=res.region,
                              path_tops=res.path_tops)
    assert (png(resp.data) == api.to_uint8(fresh)[0]).all()
    assert not (png(resp.data) == api.to_uint8(straight)[0]).all()  # and it is not the straight line


def test_a_download_before_the_path_is_walked_computes_it(client, workspace, gate):
    rid = wait_job(client, start(client), 300.0)["result"]["result"]
    data = client.get(f"/api/render?result={rid}&seed={SEED}&alphas=0,-2&download=1").data
    gate.set()
    assert wait_paths(client, rid)["state"] == "done"
    walked = client.get(f"/api/render?result={rid}&seed={SEED}&alphas=0,-2")
    assert walked.headers["X-Path-Pending"] == "0" and (png(data) == png(walked.data)).all()


def test_a_new_compute_cancels_the_walk(client, workspace, gate):
    first = wait_job(client, start(client), 300.0)["result"]["result"]
    second = wait_job(client, start(client, top_k=1), 300.0)  # Compute began: the first walk is cancelled
    gate.set()
    walk = wait_paths(client, first, 60.0)
    assert walk["state"] == "cancelled" and walk["done"] < walk["total"]
    assert wait_paths(client, second["result"]["result"])["state"] == "done"  # the new one is walked
    # The cancelled result still renders: a download computes its paths.
    assert client.get(f"/api/render?result={first}&seed={SEED}&alphas=1,0&download=1").status_code == 200


def test_the_slider_being_moved_is_walked_first(client, workspace, gate):
    rid = wait_job(client, start(client), 300.0)["result"]["result"]
    resp = client.get(f"/api/render?result={rid}&seed={SEED}&alphas=0,2")  # the 2nd slider, before any path
    assert resp.headers["X-Path-Pending"] == "1"
    gate.set()
    while True:
        walk = client.get(f"/api/paths?result={rid}").get_json()
        ready = [d["ready"] for d in walk["directions"]]
        if any(ready) or walk["state"] != "running":
            break
        threading.Event().wait(0.05)
    assert ready == [False, True]  # its path first, not the 1st slider's
    assert wait_paths(client, rid)["state"] == "done"
