"""`evaluate`'s numbers: the summary table against an independent computation from the log's
records, unreached leaks through the log (null in the file), and a resumed run against an
uninterrupted one."""

import csv
import json
import math
import statistics

import pytest

from lowrankgan import evaluation as ev
from lowrankgan.evaluation import log as evlog, run as evrun
from lowrankgan.evaluation.summary import format_table, generalisation, summarize

RUN = dict(regions=["mouth"], seeds=[0, 1, 2], methods=["lowrankgan", "random"], top_k=2, targets=[0.1, 0.2],
           mse_strength=2.0, progress=False, device="cpu", examples=0, plots=False)


@pytest.fixture(scope="module")
def faces():
    from lowrankgan import load_model
    return load_model("dcgan-faces", device="cpu")


@pytest.fixture(scope="module")
def uninterrupted(faces, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "full"
    return out, ev.evaluate(faces, out=out, **RUN)


def _log_records(out):
    """The log's records, read with nothing but json: null is a leak never reached."""
    recs = [json.loads(line) for line in (out / evlog.LOG_NAME).read_text().splitlines()]
    leak_fields = ("leak", "leak_pos", "leak_neg")
    return [{k: (math.inf if v is None and k in leak_fields else v) for k, v in r.items()} for r in recs]


def _median(values):
    values = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(values) if values else math.nan


def _same(written, computed):
    """A value of summary.json (null: not a finite number) against the independent one."""
    if written is None:
        return not math.isfinite(computed)
    return (math.isnan(written) and math.isnan(computed)) or written == pytest.approx(computed, rel=1e-9)


def test_table_values_match_an_independent_computation(uninterrupted):
    out, summary = uninterrupted
    recs = _log_records(out)
    # 3 target images x 2 methods x 2 directions x (2 leak levels + the MSE figure)
    assert len(recs) == summary["records"] == 36
    written = json.loads((out / "summary.json").read_text())
    for method in RUN["methods"]:
        entry = written["table"]["mouth"][method]
        mine = [r for r in recs if r["method"] == method]
        for level in ("t=0.1", "t=0.2"):
            leaks = [r["leak"] for r in mine if r["level"] == level]
            assert len(leaks) == 6
            assert _same(entry["median_leak"][level], _median(leaks))
        default = [r for r in mine if r["level"] == summary["default_level"]]
        assert entry["n"] == 6
        assert _same(entry["median_leak_top1"], _median([r["leak"] for r in default if r["index"] == 0]))
        assert _same(entry["median_strength"],
                     _median([r[k] for r in default for k in ("strength_pos", "strength_neg")]))
        assert entry["unreached"] == sum(math.isinf(r["leak"]) for r in default)
        mse = [r for r in mine if r["level"] == "mse@2"]
        assert _same(entry["median_mse_in"], _median([r["mse_in"] for r in mse]))
        assert _same(entry["median_mse_out"], _median([r["mse_out"] for r in mse]))
        matrix = written["generalisation"]["mouth"][method]
        source = "any" if method == "random" else "0"  # random directions depend on no image
        assert matrix["sources"] == [source] and matrix["targets"] == [0, 1, 2]
        for j, target in enumerate(matrix["targets"]):
            assert _same(matrix["matrix"][0][j], _median([r["leak"] for r in default if r["target"] == target]))
    # The printed table shows the same numbers.
    lines = format_table(summary).splitlines()
    row = next(ln for ln in lines if ln.startswith("| mouth | lowrankgan |")).split(" | ")
    assert row[2] == f"{written['table']['mouth']['lowrankgan']['median_leak']['t=0.1']:.3f}"
    # The CSV holds every record of the log.
    with open(out / "results.csv") as f:
        assert len(list(csv.DictReader(f))) == 36


def test_unreached_leaks_are_null_in_the_file_and_count_as_unreached(tmp_path):
    common = {"region": "r", "method": "m", "source": "0", "kind": "leak", "level": "t=0.1", "target_rms": 0.1}
    records = [{**common, "target": 0, "index": 0, "leak": 0.2, "leak_pos": 0.2, "leak_neg": 0.2,
                "strength_pos": 1.0, "strength_neg": 2.0},
               {**common, "target": 1, "index": 0, "leak": math.inf, "leak_pos": 0.3, "leak_neg": math.inf,
                "strength_pos": 3.0, "strength_neg": math.nan},
               {**common, "target": 2, "index": 0, "leak": math.inf, "leak_pos": math.inf, "leak_neg": math.inf,
                "strength_pos": math.nan, "strength_neg": math.nan}]
    evlog.ResultLog(tmp_path / "log.jsonl").add(records)
    text = (tmp_path / "log.jsonl").read_text()
    assert "Infinity" not in text and "NaN" not in text and '"leak": null' in text
    back = list(evlog.ResultLog(tmp_path / "log.jsonl").records.values())
    assert [r["leak"] for r in back] == [0.2, math.inf, math.inf]
    entry = summarize(back, ["r"], ["m"], [0.1], "t=0.1")["r"]["m"]
    assert entry["unreached"] == 2
    assert entry["median_leak"]["t=0.1"] == math.inf  # two of three never reached: the median is too
    assert entry["median_strength"] == 2.0  # of the strengths found: 1, 2, 3
    assert generalisation(back, ["r"], ["m"], "t=0.1")["r"]["m"]["matrix"] == [[0.2, math.inf, math.inf]]


def test_logs_written_before_null_still_read(tmp_path):
    line = {"region": "r", "method": "m", "source": "0", "target": 0, "index": 0, "level": "t=0.1", "kind": "leak",
            "leak": "inf", "strength_pos": "nan", "strength_neg": 1.5}
    (tmp_path / "log.jsonl").write_text(json.dumps(line) + "\n")
    (rec,) = evlog.ResultLog(tmp_path / "log.jsonl").records.values()
    assert rec["leak"] == math.inf and math.isnan(rec["strength_pos"]) and rec["strength_neg"] == 1.5


def test_a_resumed_run_gives_the_uninterrupted_results(faces, uninterrupted, tmp_path, monkeypatch):
    full, reference = uninterrupted
    real, cells = evrun.Evaluation.measure, {"n": 0}

    def dying(self, *args):
        cells["n"] += 1
        if cells["n"] == 2:
            raise KeyboardInterrupt  # killed after the first of three cells
        return real(self, *args)

    monkeypatch.setattr(evrun.Evaluation, "measure", dying)
    with pytest.raises(KeyboardInterrupt):
        ev.evaluate(faces, out=tmp_path, **RUN)
    monkeypatch.setattr(evrun.Evaluation, "measure", real)
    logged = len((tmp_path / evlog.LOG_NAME).read_text().splitlines())
    assert 0 < logged < 36
    resumed = ev.evaluate(faces, out=tmp_path, **RUN)
    assert resumed["new_records"] == 36 - logged and resumed["records"] == 36
    assert _close(resumed["table"], reference["table"])
    assert _close(resumed["generalisation"], reference["generalisation"])
    assert _close(json.loads((tmp_path / "summary.json").read_text())["table"],
                  json.loads((full / "summary.json").read_text())["table"])
    assert format_table(resumed) == format_table(reference)


def _close(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return _same(a, b) or a == pytest.approx(b, rel=1e-5)
    return a == b
