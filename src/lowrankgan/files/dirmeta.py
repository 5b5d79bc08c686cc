"""Checks of what a direction file says about itself (``directions.json``): every field the tool
reads is validated by type and range, with a message that names the field, before it is used.

Region paths in the file are resolved inside the direction folder (never from the working
directory, never outside the folder).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..errors import LowRankGANError
from ..maths.factorize import ORDERS
from ..maths.regions import MASK_IMAGE_SUFFIXES
from ..limits import (MAX_LATENT_DIM, MAX_PAGE_ROTATE, MAX_PAGE_TRANSLATE, MAX_SEED, MAX_SEEDS, MAX_TRANSLATE, check_float,
                     check_int, printable)

FORMAT_VERSION = 1
MAX_TEXT = 1_000_000  # the longest region spec parse_region accepts
MAX_LAYERS = 64
MAX_ANALYSIS_SIZE = 1024


def _text(value: Any, name: str, where: str, nullable: bool = True) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise LowRankGANError(f"{where}: field '{name}' must be a string, got {_kind(value)}")
    if len(value) > MAX_TEXT:
        raise LowRankGANError(f"{where}: field '{name}' is longer than {MAX_TEXT} characters")
    return value


def _kind(value: Any) -> str:
    return {type(None): "null", bool: "true/false", dict: "an object", list: "a list"}.get(type(value),
                                                                                           type(value).__name__)


def _int_list(value: Any, name: str, where: str, low: int, high: int, limit: int) -> list[int] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > limit:
        raise LowRankGANError(f"{where}: field '{name}' must be a list of at most {limit} integers")
    return [check_int(v, f"{name}[{i}]", low, high, where) for i, v in enumerate(value)]


def _space(value: Any, name: str, where: str) -> str | None:
    value = _text(value, name, where)
    if value is not None and value not in ("z", "w", "w+"):
        raise LowRankGANError(f"{where}: field '{name}' is '{printable(value, 20)}'; use z, w or w+")
    return value


def _number_map(value: Any, name: str, where: str) -> dict:
    if not isinstance(value, dict):
        raise LowRankGANError(f"{where}: field '{name}' must be an object, got {_kind(value)}")
    for key, v in value.items():
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise LowRankGANError(f"{where}: field '{name}.{printable(key, 40)}' must be a number")
    return value


_PARAM_CHECKS: dict[str, Callable[[Any, str, str], Any]] = {
    "lambda": lambda v, n, w: None if v is None else check_float(v, n, 1e-12, 1e6, w),
    "lam": lambda v, n, w: None if v is None else check_float(v, n, 1e-12, 1e6, w),
    "relax": lambda v, n, w: check_int(v, n, 0, MAX_LATENT_DIM * MAX_LAYERS, w),
    "rank_rtol": lambda v, n, w: check_float(v, n, 0.0, 1.0, w),
    "tau": lambda v, n, w: check_float(v, n, 0.0, 1e6, w),
    "order": lambda v, n, w: _choice(v, n, w, ORDERS),
    "samples": lambda v, n, w: check_int(v, n, 1, 10**7, w),
    "seed_offset": lambda v, n, w: check_int(v, n, 0, MAX_SEED, w),
    "seed": lambda v, n, w: check_int(v, n, 0, MAX_SEED, w),
    "normalize": lambda v, n, w: _flag(v, n, w),
}


def _choice(value: Any, name: str, where: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise LowRankGANError(f"{where}: field '{name}' must be one of {', '.join(choices)}")
    return value


def _flag(value: Any, name: str, where: str) -> bool:
    if not isinstance(value, bool):
        raise LowRankGANError(f"{where}: field '{name}' must be true or false")
    return value


def _scalar(value: Any, name: str, where: str) -> Any:
    """A parameter this tool does not use: any JSON scalar (finite numbers, short text)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return check_float(value, name, -1e300, 1e300, where) if isinstance(value, float) else value
    if isinstance(value, str) and len(value) <= 200:
        return value
    raise LowRankGANError(f"{where}: field '{name}' must be a number, text or true/false, got {_kind(value)}")


