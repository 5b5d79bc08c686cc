"""Model families: both StyleGAN loaders read NVIDIA pickles through one public module, callers ask
adapters what they can do instead of testing their class, and the Jacobian cache key covers every
source file and outside package version the adapter's images depend on."""

import ast
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import lowrankgan
from lowrankgan.errors import LowRankGANError
from lowrankgan.maths import sourcekey
from lowrankgan.maths.jacobian_cache import cache_path
from lowrankgan.models import model_reference
from lowrankgan.models.biggan import BigGANAdapter
from lowrankgan.models.dcgan import DCGANAdapter
from lowrankgan.models.stylegan2.adapter import StyleGAN2Adapter, build_random_stylegan2
from lowrankgan.models.stylegan3 import StyleGAN3Adapter, build_random_stylegan3
from lowrankgan.photos.invert import invert_image
from lowrankgan.photos.photoinvert import face_alignment

SRC = Path(lowrankgan.__file__).parent
LANDMARKS = np.array([[40.0, 50.0], [80.0, 52.0], [60.0, 75.0], [45.0, 95.0], [78.0, 96.0]])


@pytest.fixture(scope="module")
def sg2():
    return build_random_stylegan2(16, 16, 128, 16, seed=1, mapping_layers=2)


@pytest.fixture(scope="module")
def sg3():
    return build_random_stylegan3(16, 16, 256, 16, num_layers=4, mapping_layers=1, seed=2)


@pytest.fixture
def tiny_dcgan():
    torch.manual_seed(0)
    net = nn.Sequential(nn.ConvTranspose2d(8, 8, 4, 1, 0), nn.ReLU(), nn.ConvTranspose2d(8, 3, 4, 2, 1), nn.Tanh())
    return DCGANAdapter(net.eval().requires_grad_(False), "tiny")


@pytest.fixture
def fresh_fingerprints():
    sourcekey.code_fingerprint.cache_clear()
    yield
    sourcekey.code_fingerprint.cache_clear()  # what a test patched is never remembered


def _relative(files):
    return {str(p.relative_to(SRC)) for p in files}


# ----------------------------------------------------------------------------- one pickle reader

def test_no_model_module_imports_another_modules_private_names():
    """The StyleGAN3 loader used to import five private helpers of StyleGAN2's; shared code has
    public names (``models/nvidia``)."""
    for path in sorted((SRC / "models").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("lowrankgan")):
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                assert not private, f"{path.relative_to(SRC)} imports private {private} from {node.module}"


def test_both_stylegan_loaders_read_pickles_through_the_shared_module():
    for loader in ("stylegan2/loaders.py", "stylegan3/loader.py"):
        assert "lowrankgan.models.nvidia" in sourcekey.imported_names(SRC / "models" / loader, "lowrankgan.models.x.y")


# ----------------------------------------------------------------------------- capabilities

