"""`evaluate`: outputs, resumability, agreement with the leak metric (maths.metrics), clear errors."""

import json
import math
import sys

import pytest
import torch

from lowrankgan import evaluation as ev
from lowrankgan.evaluation import log as evlog, run as evrun
from lowrankgan.maths.metrics import calibrate
from lowrankgan.errors import LowRankGANError

SMALL = dict(regions=["eyes"], seeds=[0, 1], methods=["lowrankgan", "jacobian-svd", "random"], per_image=True,
             top_k=1, targets=[0.1], mse_strength=2.0, progress=False, device="cpu", examples=1)


@pytest.fixture(scope="module")
def faces():
    from lowrankgan import load_model
    return load_model("dcgan-faces", device="cpu")


def _keys(path):
    lines = (path / evlog.LOG_NAME).read_text().splitlines()
    return [evlog.record_key(json.loads(ln)) for ln in lines]


def test_outputs(faces, tmp_path):
    summary = ev.evaluate(faces, out=tmp_path, **SMALL)
    # 2 seeds x 3 methods x 1 direction x (1 target + the MSE figure)
    assert summary["records"] == 12 and summary["new_records"] == 12
    for name in ("results.jsonl", "results.csv", "summary.json", "config.json", "report.html",
                 "leak_per_method.png", "leak_vs_strength.png", "generalisation.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    table = json.loads((tmp_path / "summary.json").read_text())["table"]["eyes"]
    assert table["lowrankgan"]["median_leak"]["t=0.1"] < table["random"]["median_leak"]["t=0.1"]
    assert table["lowrankgan"]["median_mse_in"] > table["lowrankgan"]["median_mse_out"]
    csv = (tmp_path / "results.csv").read_text().splitlines()
    assert csv[0].startswith("region,method,source,target,index,level,kind") and len(csv) == 13
    html = (tmp_path / "report.html").read_text()
    assert "lowrankgan" in html and "data:image/png;base64" in html
    assert "| eyes | lowrankgan |" in ev.format_table(summary)
    # a second run finds everything done
    again = ev.evaluate(faces, out=tmp_path, **SMALL)
    assert again["new_records"] == 0 and again["records"] == 12


def test_resume_after_kill_loses_and_duplicates_nothing(faces, tmp_path, monkeypatch):
    full = tmp_path / "full"
    ev.evaluate(faces, out=full, plots=False, **SMALL)
    killed = tmp_path / "killed"
    real = evrun.masked_mse
    calls = {"n": 0}

    def dying(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # killed while measuring the second image
        return real(*a, **k)

    monkeypatch.setattr(evrun, "masked_mse", dying)
    with pytest.raises(KeyboardInterrupt):
        ev.evaluate(faces, out=killed, plots=False, **SMALL)
    monkeypatch.setattr(evrun, "masked_mse", real)
    first = _keys(killed)
    assert 0 < len(first) < 12
    with open(killed / evlog.LOG_NAME, "a") as f:
        f.write('{"region": "eyes", "method": "lowr')  # torn last line of a kill mid-write
    summary = ev.evaluate(faces, out=killed, plots=False, **SMALL)
    keys = _keys(killed)
    assert len(keys) == len(set(keys)) == 12
    assert summary["new_records"] == 12 - len(first)
    done = {evlog.record_key(json.loads(x)): json.loads(x) for x in (killed / evlog.LOG_NAME).read_text().splitlines()}
    ref = {evlog.record_key(json.loads(x)): json.loads(x) for x in (full / evlog.LOG_NAME).read_text().splitlines()}
    assert done.keys() == ref.keys()
    for k in ref:
        for field in ("leak", "mse_in"):
            if field in ref[k]:
                assert evlog.num(done[k][field]) == pytest.approx(evlog.num(ref[k][field]), rel=1e-5)


def test_other_settings_in_the_same_folder_are_refused(faces, tmp_path):
    ev.evaluate(faces, out=tmp_path, plots=False, **SMALL)
    with pytest.raises(LowRankGANError, match="other settings.*top_k"):
        ev.evaluate(faces, out=tmp_path, plots=False, **{**SMALL, "top_k": 2})
    fresh = ev.evaluate(faces, out=tmp_path, plots=False, fresh=True, **{**SMALL, "top_k": 2})
    assert fresh["records"] > 0
    # --fresh also discards the directions found with the old settings: top-2 files now hold two rows.
    assert all(__import__("numpy").load(f).shape[0] == 2 for f in (tmp_path / "directions").rglob("*.npy"))


def _bisect_leak(gen, code, p, mask, target=0.1):
    """An independent reference of the leak: plain bisection per sign on a doubling bracket."""
    from lowrankgan.maths.metrics import rms_inside_outside
    base = gen.synthesize(code[None])
    out = []
    for sign in (1.0, -1.0):
        inside = lambda a: rms_inside_outside(gen.synthesize((code + sign * a * p)[None]) - base, mask)
        lo, hi = 0.0, 1.0
        while float(inside(hi)[0]) < target:
            lo, hi = hi, hi * 2
        for _ in range(40):
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if float(inside(mid)[0]) >= target else (mid, hi)
        i, o = inside(hi)
        out.append((float(o) / float(i), hi))
    return (out[0][0] + out[1][0]) / 2, out[0][1]


def test_calibration_agrees_with_plain_bisection(faces):
    from lowrankgan.maths.metrics import measure_leak
    mask = torch.from_numpy(__import__("lowrankgan.api", fromlist=["x"]).as_region(faces, "mouth").mask)
    code = faces.sample([3], "z")[0]
    v = torch.nn.functional.normalize(torch.randn(2, 100, generator=torch.Generator().manual_seed(0)), dim=1)
    cal = calibrate(faces, code, torch.cat([v, -v]), mask, [0.1], "z")
    with torch.no_grad():
        for i in range(2):
            ref_leak, ref_alpha = _bisect_leak(faces, code, v[i], mask)
            mine = (float(cal["outside"][i, 0] / cal["inside"][i, 0]) + float(cal["outside"][i + 2, 0] / cal["inside"][i + 2, 0])) / 2
            assert mine == pytest.approx(ref_leak, rel=2e-3)
            assert measure_leak(faces, code, v[i], mask, "z", None, 0.1).leak == pytest.approx(ref_leak, rel=2e-3)
            assert float(cal["alpha"][i, 0]) == pytest.approx(ref_alpha, rel=2e-3)
            assert float(cal["inside"][i, 0]) == pytest.approx(0.1, rel=1e-3)


def test_unreachable_target_is_inf(faces):
    mask = torch.zeros(64, 64, dtype=torch.bool)
    mask[:2, :2] = True
    v = torch.zeros(1, 100)
    v[0, 0] = 1
    cal = calibrate(faces, faces.sample([0], "z")[0], v, mask, [50.0], "z", max_strength=1.0)
    assert not bool(cal["reached"][0, 0]) and math.isnan(float(cal["alpha"][0, 0]))


def test_cli_and_clear_errors(tmp_path, monkeypatch, capsys):
    from lowrankgan.cli import main
    rc = main(["evaluate", "--model", "dcgan-faces", "--device", "cpu", "--region", "mouth", "--seeds", "2",
               "--methods", "lowrankgan,random", "--top-k", "1", "--targets", "0.1", "--no-progress",
               "--examples", "1", "--out", str(tmp_path / "cli")])
    assert rc == 0 and (tmp_path / "cli" / "report.html").exists()
    assert "| mouth | lowrankgan |" in capsys.readouterr().out
    assert main(["evaluate", "--region", "eyes", "--methods", "nope", "--out", str(tmp_path / "x")]) == 2
    assert "unknown method" in capsys.readouterr().err
    assert main(["evaluate", "--region", "eyes", "--targets", "0,-1", "--out", str(tmp_path / "x")]) == 2
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(LowRankGANError, match="matplotlib"):
        ev.evaluate("dcgan-faces", out=tmp_path / "m", **SMALL)


@pytest.mark.slow
def test_path_records_and_source_seed_mode(faces, tmp_path):
    s = ev.evaluate(faces, ["mouth"], [1, 2], ["lowrankgan"], source_seed=1, top_k=1, targets=[0.1],
                    path_steps=2, out=tmp_path, progress=False, device="cpu", examples=1)
    path = s["table"]["mouth"]["lowrankgan"]["path"]
    assert set(path) == {"1x", "2x", "3x"} and path["2x"]["n"] == 2
    assert s["generalisation"]["mouth"]["lowrankgan"]["sources"] == ["1"]
    assert s["generalisation"]["mouth"]["lowrankgan"]["targets"] == [1, 2]
    assert (tmp_path / "path_vs_line.png").exists()


def test_generalisation_plot_masks_unmeasured_cells():
    from lowrankgan.evaluation.report import generalisation_cells
    cells = generalisation_cells([[0.1, float("nan")], [float("inf"), None]])
    assert cells.mask.tolist() == [[False, True], [False, True]]  # no record: masked, drawn as "not measured"
    assert cells[0, 0] == pytest.approx(-1.0) and cells[1, 0] == pytest.approx(1.0)  # ∞: the top of the scale
