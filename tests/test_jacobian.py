import torch

from lowrankgan.maths.jacobian import analysis_image, compute_jacobian, embed_direction


def test_forward_mode_matches_reverse_mode(faces):
    code = faces.sample([4])[0]
    J = compute_jacobian(faces, code, analysis_size=16, cache=False, progress=False)
    f = lambda c: analysis_image(faces.synthesize(c[None]), 16)[0]
    ref = torch.autograd.functional.jacobian(f, code)
    assert J.shape == (256, 100)
    assert torch.allclose(J, ref, atol=1e-5, rtol=1e-4)


def test_chunking_does_not_change_the_result(faces):
    code = faces.sample([5])[0]
    a = compute_jacobian(faces, code, analysis_size=32, chunk_size=7, cache=False, progress=False)
    b = compute_jacobian(faces, code, analysis_size=32, chunk_size=100, cache=False, progress=False)
    assert torch.allclose(a, b, atol=1e-6)


def test_disk_cache_round_trip_and_damaged_entry(faces, tmp_path, monkeypatch):
    monkeypatch.setenv("LOWRANKGAN_HOME", str(tmp_path))
    code = faces.sample([6])[0]
    first = compute_jacobian(faces, code, progress=False)
    files = list((tmp_path / "jacobians").glob("*.pt"))
    assert len(files) == 1
    assert torch.equal(compute_jacobian(faces, code, progress=False), first)
    files[0].write_bytes(b"damaged")
    assert torch.equal(compute_jacobian(faces, code, progress=False), first)
    # Another analysis size is another entry.
    compute_jacobian(faces, code, analysis_size=32, progress=False)
    assert len(list((tmp_path / "jacobians").glob("*.pt"))) == 2


def test_embed_direction_broadcasts_onto_layers_only_in_w_plus(faces):
    p = torch.ones(100)
    assert torch.equal(embed_direction(faces, p, "z", None), p)
