"""`--ray`: directions and evaluations on a local Ray cluster (2 CPUs, started here) agree with one
process, survive a killed worker, resume a killed driver; without --ray, Ray is never imported."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import ray
import torch

from lowrankgan import api
from lowrankgan.cli import main
from lowrankgan.errors import LowRankGANError
from lowrankgan.distributed import ray_region_grams
from lowrankgan.distributed.cluster import check_reachable
from lowrankgan.evaluation import log as evlog
from lowrankgan.maths.jacobian import cache_hits_all, region_gram_pair
from lowrankgan.maths.methods import find

from test_stylegan2 import fake_modules  # noqa: F401

SEEDS = [0, 1, 2, 3, 4]
EVAL = dict(regions=["eyes"], seeds=[0, 1], methods=["lowrankgan", "random"], per_image=True, cross=True,
            top_k=1, targets=[0.1], mse_strength=2.0, progress=False, device="cpu", examples=1)


@pytest.fixture(scope="module")
def cluster():
    """One local 2-CPU cluster for the module (starting Ray costs seconds); the workers inherit
    this process's environment (PYTHONPATH, the test session's LOWRANKGAN_HOME)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def reference(faces):
    """Region Grams of SEEDS in one process, without the Jacobian cache (the workers compute theirs)."""
    region = api.as_region(faces, "mouth")
    return region_gram_pair(faces, faces.sample(SEEDS, "z"), region, "z", None, 64, cache=False, progress=False)


