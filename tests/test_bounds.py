"""One bound per quantity: whatever ``lowrankgan directions`` writes at the edge of every range,
``lowrankgan edit`` reads back; one past each edge is refused in one line with exit code 2, by the
writer and by the reader. The page's ranges are within the library's."""

import json

import numpy as np
import pytest
from PIL import Image

from lowrankgan import limits
from lowrankgan.cli import main
from lowrankgan.cli.flags import param_flag
from lowrankgan.files.directionfile import DirectionSet, load_directions, save_directions
from lowrankgan.maths.methods import METHODS
from lowrankgan.web import limits as page
from helpers import run_cli as cli

from test_stylegan2 import _cfg, build_generator, write_rosinality_pt

D = 2  # latent size of the tiny model: a Jacobian at the largest analysis size is 4096² x 2 floats
BOX = "box:8,8,12,12"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("bounds") / "tiny.pt"
    write_rosinality_pt(path, build_generator(_cfg(z_dim=D, w_dim=D), seed=3))
    return path


def refused(capsys, *argv) -> str:
    code, _, err = cli(capsys, *argv)
    assert code == 2 and err.startswith("lowrankgan: error: ") and err.count("\n") == 1, (argv, code, err)
    return err


@pytest.fixture(scope="module")
def edge_dirs(tiny, tmp_path_factory):
    """Directions at the largest analysis size, seed, top-k and truncation."""
    out = tmp_path_factory.mktemp("edge") / "dirs"
    assert main(["directions", "--model", str(tiny), "--seed", str(limits.MAX_SEED), "--region", BOX, "--space", "w",
                 "--analysis-size", str(limits.MAX_ANALYSIS_SIZE), "--top-k", str(limits.MAX_TOP_K),
                 "--trunc", str(limits.MAX_TRUNCATION), "--no-cache", "--out", str(out)]) == 0
    return out


def test_directions_at_every_edge_are_read_back_by_edit(capsys, tiny, edge_dirs, tmp_path):
    meta = json.loads((edge_dirs / "directions.json").read_text())
    assert meta["analysis_size"] == limits.MAX_ANALYSIS_SIZE and meta["seeds"] == [limits.MAX_SEED]
    assert meta["trunc"] == limits.MAX_TRUNCATION
    k = np.load(edge_dirs / "directions.npy").shape[0]
    n = limits.MAX_STRENGTHS
    out = tmp_path / "e.png"
    code, _, err = cli(capsys, "edit", "--model", tiny, "--directions", edge_dirs, "--seeds", limits.MAX_SEED,
                       "--index", k - 1, "--strengths", f"{-limits.MAX_STRENGTH:g}:{limits.MAX_STRENGTH:g}:{n}",
                       "--trunc", limits.MAX_TRUNCATION, "--out", out)
    assert code == 0, err
    assert Image.open(out).size[0] > n * 32  # one column per strength


def test_one_past_each_edge_of_directions_is_refused(capsys, tiny, tmp_path):
    base = ["directions", "--model", tiny, "--seed", "0", "--region", BOX, "--out", tmp_path / "d"]
    for extra, word in ((["--analysis-size", limits.MAX_ANALYSIS_SIZE + 1], "analysis"),
                        (["--analysis-size", limits.MIN_ANALYSIS_SIZE - 1], "analysis"),
                        (["--top-k", limits.MAX_TOP_K + 1], "top"), (["--top-k", 0], "top"),
                        (["--trunc", limits.MAX_TRUNCATION * 1.001], "trunc"),
                        (["--space", "w+", "--layers", limits.MAX_LAYERS], "layers")):
        assert word in refused(capsys, *base, *extra)
    base[4] = limits.MAX_SEED + 1
    assert "seed" in refused(capsys, *base)
    assert not (tmp_path / "d").exists()


def test_one_past_each_edge_of_edit_is_refused(capsys, tiny, edge_dirs, tmp_path):
    base = ["edit", "--model", tiny, "--directions", edge_dirs, "--out", tmp_path / "e.png"]
    big, n = limits.MAX_STRENGTH, limits.MAX_STRENGTHS
    for extra in (["--strengths", f"{-big * 1.001:g}:0:3"], ["--strengths", f"0:1:{n + 1}"],
                  ["--strengths", ",".join(["1"] * (n + 1))], ["--path-steps", limits.MAX_PATH_STEPS + 1],
                  ["--seeds", limits.MAX_SEED + 1], ["--seeds", f"0-{limits.MAX_SEEDS}"],
                  ["--trunc", limits.MAX_TRUNCATION * 1.001], ["--alphas", f"{big * 1.001:g}"]):
        refused(capsys, *base, *extra)
    assert not (tmp_path / "e.png").exists()


