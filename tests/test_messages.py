"""The library speaks in parameters; only the command line names flags, and the page names its
fields: no page message names a flag, and no library source outside ``cli/`` and ``web/`` holds one."""

import re
import time
from pathlib import Path

import numpy as np
import pytest

import lowrankgan
from lowrankgan.cli import main
from lowrankgan.cli.flags import message
from lowrankgan.errors import LowRankGANError
from lowrankgan.web.labels import page_message

FLAG = re.compile(r"(?<![\w-])--[a-z]")
PACKAGE = Path(lowrankgan.__file__).parent
# Another program's own flags, not ours: pip's command line, and the command that starts a Ray cluster.
OTHER_PROGRAMS = {"models/zoo.py": ("pip", "--no-deps", "--only-binary", "--disable-pip-version-check", "--quiet", "--dest"),
                  "distributed/cluster.py": ("`ray start --head`",)}


def test_the_library_source_names_no_flag():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith(("cli/", "web/")):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            allowed = OTHER_PROGRAMS.get(rel, ())
            if FLAG.search(line) and not any(a in line for a in allowed if a.startswith(("`", "--"))):
                found.append(f"{rel}:{number}: {line.strip()}")
    assert not found, "\n".join(found)


def test_errors_name_parameters_and_each_front_end_says_them_its_way(capsys, tmp_path):
    exc = LowRankGANError("analysis_size 5000 is out of range; use a smaller analysis_size", "analysis_size")
    assert str(exc) == "analysis_size 5000 is out of range; use a smaller analysis_size"
    assert message(exc) == "--analysis-size 5000 is out of range; use a smaller --analysis-size"
    assert "--" not in page_message(exc) and "analysis size" in page_message(exc)
    seed = LowRankGANError("random parameter seed = -1 is out of range 0..9 (random seed)", "seed", "random")
    assert message(seed) == "random parameter --random-seed = -1 is out of range 0..9 (random seed)"
    # Through the command line: the flag the user typed, as before.
    assert main(["directions", "--seed", "0", "--region", "eyes", "--analysis-size", "5000", "--out",
                 str(tmp_path / "d")]) == 2
    assert "--analysis-size 5000 is out of range" in capsys.readouterr().err
    assert main(["directions", "--seed", "0", "--region", "eyes", "--method", "random", "--random-seed", "-1",
                 "--out", str(tmp_path / "d")]) == 2
    assert "random parameter --random-seed = -1 is out of range" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ the page

flask = pytest.importorskip("flask")
from lowrankgan.web.server import create_app  # noqa: E402
from lowrankgan.web.session import Workspace  # noqa: E402
from helpers import wait_job  # noqa: E402

TOKEN = "t" * 32


@pytest.fixture(scope="module")
def client():
    app = create_app(Workspace(["dcgan-faces"], device="cpu"), allowed_hosts={"localhost"}, token=TOKEN)
    c = app.test_client()
    c.environ_base["HTTP_X_LOWRANKGAN_TOKEN"] = TOKEN
    return c


def _error(client, resp) -> str:
    """The message of an answer that is an error, also where it arrives later as a job's."""
    body = resp.get_json(silent=True) or {}
    if resp.status_code == 202:
        state = wait_job(client, body["job"], 60.0)
        assert state["state"] == "error", state
        return state["error"]
    assert resp.status_code >= 400 and body.get("error"), (resp.status_code, body)
    return body["error"]


def test_no_page_message_names_a_flag(client):
    eyes = np.zeros((64, 64), bool)
    eyes[20:30, 16:48] = True
    mask = "".join("1" if v else "0" for v in eyes.ravel())
    everything = "1" * (64 * 64)  # no rest left: a library error naming analysis_size
    good = {"model": "dcgan-faces", "seed": 3, "mask": mask, "method": "lowrankgan", "top_k": 2}
    bodies = [
        {**good, "seed": -1}, {**good, "seed": "x"}, {**good, "seed": 2**40}, {**good, "top_k": 0}, {**good, "top_k": 99},
        {**good, "mask": "01"}, {**good, "mask": everything}, {**good, "method": "nope"}, {**good, "model": "nope"},
        {**good, "class": "nope"}, {**good, "translate": "0.5,0"}, {**good, "rotate": "10"}, {**good, "params": []},
        {**good, "params": {"lam": 1e9}}, {**good, "params": {"rank_rtol": "x"}}, {**good, "params": {"order": "x"}},
        {**good, "params": {"tau": 5}}, {**good, "params": {"nope": 1}},
        {**good, "method": "resefa", "params": {"tau": 0}}, {**good, "params": {"relax": -1}},
    ]
    messages = [_error(client, client.post("/api/compute", json=body)) for body in bodies]
    done = client.post("/api/compute", json=good).get_json()["job"]
    for _ in range(3000):
        state = client.get(f"/api/jobs/{done}").get_json()
        if state["state"] in ("done", "error"):
            break
        time.sleep(0.02)
    result = state["result"]["result"]
    gets = ["/api/image?seed=-1", "/api/image?seed=3&translate=5,0", "/api/image?seed=3&rotate=x",
            "/api/image?model=nope", "/api/model?model=nope", "/api/face-presets?seed=x",
            f"/api/render?result={result}&seed=3&alphas=1e99", f"/api/render?result={result}&seed=3&alphas=x",
            f"/api/render?result={result}&seed=3&alphas=1,1,1", f"/api/render?result={result}&seed=3&path_steps=99",
            f"/api/render?result={result}&seed=3&path_steps=x", "/api/render?result=nope&seed=3",
            f"/api/strip?result={result}&seeds=", f"/api/strip?result={result}&seeds={','.join(['1'] * 99)}",
            f"/api/gif?result={result}&seed=x", f"/api/directions?result={result}&path_steps=-1",
            "/api/photo/nope", "/api/paste?photo=nope", "/api/jobs/nope"]
    messages += [_error(client, client.get(url)) for url in gets]
    messages.append(_error(client, client.post("/api/photo?align=nope", data=b"x")))
    messages.append(_error(client, client.post("/api/photo", data=b"not an image")))
    named = [m for m in messages if "--" in m]
    assert not named, named
    assert len(set(messages)) > 25  # each case met its own check
