"""Crafted hostile inputs (a few hundred bytes that ask for gigabytes, hangs, tracebacks) and a
runner that gives each CLI invocation its own process under a memory limit and a timeout.

The runner imports torch once and forks one child per case (a fresh interpreter per case would
cost ~2 s of imports each); the child sets ``RLIMIT_AS`` before it runs ``lowrankgan.cli.main``.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import subprocess
import sys
import types
import zipfile
import zlib
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]

RUNNER = r"""
import json, os, resource, signal, sys, time, traceback
import torch, numpy, PIL.Image  # imported once, shared by every forked case
import lowrankgan.cli, lowrankgan.api, lowrankgan.models.stylegan2, lowrankgan.models.biggan
try:
    import pytorch_pretrained_biggan  # 3 s of imports that every BigGAN case would repeat
except ImportError:
    pass
cases = json.load(open(sys.argv[1]))
limit_mb, timeout = int(sys.argv[2]), float(sys.argv[3])
vm = int([l for l in open("/proc/self/status") if l.startswith("VmSize")][0].split()[1]) * 1024
results = []
for case in cases:
    err_path = case["cwd"] + ".stderr"
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            resource.setrlimit(resource.RLIMIT_AS, (vm + limit_mb * 2**20,) * 2)
            os.chdir(case["cwd"])
            fd = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            code = lowrankgan.cli.main(case["argv"])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 99
        sys.stderr.flush()
        os._exit(code if isinstance(code, int) else 1)
    timed_out = False
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() - t0 > timeout:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            timed_out, status = True, -1
            break
        time.sleep(0.01)
    rc = os.waitstatus_to_exitcode(status) if status != -1 else None
    err = open(err_path, errors="replace").read() if os.path.exists(err_path) else ""
    results.append({"name": case["name"], "rc": rc, "stderr": err, "timed_out": timed_out,
                    "seconds": round(time.monotonic() - t0, 3)})
print(json.dumps(results))
"""


def run_cases(cases: list[dict], limit_mb: int = 1500, timeout: float = 60.0) -> list[dict]:
    """Run each ``{"name", "argv", "cwd"}`` case through the CLI in its own forked process."""
    spec = Path(cases[0]["cwd"]).parent / "cases.json"
    spec.write_text(json.dumps(cases))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.run([sys.executable, "-c", RUNNER, str(spec), str(limit_mb), str(timeout)],
                          capture_output=True, text=True, env=env, timeout=timeout * len(cases) + 120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# ----------------------------------------------------------------------------------- pickles

class _Pickled:
    """Pickles as a call ``module.name(*args)`` with an arbitrary global, as NVIDIA's files do."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def _fake_global(module: str, name: str):
    """A function pickle writes as ``module.name`` (pickle checks the module attribute)."""
    parts = module.split(".")
    for i in range(1, len(parts) + 1):
        sys.modules.setdefault(".".join(parts[:i]), types.ModuleType(".".join(parts[:i])))
    if hasattr(sys.modules[module], name):
        return getattr(sys.modules[module], name)

    def fn(*args):
        raise AssertionError("never called")
    fn.__module__, fn.__qualname__ = module, name
    setattr(sys.modules[module], name, fn)
    return fn


def nvidia_record(class_name: str, state: dict) -> _Pickled:
    fn = _fake_global("torch_utils.persistence", "_reconstruct_persistent_obj")
    return _Pickled(fn, {"type": "class", "version": 6, "module_src": "", "class_name": class_name,
                         "state": state})


def nvidia_pickle(path: Path, g_ema, protocol: int = 4) -> Path:
    with open(path, "wb") as f:
        pickle.dump({"G_ema": g_ema, "G": g_ema}, f, protocol=protocol)
    return path


SMALL_KWARGS = {"z_dim": 8, "w_dim": 8, "c_dim": 0, "img_resolution": 8, "img_channels": 3,
                "mapping_kwargs": {"num_layers": 2}, "synthesis_kwargs": {"channel_base": 64, "channel_max": 8}}


def nvidia_shared_records(path: Path, levels: int = 40) -> Path:
    """Records that share their child twice per level: 2^levels paths through a tiny file."""
    rec = nvidia_record("Leaf", {"_parameters": {}, "_modules": {}})
    for _ in range(levels):
        rec = nvidia_record("Block", {"_parameters": {}, "_modules": OrderedDict(a=rec, b=rec)})
    top = nvidia_record("Generator", {"_init_kwargs": SMALL_KWARGS, "_modules": OrderedDict(mapping=rec)})
    return nvidia_pickle(path, top)


def nvidia_kwargs(path: Path, **override) -> Path:
    kwargs = {**SMALL_KWARGS, **override}
    return nvidia_pickle(path, nvidia_record("Generator", {"_init_kwargs": kwargs, "_modules": {}}))