def test_path_steps_and_all_layers_at_the_edge(capsys, tiny, tmp_path):
    out = tmp_path / "wplus"
    layers = f"0-{8 - 1}"  # every W+ row of the 32-pixel model
    code, _, err = cli(capsys, "directions", "--model", tiny, "--seeds", "0-1", "--region", BOX, "--space", "w+",
                       "--layers", layers, "--top-k", 1, "--analysis-size", 16, "--out", out)
    assert code == 0, err
    assert json.loads((out / "directions.json").read_text())["layers"] == list(range(8))
    code, _, err = cli(capsys, "edit", "--model", tiny, "--directions", out, "--seeds", 0, "--strengths", "0,2",
                       "--path-steps", limits.MAX_PATH_STEPS, "--out", tmp_path / "p.png")
    assert code == 0, err


HIGH_PARAMS = [(m.name, p) for m in METHODS.values() for p in m.params
               if p.high is not None and not (m.name == "ganspace" and p.name == "samples")]  # 100 000 samples: slow


@pytest.mark.parametrize("method,param", HIGH_PARAMS, ids=[f"{m}-{p.name}" for m, p in HIGH_PARAMS])
def test_every_method_parameter_at_its_edge_is_read_back(capsys, tiny, tmp_path, method, param):
    flag = param_flag(method, param)
    high = int(param.high) if param.type is int else param.high
    out = tmp_path / "d"
    base = ["directions", "--model", tiny, "--seed", 0, "--region", BOX, "--space", "w", "--analysis-size", 16,
            "--method", method, "--out", out]
    past = high + 1 if param.type is int else high * 1.01
    assert flag in refused(capsys, *base, flag, past)  # the CLI names the flag
    code, _, err = cli(capsys, *base, flag, high)
    assert code == 0, err
    code, _, err = cli(capsys, "edit", "--model", tiny, "--directions", out, "--seeds", 0, "--strengths", "0,1",
                       "--out", tmp_path / "e.png")
    assert code == 0, err


@pytest.mark.parametrize("field,value", [("analysis_size", limits.MAX_ANALYSIS_SIZE + 1), ("seeds", [limits.MAX_SEED + 1]),
                                         ("trunc", limits.MAX_TRUNCATION * 1.001), ("layers", [limits.MAX_LAYERS]),
                                         ("slider_path_steps", limits.MAX_PATH_STEPS + 1),
                                         ("slider_seed", limits.MAX_SEED + 1),
                                         ("slider_alphas", [limits.MAX_STRENGTH * 1.001]),
                                         ("translate", [limits.MAX_TRANSLATE * 1.001, 0]),
                                         ("latent_dim", limits.MAX_LATENT_DIM + 1)])
def test_edit_refuses_a_file_one_past_an_edge(capsys, tiny, edge_dirs, tmp_path, field, value):
    folder = tmp_path / "hand-edited"
    folder.mkdir()
    for name in ("directions.npy", "latent.npy"):
        (folder / name).write_bytes((edge_dirs / name).read_bytes())
    meta = json.loads((edge_dirs / "directions.json").read_text())
    (folder / "directions.json").write_text(json.dumps({**meta, field: value}))
    err = refused(capsys, "edit", "--model", tiny, "--directions", folder, "--out", tmp_path / "e.png")
    assert field in err


def test_file_fields_at_their_edges_round_trip(tmp_path):
    """The fields costly to reach through the command line (ten thousand seeds, the largest
    transform, the page's slider record) at the library's edges, written and read back."""
    n = limits.MAX_SEEDS
    meta = {"seeds": list(range(limits.MAX_SEED - n + 1, limits.MAX_SEED + 1)), "translate": [limits.MAX_TRANSLATE, -limits.MAX_TRANSLATE],
            "rotate": 1e4, "slider_alphas": [limits.MAX_STRENGTH, -limits.MAX_STRENGTH], "slider_path_steps": limits.MAX_PATH_STEPS,
            "slider_seed": limits.MAX_SEED, "layers": list(range(limits.MAX_LAYERS)), "latent_dim": D,
            "analysis_size": limits.MAX_ANALYSIS_SIZE, "trunc": limits.MAX_TRUNCATION}
    vectors = np.eye(D, dtype=np.float32)
    save_directions(DirectionSet(vectors, meta, np.zeros((1, D), np.float32)), tmp_path / "d")
    back = load_directions(tmp_path / "d").meta
    assert all(back[key] == value for key, value in meta.items())


def test_page_limits_are_within_the_librarys():
    assert page.MAX_PAGE_SEED <= limits.MAX_SEED
    assert page.MAX_PAGE_TOP_K <= limits.MAX_TOP_K
    assert page.MAX_PAGE_STRIP <= limits.MAX_SEEDS
    assert page.MAX_PAGE_PATH_STEPS <= limits.MAX_PATH_STEPS
    assert page.MAX_PAGE_TRANSLATE <= limits.MAX_TRANSLATE
    assert page.MAX_PAGE_JSON_DEPTH <= limits.MAX_JSON_DEPTH
    assert page.MAX_PAGE_INVERT_STEPS <= limits.MAX_INVERT_STEPS
