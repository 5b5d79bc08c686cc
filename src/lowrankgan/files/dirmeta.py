"""Checks of what a direction file says about itself (``directions.json``): every field the tool
reads is validated by type and range, with a message that names the field, before it is used.

Region paths in the file are resolved inside the direction folder (never from the working
directory, never outside the folder).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..errors import LowRankGANError
from ..maths.methods import METHODS, Param
from ..maths.regions import MASK_IMAGE_SUFFIXES
from ..limits import (MAX_ANALYSIS_SIZE, MAX_LATENT_DIM, MAX_LAYERS, MAX_PATH_STEPS, MAX_REGION_CHARS, MAX_SEED,
                      MAX_SEEDS, MAX_STRENGTH, MAX_TRANSLATE, MAX_TRUNCATION, MIN_ANALYSIS_SIZE, check_float,
                      check_int, printable)

FORMAT_VERSION = 1
MAX_TEXT = MAX_REGION_CHARS  # the longest text field: a region spec


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


def _registry_check(param: Param) -> Callable[[Any, str, str], Any]:
    """The check of a recorded method parameter: the registry's own type and range (what
    ``find_directions`` accepted when it wrote the value)."""
    def check(value: Any, name: str, where: str) -> Any:
        if value is None and param.default is None:
            return None
        if param.type is bool:
            return _flag(value, name, where)
        if param.type is str:
            return _choice(value, name, where, param.choices)
        low = param.low if param.low is not None else -1e300
        high = param.high if param.high is not None else 1e300
        if param.type is int:
            return check_int(value, name, int(low), int(high), where)
        return check_float(value, name, low, high, where)
    return check


_PARAM_CHECKS: dict[str, Callable[[Any, str, str], Any]] = {
    p.name: _registry_check(p) for m in METHODS.values() for p in m.params}
if "lam" in _PARAM_CHECKS:
    _PARAM_CHECKS["lambda"] = _PARAM_CHECKS["lam"]  # lowrankgan records its lam (default 1/sqrt(d)) as lambda


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
        out["latent_dim"] = check_int(meta["latent_dim"], "latent_dim", 1, MAX_LATENT_DIM, where)
    if "shape" in meta:
        out["shape"] = _int_list(meta["shape"], "shape", where, 0, 1 << 31, 2)
    if "layers" in meta:
        out["layers"] = _int_list(meta["layers"], "layers", where, 0, MAX_LAYERS - 1, MAX_LAYERS)
    if meta.get("analysis_size") is not None:
        out["analysis_size"] = check_int(meta["analysis_size"], "analysis_size", MIN_ANALYSIS_SIZE,
                                          MAX_ANALYSIS_SIZE, where)
    if "params" in meta:
        out["params"] = _params(meta["params"], where)
    if meta.get("seeds") is not None:
        out["seeds"] = _int_list(meta["seeds"], "seeds", where, 0, MAX_SEED, MAX_SEEDS)
    if meta.get("trunc") is not None:
        out["trunc"] = check_float(meta["trunc"], "trunc", 0.0, MAX_TRUNCATION, where)
    if meta.get("region_fraction") is not None:
        out["region_fraction"] = check_float(meta["region_fraction"], "region_fraction", 0.0, 1.0, where)
    if meta.get("leak_source_top1") is not None:
        out["leak_source_top1"] = check_float(meta["leak_source_top1"], "leak_source_top1", 0.0, 1e12, where)
    _check_transform(meta, out, where)
    _check_sliders(meta, out, where)
    for name in ("timing_s",):
        if meta.get(name) is not None:
            out[name] = _number_map(meta[name], name, where)
    if meta.get("info") is not None and not isinstance(meta["info"], dict):
        raise LowRankGANError(f"{where}: field 'info' must be an object, got {_kind(meta['info'])}")
    region = _text(meta.get("region"), "region", where)
    if region is not None:
        out["region"] = resolve_region_paths(region, folder, where)
    return out


def _check_sliders(meta: dict, out: dict, where: str) -> None:
    """What the page records of its sliders (``recorded_alphas`` reads it): values, path
    steps and seed, within the library's bounds (the page's own are smaller)."""
    if meta.get("slider_alphas") is not None:
        value = meta["slider_alphas"]
        if not isinstance(value, list) or len(value) > MAX_LATENT_DIM:
            raise LowRankGANError(f"{where}: field 'slider_alphas' must be a list of at most {MAX_LATENT_DIM} numbers")
        out["slider_alphas"] = [check_float(v, f"slider_alphas[{i}]", -MAX_STRENGTH, MAX_STRENGTH, where)
                                for i, v in enumerate(value)]
    if meta.get("slider_path_steps") is not None:
        out["slider_path_steps"] = check_int(meta["slider_path_steps"], "slider_path_steps", 0, MAX_PATH_STEPS, where)
    if meta.get("slider_seed") is not None:
        out["slider_seed"] = check_int(meta["slider_seed"], "slider_seed", 0, MAX_SEED, where)
    for name in ("path", "slider_path"):  # the path the directions were made for / the page rendered
        if meta.get(name) is not None and meta[name] not in ("local", "straight"):
            raise LowRankGANError(f"{where}: field '{name}' must be 'local' or 'straight'")
    tops = meta.get("slider_path_tops")
    if tops is not None:
        if not isinstance(tops, list) or len(tops) > MAX_LATENT_DIM or not all(
                isinstance(t, list) and len(t) == 2 for t in tops):
            raise LowRankGANError(f"{where}: field 'slider_path_tops' must be a list of [plus, minus] pairs")
        out["slider_path_tops"] = [[check_float(v, f"slider_path_tops[{i}]", 0.0, MAX_STRENGTH, where) for v in t]
                                   for i, t in enumerate(tops)]


def _check_transform(meta: dict, out: dict, where: str) -> None:
    """The StyleGAN3 input transform the directions were found at: ``translate`` [tx, ty] (image
    widths/heights) and ``rotate`` (degrees) as ``find_directions`` records them, within what the
    model accepts (page ZIPs before those fields wrote ``slider_translate`` / ``slider_rotate``)."""
    for prefix in ("", "slider_"):
        name = f"{prefix}translate"
        if meta.get(name) is not None:
            value = meta[name]
            if not isinstance(value, list) or len(value) != 2:
                raise LowRankGANError(f"{where}: field '{name}' must be a list of two numbers [tx, ty]")
            out[name] = [check_float(v, f"{name}[{i}]", -MAX_TRANSLATE, MAX_TRANSLATE, where) for i, v in enumerate(value)]
        name = f"{prefix}rotate"
        if meta.get(name) is not None:
            out[name] = check_float(meta[name], name, -1e300, 1e300, where)  # any finite angle


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