def test_callers_outside_models_never_test_an_adapters_class():
    for path in sorted(SRC.rglob("*.py")):
        if path.is_relative_to(SRC / "models"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("isinstance", "issubclass"):
                kinds = node.args[1].elts if isinstance(node.args[1], ast.Tuple) else [node.args[1]]
                names = [getattr(k, "id", getattr(k, "attr", "")) for k in kinds]
                assert all(n == "GeneratorAdapter" or not n.endswith("Adapter") for n in names), \
                    f"{path.relative_to(SRC)}:{node.lineno} tests for {names}: ask the adapter instead"


def test_stylegan3_shares_the_style_based_base_not_stylegan2s_class(sg2, sg3):
    assert not issubclass(StyleGAN3Adapter, StyleGAN2Adapter)
    for gen in (sg2, sg3):
        w_avg = gen.generator.mapping.w_avg
        assert torch.equal(gen.mean_code("w"), w_avg[None])
        assert torch.equal(gen.mean_code("w+"), w_avg[None, None].expand(1, gen.num_layers, -1))
        # The mean code is a code like any other: its image is the w-space image of w_avg.
        assert torch.equal(gen.synthesize(gen.mean_code("w+"), "w+"), gen.synthesize(w_avg[None], "w"))
        with pytest.raises(LowRankGANError, match="has no mean code in space z"):
            gen.mean_code("z")
    assert sg3.describe()["family"] == "stylegan3" and sg2.describe()["family"] == "stylegan2"


def test_a_model_without_a_mean_code_refuses_it_and_still_inverts_in_z(tiny_dcgan):
    with pytest.raises(LowRankGANError, match="model tiny has no mean code in space z"):
        tiny_dcgan.mean_code("z")
    target = tiny_dcgan.synthesize(tiny_dcgan.sample([5]))
    result = invert_image(tiny_dcgan, target, "z", steps=3, restarts=1, progress=False)
    assert result.code.shape == (1, 8) and result.space == "z"


def test_face_photos_get_the_crop_the_model_declares(sg2, sg3, tiny_dcgan):
    photo = np.zeros((160, 140, 3), np.uint8)
    assert face_alignment(sg2, photo, LANDMARKS).method == "ffhq"
    assert face_alignment(sg3, photo, LANDMARKS).method == "ffhq"  # used to ride on StyleGAN2's class
    assert face_alignment(tiny_dcgan, photo, LANDMARKS).method == "dcgan-faces-template"


def test_each_model_says_what_loads_it_again(sg2, tiny_dcgan, tmp_path):
    """A BigGAN loads from its folder, a StyleGAN from its file, a zoo model by name; the Ray
    workers and the files' ``model_source`` use this, not a test of the family's name."""
    from lowrankgan.models.biggan import load_biggan, small_config
    (tmp_path / "pytorch_model.bin").write_bytes(b"weights")
    (tmp_path / "sg.pkl").write_bytes(b"weights")
    gan = load_biggan(small_config(), device="cpu")
    assert model_reference(gan) is None  # built in memory
    gan.source = str(tmp_path / "pytorch_model.bin")
    assert model_reference(gan) == str(tmp_path.resolve())
    assert model_reference(sg2) is None
    sg_file = StyleGAN2Adapter(sg2.generator, "stylegan2-sg@sg.pkl", source=tmp_path / "sg.pkl")
    assert model_reference(sg_file) == str((tmp_path / "sg.pkl").resolve())
    zoo = DCGANAdapter(tiny_dcgan.net, "dcgan-faces", source="dcgan-faces")
    assert model_reference(zoo) == "dcgan-faces"


# ----------------------------------------------------------------------------- the cache key

def test_import_scan_finds_what_a_full_parse_finds():
    """The fast scan reads only import lines; on every module of the library it must find exactly
    the imports a full parse finds (inside functions too)."""
    for path in sorted(SRC.rglob("*.py")):
        module = ".".join(("lowrankgan", *path.relative_to(SRC).with_suffix("").parts)).removesuffix(".__init__")
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        full = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                full.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
                base = package[:len(package) - node.level + 1] if node.level else []
                target = ".".join(base + (node.module.split(".") if node.module else []))
                full |= {target} | {f"{target}.{a.name}" for a in node.names}
        assert sourcekey.imported_names(path, module) == full, path


def test_stylegan3_key_covers_stylegan2s_mapping_network_and_the_jacobian_code():
    files, outside = sourcekey.import_closure(StyleGAN3Adapter.__module__, sourcekey.JACOBIAN_MODULE)
    names = _relative(files)
    assert {"models/stylegan2/network.py", "models/stylegan3/network.py", "models/stylebased.py",
            "models/nvidia/records.py", "maths/jacobian.py", "maths/precision.py", "models/base.py"} <= names
    assert "models/biggan.py" not in names and "api/__init__.py" not in names  # only what it imports
    assert "torch" in outside and "pytorch_pretrained_biggan" not in outside
    _, biggan_outside = sourcekey.import_closure(BigGANAdapter.__module__, sourcekey.JACOBIAN_MODULE)
    assert "pytorch_pretrained_biggan" in biggan_outside  # imported inside a function


def test_a_change_to_stylegan2s_network_invalidates_stylegan3_jacobians(sg3, tmp_path, monkeypatch, fresh_fingerprints):
    code = sg3.sample([3], "w")[0]
    before = cache_path(sg3, code, "w", None, 16, "strict")
    edited = tmp_path / "network.py"
    shutil.copy(SRC / "models" / "stylegan2" / "network.py", edited)
    edited.write_text(edited.read_text() + "\n# a changed line\n")
    real = sourcekey.module_file
    monkeypatch.setattr(sourcekey, "module_file",
                        lambda name: edited if name == "lowrankgan.models.stylegan2.network" else real(name))
    sourcekey.code_fingerprint.cache_clear()
    assert cache_path(sg3, code, "w", None, 16, "strict") != before
    monkeypatch.setattr(sourcekey, "module_file", real)
    sourcekey.code_fingerprint.cache_clear()
    assert cache_path(sg3, code, "w", None, 16, "strict") == before  # same source, same key


def test_the_version_of_a_package_the_network_imports_is_in_the_key(monkeypatch, fresh_fingerprints):
    keys = {cls: sourcekey.code_fingerprint(cls) for cls in (BigGANAdapter, DCGANAdapter)}
    real = sourcekey.package_version
    monkeypatch.setattr(sourcekey, "package_version",
                        lambda name: "9.9.9" if name == "pytorch_pretrained_biggan" else real(name))
    sourcekey.code_fingerprint.cache_clear()
    assert sourcekey.code_fingerprint(BigGANAdapter) != keys[BigGANAdapter]
    assert sourcekey.code_fingerprint(DCGANAdapter) == keys[DCGANAdapter]  # DCGAN does not import it
    monkeypatch.setattr(sourcekey, "package_version", lambda name: "9.9.9" if name == "torch" else real(name))
    sourcekey.code_fingerprint.cache_clear()
    assert sourcekey.code_fingerprint(DCGANAdapter) != keys[DCGANAdapter]


def test_an_adapter_defined_outside_the_library_is_keyed_by_its_own_file(tiny_dcgan, fresh_fingerprints):
    class Local(DCGANAdapter):
        pass

    files, _ = sourcekey.import_closure(Local.__module__, sourcekey.JACOBIAN_MODULE)
    assert Path(__file__).resolve() in {p.resolve() for p in files}
    assert "models/dcgan.py" in _relative(p for p in files if p.is_relative_to(SRC))


def test_package_versions_are_the_installed_ones():
    import importlib.metadata

    import PIL
    assert sourcekey.package_version("torch") == importlib.metadata.version("torch")
    assert sourcekey.package_version("PIL") == PIL.__version__  # import name is not the distribution's
    assert sourcekey.package_version("no_such_package_here") == "absent"


@pytest.mark.parametrize("first", ["lowrankgan.models.stylegan3", "lowrankgan.models.stylebased",
                                   "lowrankgan.models.stylegan2", "lowrankgan.models.stylegan3.adapter"])
def test_each_style_module_imports_first_in_a_new_process(first):
    """The StyleGAN code loads on use, so any of its modules may be the first one imported (a cycle between
    stylebased and stylegan2's package broke `import lowrankgan.models.stylegan3` in a fresh process)."""
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-c", f"import {first}"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
