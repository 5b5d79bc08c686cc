"""BigGAN through pytorch-pretrained-biggan, offline: a small random config stands in for the weights."""

import numpy as np
import pytest
import torch

pytest.importorskip("pytorch_pretrained_biggan")

from lowrankgan import api  # noqa: E402
from lowrankgan.errors import LowRankGANError  # noqa: E402
from lowrankgan.maths.jacobian import compute_jacobian  # noqa: E402
from lowrankgan.models.base import seed_codes  # noqa: E402
from lowrankgan.models.biggan import (BigGANAdapter, _fetch, load_biggan, small_config,  # noqa: E402
                                      truncated_seed_codes)


@pytest.fixture(scope="module")
def gan():
    return load_biggan(small_config(), truncation=0.5, class_name=3, device="cpu")


def test_shapes_and_determinism(gan):
    assert isinstance(gan, BigGANAdapter)
    assert (gan.latent_dim, gan.resolution, gan.class_name) == (16, 32, "3")
    z = gan.sample([0, 1])
    assert z.shape == (2, 16) and float(z.abs().max()) <= 2 * 0.5
    img = gan.synthesize(z)
    assert img.shape == (2, 3, 32, 32) and img.abs().max() <= 1 and img.std() > 0.01
    other = load_biggan(small_config(), truncation=0.5, class_name=3)
    assert other.model_id == gan.model_id
    assert torch.equal(other.synthesize(other.sample([0, 1])), img)
    other.set_class(4)
    assert not torch.allclose(other.synthesize(z), img)


def test_seed_codes_are_truncated_normal():
    z = truncated_seed_codes(range(50), 128)
    plain = seed_codes(range(50), 128)
    assert float(z.abs().max()) <= 2.0
    keep = plain.abs() <= 2
    assert torch.equal(z[keep], plain[keep])  # only out-of-range entries are redrawn


def test_classes_and_truncation_errors():
    big = load_biggan(small_config(num_classes=1000), truncation=1.0)
    big.set_class("n01531178")  # goldfinch by WordNet id, offline
    assert big._class_index == 11 and big.class_name == "n01531178"
    big.set_class(999)
    with pytest.raises(LowRankGANError, match="out of range"):
        big.set_class(1000)
    try:
        import nltk  # noqa: F401
    except ImportError:
        with pytest.raises(LowRankGANError, match="nltk"):
            big.set_class("goldfinch")
    with pytest.raises(LowRankGANError, match="truncation"):
        big.set_truncation(0)
    assert big.synthesize(big.sample([0])).shape == (1, 3, 32, 32)  # truncation 1.0 stays in the stats table


def test_forward_mode_jacobian_matches_finite_differences(gan):
    code = gan.sample([5])[0]
    J = compute_jacobian(gan, code, "z", None, 32, cache=False, progress=False)
    assert J.shape == (32 * 32, 16)
    # central differences in float64 (float32 and a large step are dominated by ReLU kinks)
    import copy
    ref = copy.copy(gan)
    ref.model = copy.deepcopy(gan.model).double()
    eps = 1e-5
    e = torch.zeros(16, dtype=torch.float64)
    e[2] = eps
    c64 = code.double()
    with torch.no_grad():
        fd = (ref.synthesize((c64 + e)[None]) - ref.synthesize((c64 - e)[None])).mean(1).flatten() / (2 * eps)
    assert float((J[:, 2].double() - fd).norm() / fd.norm()) < 1e-4


@pytest.mark.slow
def test_directions_and_edits(gan):
    for method in ("lowrankgan", "sefa", "jacobian-svd"):
        ds = api.find_directions(gan, [0], "box:8,8,12,12", method=method, top_k=3, progress=False, cache=False)
        assert ds.vectors.shape[1] == 16 and 1 <= ds.vectors.shape[0] <= 3
    imgs = api.edit(gan, ds, [0, 1], [-1.0, 0.0, 1.0])
    assert imgs.shape == (2, 3, 3, 32, 32)
    assert torch.equal(imgs, api.edit(gan, ds, [0, 1], [-1.0, 0.0, 1.0]))
    assert torch.allclose(imgs[:, 1], gan.synthesize(gan.sample([0, 1])).clamp(-1, 1), atol=1e-5)


def test_offline_download_is_a_clear_error(tmp_path, monkeypatch):
    import requests
    from pytorch_pretrained_biggan import file_utils

    def no_network(*a, **k):
        raise requests.exceptions.ConnectionError("no network")

    monkeypatch.setattr(file_utils.requests, "head", no_network)
    with pytest.raises(LowRankGANError, match="cannot fetch the biggan-deep-256 weights.*internet"):
        load_biggan("biggan-deep-256", cache_dir=tmp_path)
    with pytest.raises(LowRankGANError, match="unknown BigGAN"):
        load_biggan("biggan-deep-1024")
    # offline with a copy already cached: that copy is used
    url = "https://example.invalid/x.bin"
    cached = tmp_path / (file_utils.url_to_filename(url) + ".etag")
    cached.write_bytes(b"x")
    assert _fetch(url, tmp_path) == str(cached)


def test_local_folder_and_broken_file(tmp_path, gan):
    import json
    (tmp_path / "config.json").write_text(json.dumps(gan.config.to_dict()))
    torch.save(gan.model.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(LowRankGANError, match="does not fit"):  # baked weights lack weight_orig/u
        load_biggan(str(tmp_path))
    (tmp_path / "pytorch_model.bin").write_text("<html>AccessDenied</html>")
    with pytest.raises(LowRankGANError, match="not a readable BigGAN state dict"):
        load_biggan(str(tmp_path))


def test_truncation_reaches_every_entry_point(gan, tmp_path, monkeypatch):
    """ψ given to prepare_jacobian and evaluate samples the same codes as find_directions."""
    from lowrankgan.evaluation import evaluate
    monkeypatch.setenv("LOWRANKGAN_HOME", str(tmp_path))
    region = "box:8,8,12,12"
    api.prepare_jacobian(gan, 2, trunc=0.5)
    cached = set((tmp_path / "jacobians").glob("*.pt"))
    want = api.find_directions(gan, 2, region, trunc=0.5, top_k=2, progress=False)
    assert set((tmp_path / "jacobians").glob("*.pt")) == cached  # the prepared Jacobian was the one used
    evaluate(gan, region, [2], methods=["lowrankgan"], top_k=2, trunc=0.5, out=tmp_path / "ev",
             progress=False, plots=False, examples=0)
    got = np.load(next((tmp_path / "ev" / "directions").rglob("2.npy")))
    assert np.allclose(got, want.vectors, atol=1e-6)
