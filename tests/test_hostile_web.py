"""`lowrankgan serve` against foreign pages and hostile requests: the page token, malformed bodies,
class names that would reload models, the Jacobian cache's size limit, and concurrent forward-mode
work (path renders beside Jacobian warm-ups)."""

from __future__ import annotations

import json
import os
import re
import threading
import time

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("flask")
pytest.importorskip("waitress")

from lowrankgan import api
from lowrankgan.maths import jacobian  # noqa: E402
from lowrankgan.web import models  # noqa: E402
from lowrankgan.web.server import create_app  # noqa: E402
from lowrankgan.web.session import Workspace  # noqa: E402
from helpers import wait_job  # noqa: E402

HOSTS = {"localhost", "127.0.0.1"}


@pytest.fixture
def home(tmp_path, monkeypatch, faces):
    """An empty Jacobian cache (the models stay where they are cached already)."""
    monkeypatch.setenv("LOWRANKGAN_HOME", str(tmp_path))
    return tmp_path / "jacobians"


@pytest.fixture(scope="module")
def workspace():
    workspace = Workspace(["dcgan-faces"], device="cpu")
    yield workspace
    workspace.close(timeout=120.0)  # no path walk or warm-up outlives the module (they write the Jacobian cache)


def page_token(client) -> str:
    html = client.get("/").get_data(as_text=True)
    return re.search(r'name="lowrankgan-token" content="([^"]+)"', html).group(1)


def test_requests_without_the_page_token_do_nothing(workspace, home, monkeypatch):
    calls = []
    monkeypatch.setattr(workspace, "image", lambda *a, **k: calls.append("image"))
    monkeypatch.setattr(workspace, "warm", lambda *a, **k: calls.append("warm"))
    monkeypatch.setattr(workspace, "start_compute", lambda *a, **k: calls.append("compute"))
    client = create_app(workspace, allowed_hosts=HOSTS).test_client()
    for headers, query in (({}, ""), ({"X-LowRankGAN-Token": "guess"}, ""), ({}, "&token=guess")):
        assert client.get(f"/api/image?seed=5{query}", headers=headers).status_code == 403
        assert client.get("/api/config", headers=headers).status_code == 403
        assert client.post("/api/compute", json={"seed": 1, "mask": "1"}, headers=headers).status_code == 403
    assert calls == [] and not home.exists()  # no computation, nothing on disk
    assert client.get("/static/app.js").status_code == 200  # the page's own files need no token


def test_the_page_gets_its_token_from_its_html(workspace, home):
    app = create_app(workspace, allowed_hosts=HOSTS)
    client = app.test_client()
    token = page_token(client)
    assert token == app.token and len(token) >= 32
    assert client.get("/").headers["Cache-Control"] == "no-store"
    assert client.get("/api/config", headers={"X-LowRankGAN-Token": token}).status_code == 200
    resp = client.get(f"/api/image?seed=3&nowarm=1&token={token}")  # <img src> carries it in the URL
    assert resp.status_code == 200 and resp.mimetype == "image/png"
    other = create_app(workspace, allowed_hosts=HOSTS).test_client()
    assert page_token(other) != token  # one random token per server
    assert other.get("/api/config", headers={"X-LowRankGAN-Token": token}).status_code == 403


@pytest.mark.parametrize("body, content_type", [
    ("[" * 100_000 + "]" * 100_000, "application/json"),
    ('{"seed": ' + "[" * 50 + "]" * 50 + "}", "application/json"),
    ("[1, 2, 3]", "application/json"),
    ('{"seed": 1', "application/json"),
    ('{"seed": 1}', "text/plain"),
    ('{"seed": ' + "9" * 5000 + "}", "application/json"),
    (b'{"model": "\xff"}', "application/json"),
])
def test_malformed_bodies_are_400(workspace, body, content_type):
    app = create_app(workspace, allowed_hosts=HOSTS)
    client = app.test_client()
    resp = client.post("/api/compute", data=body, content_type=content_type,
                       headers={"X-LowRankGAN-Token": app.token})
    assert resp.status_code == 400 and resp.get_json()["error"]