def test_without_ray_nothing_imports_it(tmp_path):
    code = ("import sys; from lowrankgan.cli import main; assert 'ray' not in sys.modules, 'cli imports ray'; "
            f"rc = main(['directions', '--seed', '0', '--region', 'mouth', '--device', 'cpu', '--out', {str(tmp_path / 'd')!r}]); "
            "assert rc == 0; assert 'ray' not in sys.modules, 'directions imports ray'")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_missing_ray_is_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)
    rc = main(["directions", "--seed", "0", "--region", "mouth", "--device", "cpu", "--ray", "local",
               "--out", str(tmp_path / "d")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("lowrankgan: error: --ray needs Ray") and "pip install" in err
    assert not (tmp_path / "d").exists()
    with pytest.raises(LowRankGANError, match="needs an address"):
        api.find_directions("dcgan-faces", 0, "mouth", ray=" ", leak_images=0, progress=False)


def test_bad_addresses_are_one_clear_line(tmp_path, capsys):
    with pytest.raises(LowRankGANError, match="nothing answers there"):
        check_reachable("127.0.0.1:1")  # what connect() checks before ray.init, which would retry for minutes
    rc = main(["directions", "--seed", "0", "--region", "mouth", "--device", "cpu", "--ray", "headnode",
               "--out", str(tmp_path / "d")])
    assert rc == 2 and "give host:port" in capsys.readouterr().err and not (tmp_path / "d").exists()


@pytest.mark.slow
def test_same_directions_as_one_process(cluster, faces, reference):
    one = find(reference, api.DEFAULT_METHOD, top_k=10)  # what find_directions does in one process
    on_ray = api.find_directions(faces, SEEDS, "mouth", cache=False, progress=False, leak_images=0, ray="local")
    assert on_ray.meta["ray"]["workers"] == 2 and on_ray.meta["ray"]["tasks"] == len(SEEDS)
    assert on_ray.meta["ray"]["failures"] == []
    vectors = one.vectors.cpu().numpy().astype(np.float32)
    assert abs(float(np.dot(vectors[0], on_ray.vectors[0]))) >= 0.999
    for rank in ("rank_region", "rank_rest"):
        assert on_ray.meta["info"][rank] == one.info[rank]
    # one image per task: the driver adds the same Grams in the same order as one process
    np.testing.assert_array_equal(vectors, on_ray.vectors)


@pytest.mark.slow
def test_workers_compute_in_the_precision_and_chunks_asked_and_the_file_says_so(cluster, faces):
    """The precision reaches the workers: their cache entries are keyed by it (the test session's
    cache is theirs too), and the file records what they report. A chunk size reaches them too;
    a second run that finds every Jacobian cached records no chunk at all."""
    seeds, size = [31, 32], 40  # an analysis size no other test uses: nothing cached before
    codes = faces.sample(seeds, "z")
    assert not any(cache_hits_all(faces, codes[i:i + 1], "z", None, size, True, p)
                   for i in range(2) for p in ("strict", "tf32"))
    kwargs = dict(analysis_size=size, progress=False, leak_images=0, top_k=2, ray="local")
    first = api.find_directions(faces, seeds, "mouth", precision="tf32", chunk_size=3, **kwargs)
    assert first.meta["precision"] == "tf32" and first.meta["ray"]["precision"] == "tf32"
    assert first.meta["ray"]["chunk_sizes"] == [3]
    assert cache_hits_all(faces, codes, "z", None, size, True, "tf32")
    assert not any(cache_hits_all(faces, codes[i:i + 1], "z", None, size, True, "strict") for i in range(2))
    again = api.find_directions(faces, seeds, "mouth", precision="tf32", chunk_size=3, **kwargs)
    assert again.meta["ray"]["chunk_sizes"] == [] and again.meta["precision"] == "tf32"
    np.testing.assert_array_equal(first.vectors, again.vectors)
    with pytest.raises(LowRankGANError, match="unknown precision"):
        api.find_directions(faces, seeds, "mouth", precision="half", **kwargs)


@pytest.mark.slow
def test_killed_worker_is_retried_and_nothing_counts_twice(cluster, faces, reference):
    killed = []

    def kill_the_newest_task(pool):
        """Once an image is done, SIGKILL the worker that was just handed a task (so it dies mid-task)."""
        busy = [w for w in pool.workers if w.task is not None]
        if pool.done >= 1 and not killed and busy:
            victim = max(busy, key=lambda w: w.task.index)
            killed.append((victim.pid, victim.task.what))
            os.kill(victim.pid, signal.SIGKILL)

    region = api.as_region(faces, "mouth")
    grams, info = ray_region_grams("local", "dcgan-faces", faces, SEEDS, faces.sample(SEEDS, "z"), region, "z", None, 64,
                                   cache=False, progress=False, images_per_task=2, on_dispatch=kill_the_newest_task)
    assert len(killed) == 1
    pid, what = killed[0]
    assert any(f["worker"].startswith(f"pid {pid} ") and f["task"] == what for f in info["failures"]), info["failures"]
    # tasks of two images (another split than one process's) and one of them run twice: the same Grams
    torch.testing.assert_close(grams.M_f, reference.M_f, rtol=1e-12, atol=0)
    torch.testing.assert_close(grams.M_b, reference.M_b, rtol=1e-12, atol=0)
    assert (grams.n_f, grams.n_b) == (reference.n_f, reference.n_b)


@pytest.mark.slow
def test_evaluate_on_ray_resumes_a_killed_driver_with_the_same_table(cluster, faces, tmp_path, capsys):
    alone = api.evaluate(faces, out=tmp_path / "alone", plots=False, **EVAL)
    lines = (tmp_path / "alone" / evlog.LOG_NAME).read_text().splitlines(keepends=True)
    # a driver killed a third of the way: config and the first records written, a torn last line
    killed = tmp_path / "killed"
    killed.mkdir()
    (killed / "config.json").write_text((tmp_path / "alone" / "config.json").read_text())
    kept = len(lines) // 3
    (killed / evlog.LOG_NAME).write_text("".join(lines[:kept]) + lines[kept][:25])
    rc = main(["evaluate", "--model", "dcgan-faces", "--device", "cpu", "--region", "eyes", "--seeds", "0-1",
               "--methods", "lowrankgan,random", "--per-image", "--cross", "--top-k", "1", "--targets", "0.1",
               "--mse-strength", "2", "--examples", "1", "--no-progress", "--ray", "local", "--out", str(killed)])
    out = capsys.readouterr().out
    assert rc == 0
    assert api.format_evaluation(alone) in out
    keys = [evlog.record_key(json.loads(x)) for x in (killed / evlog.LOG_NAME).read_text().splitlines()]
    assert len(keys) == len(set(keys)) == len(lines)
    assert set(keys) == {evlog.record_key(json.loads(x)) for x in lines}
    summary = json.loads((killed / "summary.json").read_text())
    assert summary["new_records"] == len(lines) - kept and summary["ray"]["workers"] == 2


@pytest.mark.slow
def test_a_model_a_worker_cannot_load_is_one_clear_error(cluster, faces, tmp_path):
    region = api.as_region(faces, "mouth")
    with pytest.raises(LowRankGANError, match="unknown model") as caught:
        ray_region_grams("local", str(tmp_path / "only-on-the-driver.pt"), faces, [0], faces.sample([0], "z"), region,
                         "z", None, 64, cache=False, progress=False, workers=1)
    assert type(caught.value) is LowRankGANError  # not Ray's wrapper: the CLI prints it as one line


@pytest.mark.slow
def test_stylegan3_transform_reaches_the_workers(cluster, tmp_path, fake_modules):
    """`directions --translate/--rotate --ray`: the workers' Jacobians are of the moved picture too."""
    from lowrankgan.models.stylegan3 import build_generator
    from test_stylegan3 import _cfg, write_sg3_pkl
    ckpt = tmp_path / "sg3.pkl"
    write_sg3_pkl(ckpt, build_generator(_cfg(), seed=3), fake_modules)
    gen = api.load_model(str(ckpt), device="cpu")
    kwargs = dict(cache=False, progress=False, leak_images=0, top_k=1)
    still = api.find_directions(gen, [0, 1], "box:8,8,12,12", **kwargs).vectors[0]
    with api.input_transform(gen, (0.125, 0.0), 15.0):
        moved = api.find_directions(gen, [0, 1], "box:8,8,12,12", **kwargs).vectors[0]
        on_ray = api.find_directions(gen, [0, 1], "box:8,8,12,12", ray="local", **kwargs).vectors[0]
    assert abs(float(moved @ on_ray)) >= 0.999 and abs(float(still @ on_ray)) < 0.99