def _params(value: Any, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise LowRankGANError(f"{where}: field 'params' must be an object, got {_kind(value)}")
    out = {}
    for key, v in value.items():
        check = _PARAM_CHECKS.get(key, _scalar)  # methods registered elsewhere keep their own params
        out[key] = check(v, f"params.{printable(key, 40)}", where)
    return out


def check_meta(meta: Any, where: str, folder: Path) -> dict:
    """The sidecar ``meta`` with every field the tool reads checked; raises naming the field."""
    if not isinstance(meta, dict):
        raise LowRankGANError(f"{where}: the file holds {_kind(meta)}, not a JSON object; fix or delete it")
    out = dict(meta)
    if "format_version" in meta:
        out["format_version"] = check_int(meta["format_version"], "format_version", 1, FORMAT_VERSION, where)
    for name in ("tool", "version", "model", "model_family", "model_source", "class", "method"):
        if name in meta:
            out[name] = _text(meta[name], name, where)
    if "latent_space" in meta:
        out["latent_space"] = _space(meta["latent_space"], "latent_space", where)
    if "latent_dim" in meta:
        out["latent_dim"] = check_int(meta["latent_dim"], "latent_dim", 1, MAX_LATENT_DIM * MAX_LAYERS, where)
    if "shape" in meta:
        out["shape"] = _int_list(meta["shape"], "shape", where, 0, 1 << 31, 2)
    if "layers" in meta:
        out["layers"] = _int_list(meta["layers"], "layers", where, 0, MAX_LAYERS - 1, MAX_LAYERS)
    if meta.get("analysis_size") is not None:
        out["analysis_size"] = check_int(meta["analysis_size"], "analysis_size", 2, MAX_ANALYSIS_SIZE, where)
    if "params" in meta:
        out["params"] = _params(meta["params"], where)
    if meta.get("seeds") is not None:
        out["seeds"] = _int_list(meta["seeds"], "seeds", where, 0, MAX_SEED, MAX_SEEDS)
    if meta.get("trunc") is not None:
        out["trunc"] = check_float(meta["trunc"], "trunc", 0.0, 1e3, where)
    if meta.get("region_fraction") is not None:
        out["region_fraction"] = check_float(meta["region_fraction"], "region_fraction", 0.0, 1.0, where)
    if meta.get("leak_source_top1") is not None:
        out["leak_source_top1"] = check_float(meta["leak_source_top1"], "leak_source_top1", 0.0, 1e12, where)
    _check_transform(meta, out, where)
    for name in ("timing_s",):
        if meta.get(name) is not None:
            out[name] = _number_map(meta[name], name, where)
    if meta.get("info") is not None and not isinstance(meta["info"], dict):
        raise LowRankGANError(f"{where}: field 'info' must be an object, got {_kind(meta['info'])}")
    region = _text(meta.get("region"), "region", where)
    if region is not None:
        out["region"] = resolve_region_paths(region, folder, where)
    return out


def _check_transform(meta: dict, out: dict, where: str) -> None:
    """The StyleGAN3 input transform the directions were found at: ``translate`` [tx, ty] (image
    widths/heights) and ``rotate`` (degrees) as ``find_directions`` records them, within what the
    model accepts; page ZIPs before those fields wrote ``slider_translate`` / ``slider_rotate``,
    within the page's bounds."""
    for prefix, max_translate, max_rotate in (("", MAX_TRANSLATE, 1e300), ("slider_", MAX_PAGE_TRANSLATE, MAX_PAGE_ROTATE)):
        name = f"{prefix}translate"
        if meta.get(name) is not None:
            value = meta[name]
            if not isinstance(value, list) or len(value) != 2:
                raise LowRankGANError(f"{where}: field '{name}' must be a list of two numbers [tx, ty]")
            out[name] = [check_float(v, f"{name}[{i}]", -max_translate, max_translate, where) for i, v in enumerate(value)]
        name = f"{prefix}rotate"
        if meta.get(name) is not None:
            out[name] = check_float(meta[name], name, -max_rotate, max_rotate, where)


def resolve_region_paths(spec: str, folder: Path, where: str) -> str:
    """``spec`` with each mask-image part resolved inside ``folder`` (the direction file's), so
    that a file names only masks that travel with it, wherever the command runs."""
    parts = []
    for part in spec.split("+"):
        part = part.strip()
        if part.startswith("box:") or not _looks_like_path(part):
            parts.append(part)  # a box or a preset name
            continue
        rel = Path(part)
        base = folder.resolve()
        target = (base / rel).resolve()
        if rel.is_absolute() or not target.is_relative_to(base):
            raise LowRankGANError(f"{where}: field 'region' names the mask '{printable(part, 80)}' outside the "
                                  "direction folder; keep mask images beside directions.json (relative paths)")
        parts.append(str(target))
    return "+".join(parts)


def _looks_like_path(part: str) -> bool:
    return "/" in part or "\\" in part or Path(part).suffix.lower() in MASK_IMAGE_SUFFIXES