def test_class_spellings_load_the_model_once(monkeypatch):
    loads = []
    real = models.api.load_model

    def counting(name, **kwargs):
        loads.append((name, kwargs.get("class_name")))
        return real(name, **kwargs)
    monkeypatch.setattr(models.api, "load_model", counting)
    app = create_app(Workspace(["omniart-eyes"], device="cpu"), allowed_hosts=HOSTS)
    client = app.test_client()
    client.environ_base["HTTP_X_LOWRANKGAN_TOKEN"] = app.token
    for cls in ("0", "00", "000", "amber", "%20Amber%20"):
        resp = client.get(f"/api/model?class={cls}")
        assert resp.status_code == 200 and resp.get_json()["class"] == "amber"
    for cls in ("purple", "8", "0" * 70, "-1"):
        assert client.get(f"/api/model?class={cls}").status_code == 400
    assert loads == [("omniart-eyes", "amber")]


@pytest.mark.slow
def test_jacobian_cache_keeps_the_most_recently_used_within_its_limit(faces, home):
    codes = faces.sample([0, 1, 2, 3], "z", 1.0)
    size = 16 * 16 * 100 * 4  # one Jacobian of dcgan-faces at analysis size 16
    jacobian.set_cache_limit(int(2.5 * (size + 4096)))  # room for two entries and torch's overhead
    try:
        def J(i):
            return jacobian.compute_jacobian(faces, codes[i], "z", analysis_size=16, progress=False)
        first = J(0)
        J(1)
        assert len(list(home.glob("*.pt"))) == 2
        entries = {p.name for p in home.glob("*.pt")}
        for p in home.glob("*.pt"):  # make the order of use unambiguous on coarse clocks
            os.utime(p, (time.time() - 100, time.time() - 100))
        assert torch.equal(J(0), first)  # a hit: entry 0 becomes the most recently used
        J(2)  # evicts entry 1, the least recently used
        kept = {p.name for p in home.glob("*.pt")}
        assert len(kept) == 2 and len(kept & entries) == 1
        assert sum(p.stat().st_size for p in home.glob("*.pt")) <= jacobian.cache_limit()
        assert torch.equal(J(0), first)
        jacobian.set_cache_limit(0)  # 0: no disk cache at all
        J(3)
        assert len(list(home.glob("*.pt"))) == 2
    finally:
        jacobian.set_cache_limit(None)


@pytest.mark.slow
def test_path_renders_beside_warmups_never_fail(workspace, home):
    app = create_app(workspace, allowed_hosts=HOSTS)
    client = app.test_client()
    client.environ_base["HTTP_X_LOWRANKGAN_TOKEN"] = app.token
    mask = np.zeros((64, 64), bool)
    mask[23:33, 16:47] = True
    job = client.post("/api/compute", json={"seed": 6, "mask": "".join("1" if v else "0" for v in mask.ravel()),
                                            "top_k": 3}).get_json()
    job = wait_job(client, job["job"], 900.0)
    assert job["state"] == "done", job
    rid = job["result"]["result"]
    gen = workspace.model(None)
    failures: list[str] = []

    def render(seed):
        c = app.test_client()
        resp = c.get(f"/api/render?result={rid}&seed={seed}&alphas=1.5&path_steps=1",
                     headers={"X-LowRankGAN-Token": app.token})
        if resp.status_code != 200:
            failures.append(f"render {seed}: {resp.status_code} {resp.get_json()}")

    def warm(seed):
        try:
            api.prepare_jacobian(gen, seed)
        except Exception as exc:  # what the page saw as HTTP 500 before forward mode was serialised
            failures.append(f"warm-up {seed}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=fn, args=(seed,)) for seed in range(3) for fn in (render, warm)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not failures, failures


json_like = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**80, 2**80), st.floats(), st.text(max_size=30)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(
        st.sampled_from(["seed", "mask", "model", "class", "method", "top_k", "params", "x"]), inner, max_size=5)),
    max_leaves=25)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=200), json_like.map(lambda v: json.dumps(v).encode())))
def test_any_compute_body_is_answered_400_not_500(workspace, body):
    app = create_app(workspace, allowed_hosts=HOSTS, token="t" * 32)
    resp = app.test_client().post("/api/compute", data=body, content_type="application/json",
                                  headers={"X-LowRankGAN-Token": "t" * 32})
    assert resp.status_code == 400, (body, resp.get_json())
