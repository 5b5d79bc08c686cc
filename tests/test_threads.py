"""The CPU thread policy: one thread for small images, more for large ones; LOWRANKGAN_THREADS and
--threads override it; bad values are refused in one line."""

import os

import pytest
import torch

from lowrankgan.cli import main
from lowrankgan.errors import LowRankGANError
from lowrankgan.threads import MAX_DEFAULT, chosen_threads, default_threads


@pytest.fixture(autouse=True)
def restore_threads(monkeypatch):
    monkeypatch.delenv("LOWRANKGAN_THREADS", raising=False)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_small_images_get_one_thread_large_ones_more():
    assert default_threads(64) == default_threads(128) == default_threads(256) == default_threads(None) == 1
    assert default_threads(1024) == max(1, min(os.cpu_count() or 1, MAX_DEFAULT))


def test_the_environment_and_the_caller_override_the_policy(monkeypatch):
    monkeypatch.setenv("LOWRANKGAN_THREADS", "3")
    assert chosen_threads(None, 64) == 3 and chosen_threads(2, 64) == 2
    monkeypatch.setenv("LOWRANKGAN_THREADS", "all")
    assert chosen_threads(None, 64) == (os.cpu_count() or 1)
    monkeypatch.setenv("LOWRANKGAN_THREADS", "many")
    with pytest.raises(LowRankGANError, match="LOWRANKGAN_THREADS 'many': give a number of threads"):
        chosen_threads(None, 64)


def test_cli_sets_the_threads_it_was_given(capsys, tmp_path):
    torch.set_num_threads(2)
    assert main(["sample", "--seeds", "0", "--out", str(tmp_path / "g.png")]) == 0
    assert torch.get_num_threads() == 1  # dcgan-faces is 64 px: the policy's one thread
    assert main(["sample", "--seeds", "0", "--threads", "2", "--out", str(tmp_path / "g.png")]) == 0
    assert torch.get_num_threads() == 2
    code = main(["sample", "--seeds", "0", "--threads", "0.5", "--out", str(tmp_path / "g.png")])
    assert code == 2 and "--threads '0.5': give a number of threads such as 1 or 4, or all" in capsys.readouterr().err
