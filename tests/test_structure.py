"""The structure users and contributors rely on: front ends call only the API, one method registry,
and behaviour that had no test before (W+ layer masking, the paper's order, relax, auto_chunk, the
page's ZIP read back by the CLI, evaluate's cross matrix)."""

import ast
import inspect
import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import lowrankgan
from lowrankgan import api
from lowrankgan.cli import build_parser, main
from lowrankgan.cli.flags import param_flag
from lowrankgan.maths.factorize import default_lambda, robust_pca, spectrum, numerical_rank, rest_null_space
from lowrankgan.maths.jacobian import auto_chunk, compute_jacobian
from lowrankgan.maths.methods import METHODS, lowrankgan_directions
from lowrankgan.models.stylegan2.adapter import build_random_stylegan2

SRC = Path(lowrankgan.__file__).parent
FRONT_END_ALLOWED = {"api", "errors"}
FRONT_ENDS = ("cli", "web")


def _front_end_files() -> list[Path]:
    return [path for end in FRONT_ENDS for path in sorted((SRC / end).glob("*.py"))]


def _absolute_imports(path: Path) -> set[str]:
    """Every module a source file imports (anywhere, lazily too), as a dotted path; relative imports resolved."""
    package = ["lowrankgan", *path.relative_to(SRC).with_suffix("").parts[:-1]]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + (node.module.split(".") if node.module else []))
            # `from .. import api` imports the module lowrankgan.api; `from ..api import X` a name of it
            found.update(f"{module}.{a.name}" if not node.module else module for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_front_ends_import_only_the_api_and_never_each_other():
    for path in _front_end_files():
        own = path.relative_to(SRC).parts[0]
        for module in _absolute_imports(path):
            parts = module.split(".")
            if parts[0] != "lowrankgan" or module == "lowrankgan.__version__":
                continue
            stage = parts[1] if len(parts) > 1 else "lowrankgan"  # the package itself: its main joins the front ends
            assert stage == own or stage in FRONT_END_ALLOWED, \
                f"{own}/{path.name} imports {module}: front ends call lowrankgan.api (and errors) only"


def _api_names_used(path: Path) -> set[str]:
    """Names a front-end file takes from the API: ``api.X`` attributes and ``from ..api import X``."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "api":
            names.add(node.attr)
        elif isinstance(node, ast.ImportFrom) and node.module == "api" and node.level == 2:
            names.update(a.name for a in node.names)
    return names


def test_front_ends_use_only_the_public_api():
    public = set(api.__all__)
    assert len(api.__all__) == len(public), "a name is listed twice in api.__all__"
    assert all(hasattr(api, name) for name in public), [n for n in public if not hasattr(api, n)]
    used = set()
    for path in _front_end_files():
        names = _api_names_used(path)
        assert names <= public, f"{path.name} uses api.{sorted(names - public)}, which api.__all__ does not list"
        used |= names
    assert len(used) > 40  # the reading above finds the front ends' calls
    # The package re-exports nothing else: every public name of the package is listed.
    extra = {n for n, v in vars(api).items() if not n.startswith("_") and not inspect.ismodule(v)} - public
    assert not extra, f"api re-exports {sorted(extra)} without listing them in __all__"


def test_the_lowrankgan_command_starts_the_page_through_the_cli(monkeypatch):
    """``lowrankgan serve`` reaches the page only through ``lowrankgan.main``, which hands the CLI
    the page's ``serve`` with the flags turned into parameters."""
    import lowrankgan.web
    calls = []
    monkeypatch.setattr(lowrankgan.web, "serve", lambda **kw: calls.append(kw) or 0)
    assert lowrankgan.main(["serve", "--model", "dcgan-faces", "--port", "0", "--no-warmup", "--threads", "3"]) == 0
    assert calls == [dict(models=["dcgan-faces"], class_name=None, host="127.0.0.1", port=0, device="auto", threads=3,
                          warmup=False)]
    assert main(["serve", "--port", "0"]) == 2  # the CLI alone has no page to start


# The stages, bottom up: a module imports only from its own stage or the ones below it.
STAGES = [{"errors"}, {"limits", "readers", "safewrite", "threads"}, {"models"}, {"maths"}, {"files"}, {"photos"}, {"evaluation"}, {"distributed"},
          {"api"}, {"cli", "web"}]


ENTRY = ("__init__", "__main__")


def _stage_of(name: str) -> int:
    return next(i for i, names in enumerate(STAGES) if name in names)


def _imported_stages(path: Path) -> set[str]:
    """Top-level library names (``lowrankgan.X``) imported by a module, relative imports resolved."""
    package = list(path.relative_to(SRC).with_suffix("").parts)[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            target = base + (node.module.split(".") if node.module else [])
            if target:
                found.add(target[0])
            else:  # `from .. import api, __version__` at the top
                found.update(a.name for a in node.names if not a.name.startswith("__"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lowrankgan."):
            found.add(node.module.split(".")[1])
    return found


def test_every_module_sits_in_a_stage_and_imports_only_down():
    top_level = {p.stem if p.is_file() else p.name for p in SRC.iterdir()
                 if (p.suffix == ".py" and p.stem not in ENTRY) or (p / "__init__.py").is_file()}
    assert top_level == set().union(*STAGES), f"modules outside the stages: {sorted(top_level - set().union(*STAGES))}"
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC).parts
        if len(parts) == 1 and Path(parts[0]).stem in ENTRY:
            continue  # the package's own façade re-exports the API; its `main` joins the CLI and the page
        own = _stage_of(Path(parts[0]).stem)
        for name in _imported_stages(path):
            assert _stage_of(name) <= own, f"{'/'.join(parts)} imports {name}: a stage imports only the ones below it"


def test_sizes_stay_readable():
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        assert text.count("\n") <= 500, f"{path} is over 500 lines"
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno < 80, f"{path.name}:{node.name} is over 80 lines"


def test_page_scripts_stay_readable():
    scripts = sorted((SRC / "web" / "static").glob("*.js"))
    assert len(scripts) > 1
    for path in scripts:
        assert path.read_text().count("\n") <= 400, f"{path.name} is over 400 lines: split it by job"


def test_page_scripts_load_in_one_scope_without_clashes():
    """The page's scripts are classic scripts sharing one global scope: index.html loads every one
    of them, and no two declare the same top-level name (a second `function f` silently replaces
    the first; a second `const` stops the page)."""
    static = SRC / "web" / "static"
    loaded = re.findall(r'<script src="/static/([\w.-]+)"></script>', (static / "index.html").read_text())
    assert sorted(loaded) == sorted(p.name for p in static.glob("*.js")), loaded
    assert loaded.index("app.js") == len(loaded) - 2, "app.js wires the others: photo.js alone comes after it"
    owner: dict[str, str] = {}
    for name in loaded:
        for found in re.finditer(r"^(?:async\s+)?(?:function\*?|const|let|var|class)\s+([\w$]+)",
                                 (static / name).read_text(), re.MULTILINE):
            declared = found.group(1)
            assert declared not in owner, f"{declared} is declared in both {owner[declared]} and {name}"
            owner[declared] = name
    assert {"state", "api", "drawOverlay", "validateInputs", "requestRender"} <= owner.keys()


def test_cli_options_come_from_the_registry(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices["directions"]
    flags = {opt for action in sub._actions for opt in action.option_strings}
    for method in METHODS.values():
        assert method.name in sub.format_help()
        for param in method.params:
            assert param_flag(method.name, param) in flags
    # Another method's parameter is refused, not silently ignored.
    code = main(["directions", "--seed", "0", "--region", "mouth", "--method", "resefa", "--relax", "2",
                 "--out", "/tmp/never-written"])
    assert code == 2 and "--relax" in capsys.readouterr().err and not Path("/tmp/never-written").exists()


def test_registry_checks_values():
    with pytest.raises(lowrankgan.LowRankGANError, match="out of range"):
        METHODS["lowrankgan"].check_params({"rank_rtol": 2})
    with pytest.raises(lowrankgan.LowRankGANError, match="one of ratio, energy, paper"):
        METHODS["lowrankgan"].check_params({"order": "best"})
    assert METHODS["resefa"].check_params({"tau": "0.01"}) == {"tau": 0.01}


# ------------------------------------------------------------------------------- Jacobians


@pytest.fixture(scope="module")
def small_stylegan():
    return build_random_stylegan2(resolution=16, w_dim=8, channel_base=64, channel_max=16, seed=3)


def test_w_plus_jacobian_moves_only_the_chosen_layers(small_stylegan):
    gen = small_stylegan
    code = gen.sample([1], "w+")[0]
    J = {tuple(ls): compute_jacobian(gen, code, "w+", ls, 8, cache=False, progress=False)
         for ls in ([0], [1], [2], [0, 1, 2])}
    # Linear in the layer set: each layer contributes its own columns, nothing else moves.
    assert torch.allclose(J[(0, 1, 2)], J[(0,)] + J[(1,)] + J[(2,)], atol=1e-5)
    assert not torch.allclose(J[(0,)], J[(1,)], atol=1e-4)
    # Against finite differences on layer 1 only.
    eps, p = 1e-3, torch.zeros(8)
    p[2] = 1.0
    moved = code.clone()
    moved[1] += eps * p
    from lowrankgan.maths.jacobian import analysis_image
    fd = (analysis_image(gen.synthesize(moved[None], "w+"), 8) - analysis_image(gen.synthesize(code[None], "w+"), 8))[0] / eps
    assert torch.allclose(J[(1,)][:, 2], fd, atol=2e-2 * float(fd.abs().max()) + 1e-4)


def test_auto_chunk_follows_the_memory_budget(faces):
    code = faces.sample([0])[0]
    tiny, mid, big = (auto_chunk(faces, code, "z", 100, mb) for mb in (0.001, 8, 10_000))
    assert tiny == 1 and big == 100 and 1 <= mid <= 100
    assert auto_chunk(faces, code, "z", 100, 16) >= mid


# ------------------------------------------------------------------------------- methods


@pytest.fixture(scope="module")
def mouth_grams(faces):
    from lowrankgan.maths.jacobian import region_grams
    from lowrankgan.maths.regions import parse_region
    J = compute_jacobian(faces, faces.sample([5])[0], progress=False)
    return region_grams(J, parse_region("mouth", 64, faces.presets).at(64))


def test_order_paper_is_the_projection_of_each_principal_direction(mouth_grams):
    M_f, M_b = mouth_grams
    dirs = lowrankgan_directions(M_f, M_b, order="paper")
    lam = default_lambda(100)
    s_f, V_f = spectrum(robust_pca(M_f, lam).L)
    P = V_f[:, :numerical_rank(s_f)]
    N = rest_null_space(M_b, lam)[0]
    expected = (N @ (N.T @ P))
    expected = (expected / expected.norm(dim=0)).T.float()
    got = dirs.vectors
    assert got.shape == expected.shape
    # Same vectors in the principal order, up to the canonical sign.
    assert torch.allclose((got * expected).sum(1).abs(), torch.ones(len(got)), atol=1e-4)


def test_relax_gives_back_rest_directions(mouth_grams):
    M_f, M_b = mouth_grams
    base = lowrankgan_directions(M_f, M_b)
    relaxed = lowrankgan_directions(M_f, M_b, relax=3)
    assert relaxed.info["null_dim"] == base.info["null_dim"] + 3
    assert relaxed.params["relax"] == 3
    # A larger null space admits more region energy for the top direction.
    energy = lambda v: float(v.double() @ M_f @ v.double())
    assert energy(relaxed.vectors[0]) >= energy(base.vectors[0]) - 1e-9


# ------------------------------------------------------------------------------- front ends


def test_page_zip_with_a_drawn_region_is_read_back_by_the_cli(tmp_path, capsys):
    pytest.importorskip("flask")
    from lowrankgan.web.server import create_app
    from lowrankgan.web.session import Workspace

    workspace = Workspace(["dcgan-faces"], device="cpu")
    app = create_app(workspace)
    client = app.test_client()
    client.environ_base["HTTP_X_LOWRANKGAN_TOKEN"] = app.token  # the page sends its token with every request
    yy, xx = np.mgrid[:64, :64]
    mask = ((yy - 46) ** 2 / 30 + (xx - 31) ** 2 / 140 < 1) ^ ((yy + xx) % 3 == 0)  # a long box union
    body = {"seed": 2, "mask": "".join("1" if v else "0" for v in mask.ravel()), "method": "lowrankgan", "top_k": 3}
    job = client.post("/api/compute", json=body).get_json()
    for _ in range(600):
        state = client.get(f"/api/jobs/{job['job']}").get_json()
        if state["state"] in ("done", "error"):
            break
        __import__("time").sleep(0.5)
    assert state["state"] == "done", state
    data = client.get(f"/api/directions?result={state['result']['result']}").data
    zipfile.ZipFile(io.BytesIO(data)).extractall(tmp_path)
    folder = tmp_path / "directions"
    meta = json.loads((folder / "directions.json").read_text())
    assert meta["region"] == "region.png" and "leak_source_top1" in meta
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    import os
    before = os.getcwd()
    os.chdir(elsewhere)  # the region is found beside the direction files, not in the working directory
    try:
        for extra in (["--outline"], ["--path-steps", "1", "--strengths", "-1:1:3"]):
            code = main(["edit", "--directions", str(folder), "--seeds", "2", *extra, "--out", str(tmp_path / "e.png")])
            assert code == 0, capsys.readouterr().err
    finally:
        os.chdir(before)


@pytest.mark.slow
def test_evaluate_per_image_cross_fills_the_matrix(tmp_path, capsys):
    code = main(["evaluate", "--region", "mouth", "--seeds", "1,2", "--methods", "lowrankgan,resefa", "--per-image",
                 "--cross", "--top-k", "1", "--targets", "0.1", "--no-progress", "--out", str(tmp_path / "ev")])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "ev" / "summary.json").read_text())
    for method in ("lowrankgan", "resefa"):
        g = summary["generalisation"]["mouth"][method]
        assert g["sources"] == ["1", "2"] and g["targets"] == [1, 2]
        matrix = np.array(g["matrix"], dtype=float)
        assert matrix.shape == (2, 2) and np.isfinite(matrix).all()
        # Each image's own directions are at least as local on it as the other image's (diagonal).
        assert matrix[0, 0] <= matrix[1, 0] * 1.5 and matrix[1, 1] <= matrix[0, 1] * 1.5


def test_api_composed_edit_matches_straight_line(faces):
    dirset = api.find_directions(faces, 4, "mouth", top_k=2, progress=False, leak_images=0)
    two = api.composed_edit(faces, dirset, [4], [1.5, -0.5])
    v = 1.5 * dirset.vectors[0] - 0.5 * dirset.vectors[1]
    code = api.sample_codes(faces, [4]) + torch.from_numpy(v)
    assert torch.allclose(two, faces.synthesize(code).clamp(-1, 1), atol=1e-5)
