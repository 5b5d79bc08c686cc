"""Direction files: ``directions.npy`` ``[k, d]`` float32 unit rows, best first, a
``directions.json`` sidecar saying what they belong to, and ``latent.npy`` with the source code(s).

A bare ``[k, d]`` ``.npy`` (the authors' published format) loads too; it cannot say which model it
was made for, so only its dimension is checked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .dirmeta import FORMAT_VERSION, check_meta
from ..errors import LowRankGANError
from .latents import Latents
from ..maths.regions import MASK_IMAGE_SUFFIXES
from ..limits import MAX_LATENT_BYTES, MAX_STRENGTH, printable
from ..readers import read_json, read_npy
from ..safewrite import atomic_write, check_output_dir, staged_dir, write_json



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
        """The recorded region spec (``load_directions`` has already resolved its mask images
        inside the direction folder: ``dirmeta.resolve_region_paths``)."""
        spec = self.meta.get("region")
        return spec if isinstance(spec, str) and spec.strip() else None

    def one(self, index: int) -> "DirectionSet":
        """The same set with direction ``index`` only (its paths, its leaks, one at a time)."""
        return DirectionSet(self.vectors[index:index + 1], self.meta, self.latents, self.source)


DIRECTION_FILES = ("directions.npy", "latent.npy", "directions.json")


def save_directions(dirset: DirectionSet, out_dir: Path) -> Path:
    """``directions.npy``, ``latent.npy`` and ``directions.json`` in ``out_dir``, all or none."""
    target = check_output_dir(Path(out_dir), DIRECTION_FILES)
    with staged_dir(target) as out:
        _write_directions(dirset, out)
    return target


def _write_directions(dirset: DirectionSet, out: Path) -> None:
    vectors = np.ascontiguousarray(dirset.vectors, dtype=np.float32)

    def save_npy(array):
        # np.save appends .npy to names without it; write through an open handle instead.
        return lambda tmp: np.save(open(tmp, "wb"), array)

    atomic_write(out / "directions.npy", save_npy(vectors))
    if dirset.latents is not None:
        atomic_write(out / "latent.npy", save_npy(np.ascontiguousarray(dirset.latents, dtype=np.float32)))
    meta = dict(dirset.meta, format_version=FORMAT_VERSION, shape=list(vectors.shape))
    write_json(out / "directions.json", meta)  # a leak never reached is null, as the reader takes it


def load_directions(path: str | Path) -> DirectionSet:
    """A folder written by ``save_directions``, its ``directions.npy``, or a bare ``[k, d]`` ``.npy``."""
    path = Path(path).expanduser()
    if path.is_dir():
        npy = path / "directions.npy"
        if not npy.exists():
            raise LowRankGANError(f"{path} holds no directions.npy; give a folder written by `lowrankgan directions` or a .npy file")
    elif path.exists() or path.is_symlink():
        npy = path
    else:
        raise LowRankGANError(f"direction file {path} does not exist")
    folder = npy.parent if path.is_dir() else None  # inside a folder, no file may be a link out of it
    vectors = read_npy(npy, "direction file", root=folder)
    if vectors.ndim == 1:
        vectors = vectors[None]
    if 0 in vectors.shape:
        raise LowRankGANError(f"{npy} has shape {list(vectors.shape)}; it holds no direction")
    norms = np.linalg.norm(vectors.astype(np.float64), axis=1, keepdims=True)
    zero = np.flatnonzero(norms[:, 0] == 0)
    if zero.size:
        rows = ", ".join(map(str, zero[:5])) + (", ..." if zero.size > 5 else "")
        raise LowRankGANError(f"{npy}: row{'s' * (zero.size > 1)} {rows} (of {vectors.shape[0]}, counted from 0) "
                              f"{'are' if zero.size > 1 else 'is'} all zeros; a direction needs a non-zero "
                              "vector: remove those rows from the file")
    sidecar = npy.with_name("directions.json") if npy.name == "directions.npy" else npy.with_suffix(".json")
    meta: dict = {}
    if sidecar.exists() or sidecar.is_symlink():
        where = f"sidecar {sidecar}"
        meta = check_meta(read_json(sidecar, "sidecar", root=npy.parent), where, npy.parent)
        if meta.get("latent_dim") is not None and meta["latent_dim"] != vectors.shape[1]:
            raise LowRankGANError(f"{where}: field 'latent_dim' is {meta['latent_dim']} but {npy.name} holds "
                                  f"{vectors.shape[1]}-dimensional directions")
    latent_path = npy.with_name("latent.npy")
    latents = None
    if meta and (latent_path.exists() or latent_path.is_symlink()):
        latents = read_npy(latent_path, "latent file", max_dims=3, max_bytes=MAX_LATENT_BYTES, root=npy.parent)
    vectors = (vectors / norms).astype(np.float32)
    return DirectionSet(vectors, meta, latents, str(npy))


def check_compatible(dirset: DirectionSet, model_family: str, model_id: str, space: str, dim: int) -> None:
    """Refuse directions made for another model, latent space or dimension, naming both sides."""
    meta = dirset.meta
    made = (f"model {printable(meta.get('model') or '?', 80)}, space {meta.get('latent_space') or '?'}, "
            f"d={dirset.dim}")
    here = f"model {model_id}, space {space}, d={dim}"
    if dirset.dim != dim:
        raise LowRankGANError(f"directions in {dirset.source} were made for {made}; they cannot edit {here}")
    if meta:
        family = str(meta.get("model_family") or meta.get("model", "")).split("@")[0]
        if family and family != model_family:
            raise LowRankGANError(f"directions in {dirset.source} were made for {made}; they cannot edit {here}")
        if meta.get("latent_space") and meta["latent_space"] != space:
            raise LowRankGANError(f"directions in {dirset.source} were made for {made}; they cannot edit {here} "
                                  f"(use space {meta['latent_space']})", "space")


def region_beside(dirset: DirectionSet, spec: str | None) -> str | None:
    """The region as given, except that a relative mask image missing from the working directory
    but present beside the direction files (the page's ``region.png``) is taken from there."""
    if not spec or not dirset.source:
        return spec
    folder = Path(dirset.source).parent
    parts = []
    for part in spec.split("+"):
        part = part.strip()
        path = Path(part)
        if path.suffix.lower() in MASK_IMAGE_SUFFIXES and not path.is_absolute() and not path.exists() \
                and (folder / path).is_file():
            part = str(folder / path)
        parts.append(part)
    return "+".join(parts)


def source_latents(dirset: DirectionSet) -> Latents | None:
    """The codes the directions were found on, where they were found on codes rather than seeds
    (directions found on codes, a photo on the page: ``seeds`` is null) and ``latent.npy`` holds
    them: what ``edit`` edits when told no seeds. None otherwise."""
    if dirset.latents is None or dirset.meta.get("seeds") is not None:
        return None
    space = dirset.meta.get("latent_space")
    return Latents(dirset.latents, space, dirset.meta, str(Path(dirset.source).with_name("latent.npy")))


def recorded_alphas(dirset: DirectionSet, text: str) -> tuple[list[float], int | None, int | None]:
    """Slider values: a comma list, or ``recorded`` for the page's sliders saved in the
    direction file (its ``slider_alphas``, ``slider_path_steps`` and ``slider_seed``)."""
    if text.strip().lower() == "recorded":
        alphas = dirset.meta.get("slider_alphas")
        if not isinstance(alphas, list) or not all(isinstance(a, (int, float)) for a in alphas):
            raise LowRankGANError("alphas recorded: the direction file records no slider values "
                                  "(download it from the page, or give alphas a1,a2,...)", "alphas")
        steps, seed = dirset.meta.get("slider_path_steps"), dirset.meta.get("slider_seed")
        return ([float(a) for a in alphas], steps if isinstance(steps, int) else None,
                seed if isinstance(seed, int) else None)
    try:
        alphas = [float(a) for a in text.split(",")]
    except ValueError:
        raise LowRankGANError(f"bad alphas '{printable(text)[:60]}': give a comma list of numbers, "
                              "one per direction (or 'recorded')", "alphas") from None
    if len(alphas) > dirset.vectors.shape[0] or not all(math.isfinite(a) and abs(a) <= MAX_STRENGTH for a in alphas):
        raise LowRankGANError(f"alphas: give at most {dirset.vectors.shape[0]} finite numbers within "
                              f"±{MAX_STRENGTH:g}, one per direction", "alphas")
    return alphas, None, None


Transform = tuple[tuple[float, float], float]  # ((tx, ty) image widths/heights, degrees), as inputtransform's


def transform_meta(transform: Transform) -> dict:
    """The metadata fields that record the StyleGAN3 input transform directions are found at
    (``translate``, ``rotate``); none for no transform, so that other models' files do not change."""
    (tx, ty), deg = transform
    if tx == 0.0 and ty == 0.0 and deg == 0.0:
        return {}
    return {"translate": [float(tx), float(ty)], "rotate": float(deg)}


def recorded_transform(dirset: DirectionSet) -> Transform | None:
    """The StyleGAN3 input transform the directions were found at (``translate`` / ``rotate``,
    or ``slider_translate`` / ``slider_rotate`` in page ZIPs written before those fields; checked
    on loading), which ``edit`` applies unless told otherwise; None where the file records none
    or a zero one."""
    meta = dirset.meta
    prefix = "" if meta.get("translate") is not None or meta.get("rotate") is not None else "slider_"
    translate, rotate = meta.get(f"{prefix}translate"), meta.get(f"{prefix}rotate")
    tx, ty = translate if translate is not None else (0.0, 0.0)
    if tx == 0.0 and ty == 0.0 and not rotate:
        return None
    return (float(tx), float(ty)), float(rotate or 0.0)


def transform_text(transform: Transform) -> str:
    (tx, ty), deg = transform
    return f"translate {tx:g},{ty:g}, rotate {deg:g} degrees"