def nvidia_expanded_tensor(path: Path) -> Path:
    """A 4-byte storage viewed as a 40000x40000 tensor (stride 0)."""
    big = torch.zeros(1).expand(40000, 40000)
    return nvidia_pickle(path, nvidia_record("Generator", {"_init_kwargs": SMALL_KWARGS,
                                                           "_parameters": {"w": big}, "_modules": {}}))


def tf_wide_components(path: Path, breadth: int = 30, levels: int = 8) -> Path:
    """A TF Network whose components repeat one child ``breadth`` times per level."""
    sys.modules.setdefault("dnnlib", types.ModuleType("dnnlib"))
    sys.modules.setdefault("dnnlib.tflib", types.ModuleType("dnnlib.tflib"))
    module = sys.modules.setdefault("dnnlib.tflib.network", types.ModuleType("dnnlib.tflib.network"))

    class Network:
        def __init__(self, state):
            self.state = state

        def __getstate__(self):
            return self.state
    Network.__module__, Network.__qualname__ = "dnnlib.tflib.network", "Network"
    module.Network = Network
    net = Network({"name": "leaf", "variables": [("x", np.zeros(1, np.float32))], "components": {}})
    for _ in range(levels):
        net = Network({"name": "n", "variables": [], "components": {f"c{i}": net for i in range(breadth)}})
    with open(path, "wb") as f:
        pickle.dump((net, net, net), f, protocol=4)
    return path


# ----------------------------------------------------------------------------------- torch files

def dcgan_state(**extra) -> dict:
    """A small valid DCGAN state (100 -> 3 channels, 4x4 -> 8x8), plus ``extra`` entries."""
    g = torch.Generator().manual_seed(0)
    state = {"main.0.weight": torch.randn(100, 8, 4, 4, generator=g) * 0.02,
             "main.1.weight": torch.ones(8), "main.1.bias": torch.zeros(8),
             "main.1.running_mean": torch.zeros(8), "main.1.running_var": torch.ones(8),
             "main.1.num_batches_tracked": torch.tensor(0),
             "main.3.weight": torch.randn(8, 3, 4, 4, generator=g) * 0.02}
    state.update(extra)
    return state


def torch_file(path: Path, obj) -> Path:
    torch.save(obj, path)
    return path


def sparse_giant(path: Path) -> Path:
    """A sparse tensor of two values that claims 100000x100000 dense entries."""
    index = torch.tensor([[0, 99999], [0, 99999]])
    with torch.sparse.check_sparse_tensor_invariants(True):
        giant = torch.sparse_coo_tensor(index, torch.tensor([1.0, 2.0]), (100000, 100000))
    return torch_file(path, {"main.0.weight": giant})


def zip_bomb(path: Path, mb: int = 64) -> Path:
    """A torch zip whose records are deflated: a few hundred KB holding ``mb`` MB of zeros."""
    plain = path.with_suffix(".plain")
    torch.save({"main.0.weight": torch.zeros(mb * 2**18 // 16, 4, 2, 2)}, plain)
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
    plain.unlink()
    return path


def legacy_storage_claim(path: Path) -> Path:
    """A pre-1.6 (non-zip) torch file whose storage claims 2^31 floats (8 GB) in 280 KB."""
    buf = io.BytesIO()
    torch.save({"main.0.weight": torch.zeros(70000)}, buf, _use_new_zipfile_serialization=False)
    count = b"J" + struct.pack("<i", 70000)  # the element count, in the pickle and before the data
    path.write_bytes(buf.getvalue().replace(count, b"J" + struct.pack("<i", 2**31 - 1)))
    return path


# ----------------------------------------------------------------------------------- images, npy

def png_header_only(path: Path, width: int, height: int, rows: int = 2) -> Path:
    """A PNG that claims ``width``x``height`` 1-bit pixels and carries ``rows`` rows of data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = (b"\0" + b"\0" * ((width + 7) // 8)) * rows
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    return path


def npy_with_header(path: Path, header: str, data: bytes = b"") -> Path:
    """A .npy file with a verbatim header dict (version 1.0)."""
    text = header + " " * (-(10 + len(header) + 1) % 64) + "\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1") + data)
    return path


def direction_folder(folder: Path, meta: dict | None = None, raw_json: bytes | None = None,
                     dim: int = 100) -> Path:
    """``directions.npy`` (3 unit rows of ``dim``) with a sidecar from ``meta`` or ``raw_json``."""
    folder.mkdir(parents=True, exist_ok=True)
    vectors = np.eye(3, dim, dtype=np.float32)
    np.save(folder / "directions.npy", vectors)
    if raw_json is not None:
        (folder / "directions.json").write_bytes(raw_json)
    elif meta is not None:
        base = {"model": "dcgan-faces", "model_family": "dcgan-faces", "latent_space": "z", "latent_dim": dim}
        (folder / "directions.json").write_text(json.dumps({**base, **meta}))
    return folder
