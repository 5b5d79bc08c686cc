"""Direction files (DESIGN §2): ``directions.npy`` ``[k, d]`` float32 unit rows, best first, a
``directions.json`` sidecar saying what they belong to, and ``latent.npy`` with the source code(s).

A bare ``[k, d]`` ``.npy`` (the authors' published format) loads too; it cannot say which model it
was made for, so only its dimension is checked.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import LowRankGANError

FORMAT_VERSION = 1
MASK_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


@dataclass
class DirectionSet:
    vectors: np.ndarray  # float32 [k, d]
    meta: dict = field(default_factory=dict)
    latents: np.ndarray | None = None
    source: str = ""

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def region(self) -> str | None:
        """The recorded region spec, with mask images named relative to the direction folder
        (the page's ``region.png``) resolved inside that folder, never the working directory."""
        spec = self.meta.get("region")
        if not isinstance(spec, str) or not spec.strip():
            return None
        if not self.source:
            return spec
        folder = Path(self.source).parent
        parts = []
        for part in spec.split("+"):
            part = part.strip()
            if Path(part).suffix.lower() in MASK_SUFFIXES and not Path(part).is_absolute():
                part = str(folder / part)
            parts.append(part)
        return "+".join(parts)


def atomic_write(path: Path, write) -> None:
    """Write through a temporary file in the same folder, then rename: no half-written files."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def ensure_writable_dir(path: Path) -> Path:
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LowRankGANError(f"cannot create output folder {path}: {exc.strerror}; choose another --out") from None
    if not os.access(path, os.W_OK):
        raise LowRankGANError(f"output folder {path} is not writable; choose another --out")
    return path


def check_writable(path: Path) -> Path:
    """Fail before any work if ``path`` (a folder, created later) could not be written."""
    path = Path(path)
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise LowRankGANError(f"output {path}: {probe} is a file, not a folder; choose another --out")
    if not os.access(probe, os.W_OK):
        raise LowRankGANError(f"output {path} is not writable ({probe} denies writing); choose another --out")
    return path


def save_directions(dirset: DirectionSet, out_dir: Path) -> Path:
    out = ensure_writable_dir(Path(out_dir))
    vectors = np.ascontiguousarray(dirset.vectors, dtype=np.float32)

    def save_npy(array):
        # np.save appends .npy to names without it; write through an open handle instead.
        return lambda tmp: np.save(open(tmp, "wb"), array)

    atomic_write(out / "directions.npy", save_npy(vectors))
    if dirset.latents is not None:
        atomic_write(out / "latent.npy", save_npy(np.ascontiguousarray(dirset.latents, dtype=np.float32)))
    meta = dict(dirset.meta, format_version=FORMAT_VERSION, shape=list(vectors.shape))
    atomic_write(out / "directions.json", lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=2) + "\n"))
    return out


def _read_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise LowRankGANError(f"cannot read {path} as a numpy array ({str(exc).splitlines()[0][:120]})") from None


def load_directions(path: str | Path) -> DirectionSet:
    """A folder written by ``save_directions``, its ``directions.npy``, or a bare ``[k, d]`` ``.npy``."""
    path = Path(path).expanduser()
    if path.is_dir():
        npy = path / "directions.npy"
        if not npy.exists():
            raise LowRankGANError(f"{path} holds no directions.npy; give a folder written by `lowrankgan directions` or a .npy file")
    elif path.exists():
        npy = path
    else:
        raise LowRankGANError(f"direction file {path} does not exist")
    vectors = _read_npy(npy)
    if vectors.ndim == 1:
        vectors = vectors[None]
    if vectors.ndim != 2 or not np.issubdtype(vectors.dtype, np.floating):
        raise LowRankGANError(f"{npy} has shape {list(vectors.shape)} ({vectors.dtype}); directions are a float [k, d] array")
    if not np.isfinite(vectors).all():
        raise LowRankGANError(f"{npy} holds NaN or infinite values")
    sidecar = npy.with_name("directions.json") if npy.name == "directions.npy" else npy.with_suffix(".json")
    meta: dict = {}
    if sidecar.exists():
        try:
            meta = json.loads(sidecar.read_text())
        except json.JSONDecodeError as exc:
            raise LowRankGANError(f"sidecar {sidecar} is not valid JSON ({exc.msg}); fix or delete it") from None
    latent_path = npy.with_name("latent.npy")
    latents = _read_npy(latent_path) if (meta and latent_path.exists()) else None
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = (vectors / np.where(norms == 0, 1, norms)).astype(np.float32)
    return DirectionSet(vectors, meta, latents, str(npy))


def check_compatible(dirset: DirectionSet, model_family: str, model_id: str, space: str, dim: int) -> None:
    """Refuse directions made for another model, latent space or dimension, naming both sides."""
    meta = dirset.meta
    made = f"model {meta.get('model', '?')}, space {meta.get('latent_space', '?')}, d={dirset.dim}"
    here = f"model {model_id}, space {space}, d={dim}"
    if dirset.dim != dim:
        raise LowRankGANError(f"directions in {dirset.source} were made for {made}; they cannot edit {here}")
    if meta:
        family = str(meta.get("model_family") or meta.get("model", "")).split("@")[0]
        if family and family != model_family:
            raise LowRankGANError(f"directions in {dirset.source} were made for {made}; they cannot edit {here}")
        if meta.get("latent_space") and meta["latent_space"] != space:
            raise LowRankGANError(f"directions in {dirset.source} were made for {made}; they cannot edit {here} "
                                  f"(use --space {meta['latent_space']})")
