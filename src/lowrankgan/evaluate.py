"""``lowrankgan evaluate``: compare direction methods on many images and regions.

For every region and method, directions are found on the source (one seed, Grams averaged over
``--source-seeds``, or each image on itself with ``--per-image``) and measured on every target seed:

- the leak of DESIGN §4 for the top-k directions at each in-region RMS target (``--targets``);
- the masked MSE inside / outside the region at a fixed strength (``--mse-strength``, both signs);
- with ``--path-steps N``, the leak of the path-following edit (``pathedit``) against the straight
  line at 1×, 2× and 3× the calibrated strength of the top direction.

Every finished record is appended to ``DIR/results.jsonl`` (flushed and fsynced) under the key
(region, method, source, target, direction index, level); a restarted run skips the keys already
there, so a killed run loses nothing and counts nothing twice. ``results.csv``, ``summary.json``,
the plots and ``report.html`` are rebuilt from the log at the end.

The calibration is batched: the in-region RMS of every (direction, sign) is evaluated on a
geometric grid of strengths in one pass, then the first crossing of each target is refined by a
few Illinois (regula falsi) steps, all curves and targets at once. The strength found is the
smallest one reaching the target (``metrics.measure_leak`` bisects from a doubling bracket; both
agree where the in-region change grows monotonically). Same cap: ``4·max(1, ‖c‖)``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .errors import LowRankGANError

SOURCE_FREE = ("ganspace", "sefa", "random")  # directions that do not depend on the image
DEFAULT_METHODS = ("lowrankgan", "resefa", "jacobian-svd", "ganspace", "sefa", "random")
DEFAULT_TARGETS = (0.05, 0.1, 0.2)
PATH_MULTIPLES = (1, 2, 3)
LOG_NAME = "results.jsonl"
CONFIG_NAME = "config.json"


# ---------------------------------------------------------------------------------------------
# command line

def add_arguments(p) -> None:
    from .cli import _common
    _common(p)
    p.add_argument("--region", action="append", required=True,
                   help="region spec (box:..., mask image, preset, A+B); repeat for several regions")
    p.add_argument("--seeds", default="0-9", help="target seeds the directions are measured on")
    p.add_argument("--methods", default=",".join(DEFAULT_METHODS), help="comma list of methods")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--source-seed", type=int, default=None, help="directions found on this seed's image (default: the first seed)")
    src.add_argument("--source-seeds", default=None, help="directions from region Grams averaged over these seeds")
    src.add_argument("--per-image", action="store_true", help="each seed's own directions, measured on that seed")
    p.add_argument("--cross", action="store_true", help="with --per-image: measure every seed's directions on every seed (full generalisation matrix)")
    p.add_argument("--top-k", type=int, default=3, help="directions measured per method")
    p.add_argument("--targets", default=",".join(f"{t:g}" for t in DEFAULT_TARGETS),
                   help="in-region RMS targets of the leak metric (images in [-1, 1])")
    p.add_argument("--mse-strength", type=float, default=3.0, help="fixed strength of the masked-MSE figure")
    p.add_argument("--space", default=None)
    p.add_argument("--layers", default=None)
    p.add_argument("--analysis-size", type=int, default=None)
    p.add_argument("--trunc", type=float, default=1.0)
    p.add_argument("--path-steps", type=int, default=0,
                   help="also measure path-following edits with N re-projections up to 3x the calibrated strength")
    p.add_argument("--path-methods", default="lowrankgan", help="methods whose top direction gets the path comparison")
    p.add_argument("--examples", type=int, default=4, help="seeds shown in the report's example grids")
    p.add_argument("--fresh", action="store_true", help="discard results already in --out")
    p.add_argument("--cache-size", default=None,
                   help="disk space the Jacobian cache may use, e.g. 4G (default), 0: none")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--out", required=True, help="output folder")


def _float_list(text: str, what: str) -> list[float]:
    try:
        vals = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise LowRankGANError(f"bad {what} '{text}': give a comma list of numbers such as 0.05,0.1,0.2") from None
    if not vals or any(not math.isfinite(v) or v <= 0 for v in vals):
        raise LowRankGANError(f"bad {what} '{text}': give positive numbers")
    return vals


def run(args) -> int:
    from .edit import parse_int_list
    seeds = parse_int_list(args.seeds)
    source_seeds = parse_int_list(args.source_seeds) if args.source_seeds else None
    layers = parse_int_list(args.layers, "layers") if args.layers else None
    summary = evaluate(
        args.model, args.region, seeds, [m.strip() for m in args.methods.split(",") if m.strip()],
        source_seed=args.source_seed, source_seeds=source_seeds, per_image=args.per_image, cross=args.cross,
        top_k=args.top_k, targets=_float_list(args.targets, "--targets"), mse_strength=args.mse_strength,
        space=args.space, layers=layers, analysis_size=args.analysis_size, trunc=args.trunc,
        path_steps=args.path_steps, path_methods=[m.strip() for m in args.path_methods.split(",") if m.strip()],
        out=args.out, examples=args.examples, fresh=args.fresh, progress=not args.no_progress,
        device=args.device, class_name=args.class_name)
    print(format_table(summary))
    print(f"wrote {Path(args.out) / 'report.html'} ({summary['records']} records, {summary['new_records']} new)")
    return 0


# ---------------------------------------------------------------------------------------------
# the results log

def record_key(rec: dict) -> tuple:
    return (rec["region"], rec["method"], str(rec["source"]), int(rec["target"]), int(rec["index"]), rec["level"])


class ResultLog:
    """Append-only JSON lines; one line per record, fsynced; a torn last line is dropped on open."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.records: dict[tuple, dict] = {}
        if self.path.exists():
            data = self.path.read_bytes()
            end = data.rfind(b"\n") + 1
            if end < len(data):  # a kill mid-write left a partial line: cut it off
                with open(self.path, "r+b") as f:
                    f.truncate(end)
                    f.flush()
                    os.fsync(f.fileno())
            for line in data[:end].decode("utf-8", "replace").splitlines():
                try:
                    rec = json.loads(line)
                    self.records.setdefault(record_key(rec), rec)
                except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                    continue
        self.new = 0

    def __contains__(self, key: tuple) -> bool:
        return key in self.records

    def add(self, records: Sequence[dict]) -> None:
        fresh = [r for r in records if record_key(r) not in self.records]
        if not fresh:
            return
        text = "".join(json.dumps(_jsonable(r), sort_keys=True) + "\n" for r in fresh)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        for r in fresh:
            self.records[record_key(r)] = _jsonable(r)
        self.new += len(fresh)


def _jsonable(obj):
    if isinstance(obj, float):
        if math.isnan(obj):
            return "nan"
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
        return obj
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def _num(value) -> float:
    if isinstance(value, str):
        return float(value)  # "inf", "nan"
    return math.nan if value is None else float(value)


# ---------------------------------------------------------------------------------------------
# batched measurement

def _images(gen, codes: torch.Tensor, space: str, batch: int = 128) -> torch.Tensor:
    out = []
    with torch.no_grad():
        for i in range(0, codes.shape[0], batch):
            out.append(gen.synthesize(codes[i:i + batch].to(gen.device), space).float())
    return torch.cat(out, 0) if out else torch.zeros(0)


def _in_out(gen, code, offsets: torch.Tensor, alphas: torch.Tensor, base: torch.Tensor, mask: torch.Tensor,
            space: str) -> tuple[torch.Tensor, torch.Tensor]:
    """RMS inside / outside for codes ``code + alphas[i] * offsets[i]``."""
    from .metrics import rms_inside_outside
    shape = (-1,) + (1,) * (offsets.dim() - 1)
    codes = code[None] + alphas.view(shape).to(offsets) * offsets
    return rms_inside_outside(_images(gen, codes, space) - base, mask)


def calibrate(gen, code: torch.Tensor, offsets: torch.Tensor, mask: torch.Tensor, targets: Sequence[float],
              space: str, max_strength: float | None = None, grid: int = 12, refine: int = 5) -> dict:
    """For signed offsets ``[C, ...]`` (unit directions already embedded and signed): the smallest
    strength ``α`` with in-region RMS = each target, and the RMS outside there.

    Returns tensors ``alpha``, ``inside``, ``outside`` of shape ``[C, T]`` (``nan`` / ``inf`` where
    unreached within ``max_strength``)."""
    code = code.detach().to(gen.device, torch.float32)
    offsets = offsets.to(gen.device, torch.float32)
    C, T = offsets.shape[0], len(targets)
    if max_strength is None:
        max_strength = 4.0 * max(1.0, float(code.norm(dim=-1).max()))
    with torch.no_grad():
        base = gen.synthesize(code[None], space).float()
    m = mask.to(base.device)
    alphas = torch.logspace(math.log10(max_strength / 2 ** (grid - 1)), math.log10(max_strength), grid)
    rep_off = offsets.repeat_interleave(grid, 0)
    ins, outs = _in_out(gen, code, rep_off, alphas.repeat(C), base, m, space)
    ins, outs = ins.view(C, grid).cpu(), outs.view(C, grid).cpu()
    tgt = torch.tensor(list(targets), dtype=torch.float32)
    # First grid point at or above each target: bracket (lo, hi] with lo = previous point (or 0).
    above = ins[:, None, :] >= tgt[None, :, None]  # [C, T, G]
    reached = above.any(-1)
    first = torch.where(reached, above.float().argmax(-1), torch.zeros_like(reached, dtype=torch.long))
    hi_a = alphas[first]
    lo_a = torch.where(first > 0, alphas[(first - 1).clamp(min=0)], torch.zeros_like(hi_a))
    hi_f = ins.gather(1, first) - tgt[None]  # >= 0
    lo_f = torch.where(first > 0, ins.gather(1, (first - 1).clamp(min=0)), torch.zeros_like(hi_f)) - tgt[None]  # < 0
    best_a, best_in, best_out = hi_a.clone(), ins.gather(1, first), outs.gather(1, first)
    side = torch.zeros(C, T)  # Illinois bookkeeping: which end was kept last time
    idx = reached.nonzero(as_tuple=False)
    if len(idx):
        for _ in range(refine):
            c, t = idx[:, 0], idx[:, 1]
            la, ha, lf, hf = lo_a[c, t], hi_a[c, t], lo_f[c, t], hi_f[c, t]
            mid = ha - hf * (ha - la) / (hf - lf).clamp(min=1e-12)
            mid = torch.where((mid > la) & (mid < ha), mid, (la + ha) / 2)
            i_mid, o_mid = _in_out(gen, code, offsets[c.to(offsets.device)], mid, base, m, space)
            i_mid, o_mid = i_mid.cpu(), o_mid.cpu()
            f_mid = i_mid - tgt[t]
            up = f_mid >= 0
            # keep the best (closest to the target) evaluated point as the answer
            closer = f_mid.abs() < (best_in[c, t] - tgt[t]).abs()
            best_a[c, t] = torch.where(closer, mid, best_a[c, t])
            best_in[c, t] = torch.where(closer, i_mid, best_in[c, t])
            best_out[c, t] = torch.where(closer, o_mid, best_out[c, t])
            # Illinois: halve the stale end's function value when the same end is kept twice
            hi_a[c, t] = torch.where(up, mid, ha)
            hi_f[c, t] = torch.where(up, f_mid, torch.where(side[c, t] < 0, hf / 2, hf))
            lo_a[c, t] = torch.where(up, la, mid)
            lo_f[c, t] = torch.where(up, torch.where(side[c, t] > 0, lf / 2, lf), f_mid)
            side[c, t] = torch.where(up, 1.0, -1.0)
    nan = torch.full_like(best_a, math.nan)
    return {"alpha": torch.where(reached, best_a, nan), "inside": torch.where(reached, best_in, nan),
            "outside": torch.where(reached, best_out, nan), "reached": reached}


def masked_mse(gen, code: torch.Tensor, offsets: torch.Tensor, mask: torch.Tensor, strength: float,
               space: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean squared change (images in [-1, 1], mean over channels and pixels) inside / outside the
    region at ``±strength`` along each of ``offsets`` ``[k, ...]``, averaged over the two signs."""
    code = code.detach().to(gen.device, torch.float32)
    offsets = offsets.to(gen.device, torch.float32)
    k = offsets.shape[0]
    with torch.no_grad():
        base = gen.synthesize(code[None], space).float()
    both = torch.cat([offsets, -offsets], 0)
    ins, outs = _in_out(gen, code, both, torch.full((2 * k,), float(strength)), base, mask.to(base.device), space)
    return (ins ** 2).view(2, k).mean(0).cpu(), (outs ** 2).view(2, k).mean(0).cpu()


# ---------------------------------------------------------------------------------------------
# the evaluation

def _slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:40].strip("_") or "region"
    return f"{s}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


def _default_level(targets: Sequence[float]) -> str:
    return f"t={min(targets, key=lambda t: abs(math.log(t / 0.1))):g}"


def evaluate(model, regions: str | Sequence[str], seeds: Sequence[int], methods: Sequence[str] = DEFAULT_METHODS,
             source_seed: int | None = None, source_seeds: Sequence[int] | None = None, per_image: bool = False,
             cross: bool = False, top_k: int = 3, targets: Sequence[float] = DEFAULT_TARGETS,
             mse_strength: float = 3.0, space: str | None = None, layers: Sequence[int] | None = None,
             analysis_size: int | None = None, trunc: float = 1.0, path_steps: int = 0,
             path_methods: Sequence[str] = ("lowrankgan",), out: str | Path = "evaluation", examples: int = 4,
             fresh: bool = False, progress: bool = True, device: str = "auto", class_name=None,
             method_params: dict | None = None, plots: bool = True) -> dict:
    """Run (or resume) an evaluation into ``out``; returns the summary (also ``out/summary.json``)."""
    from . import api
    from . import methods as _methods  # noqa: F401  (registers jacobian-svd, ganspace, sefa, random)
    from .directionfile import atomic_write, check_writable, ensure_writable_dir, staged_dir
    from .edit import check_seed
    from .pathedit import check_path_steps
    from .factorize import METHODS, find
    from .jacobian import default_analysis_size, embed_direction

    regions = [regions] if isinstance(regions, str) else list(regions)
    seeds = list(dict.fromkeys(int(s) for s in seeds))
    methods = list(dict.fromkeys(methods))
    targets = sorted({float(t) for t in targets})
    if not seeds:
        raise LowRankGANError("no seeds given")
    if not regions:
        raise LowRankGANError("no region given: use --region")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise LowRankGANError(f"unknown method(s) {', '.join(unknown)}; use any of: {', '.join(METHODS)}")
    bad_path = [m for m in path_methods if m not in methods] if path_steps else []
    if bad_path:
        raise LowRankGANError(f"--path-methods {', '.join(bad_path)} are not among --methods")
    if top_k < 1:
        raise LowRankGANError(f"--top-k must be at least 1, got {top_k}")
    check_path_steps(path_steps)
    if not 0 < mse_strength < 1e6:
        raise LowRankGANError(f"--mse-strength must be a positive finite number, got {mse_strength}")
    if source_seed is not None:
        check_seed(int(source_seed), "--source-seed")
    if not 0 <= examples <= 64:
        raise LowRankGANError(f"--examples must be 0..64, got {examples}")
    if cross and not per_image:
        raise LowRankGANError("--cross goes with --per-image")
    if sum(x is not None and x is not False for x in (source_seed, source_seeds, per_image or None)) > 1:
        raise LowRankGANError("give at most one of --source-seed, --source-seeds, --per-image")
    if plots:
        _require_matplotlib()
    out = Path(out)
    check_writable(out)
    gen = api.as_model(model, device, class_name)
    space = gen.check_space(space or gen.default_space)
    layers = gen.resolve_layers(space, layers)
    size = analysis_size or default_analysis_size(gen)
    parsed = {r: api.as_region(gen, r) for r in regions}
    method_params = dict(method_params or {})

    if per_image:
        mode = "per-image-cross" if cross else "per-image"
        sources = [(str(s), [s]) for s in seeds]
    elif source_seeds:
        mode, sources = "averaged", [("avg", list(source_seeds))]
    else:
        s = seeds[0] if source_seed is None else int(source_seed)
        mode, sources = "seed", [(str(s), [s])]

    config = {"model": gen.model_id, "class": gen.class_name, "space": space, "layers": layers,
              "analysis_size": size, "top_k": top_k, "mse_strength": mse_strength, "trunc": trunc,
              "path_steps": path_steps, "mode": mode, "sources": {lbl: ss for lbl, ss in sources} if mode == "averaged" else None,
              "method_params": method_params}
    trunc = api.use_truncation(gen, trunc)  # from here on: the ψ that gen.sample still applies
    ensure_writable_dir(out)
    cfg_path = out / CONFIG_NAME
    log_path = out / LOG_NAME
    if fresh:
        log_path.unlink(missing_ok=True)
        cfg_path.unlink(missing_ok=True)
    if cfg_path.exists() and log_path.exists():
        try:
            old = json.loads(cfg_path.read_text())
        except json.JSONDecodeError:
            old = None
        if old != _jsonable(config):
            diff = sorted(k for k in set(config) | set(old or {}) if (old or {}).get(k) != _jsonable(config).get(k))
            raise LowRankGANError(f"{out} holds results of a run with other settings ({', '.join(diff) or 'unreadable config'}); "
                                  "use another --out, or --fresh to discard them")
    atomic_write(cfg_path, lambda tmp: Path(tmp).write_text(json.dumps(_jsonable(config), indent=2) + "\n"))
    log = ResultLog(log_path)
    dir_cache: dict[tuple, torch.Tensor] = {}
    default_level = _default_level(targets)
    t_start = time.perf_counter()

    def directions(region: str, method: str, label: str, src: list[int]) -> torch.Tensor:
        key = (region, method, label)
        if key in dir_cache:
            return dir_cache[key]
        path = out / "directions" / _slug(region) / method / f"{label}.npy"
        if path.exists():
            vecs = torch.from_numpy(np.load(path, allow_pickle=False))
        else:
            codes = gen.sample(src, space, trunc)
            grams = api.region_gram_pair(gen, codes, parsed[region], space, layers, size, progress=False)
            vecs = find(grams, method, top_k=top_k, **method_params.get(method, {})).vectors.cpu().float()
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, lambda tmp: np.save(open(tmp, "wb"), vecs.numpy()))
        dir_cache[key] = vecs
        return vecs

    def targets_of(label: str) -> list[int]:
        return [int(label)] if mode == "per-image" else seeds

    units = [(r, lbl, src, t) for r in regions for lbl, src in sources for t in targets_of(lbl)]
    levels = [f"t={t:g}" for t in targets] + [f"mse@{mse_strength:g}"]
    iterator = units
    if progress:
        from tqdm.auto import tqdm
        iterator = tqdm(units, desc="evaluate", unit="image")
    for region, label, src, target in iterator:
        mask = torch.from_numpy(parsed[region].mask)
        code = gen.sample([target], space, trunc)[0]
        todo = []  # (method, source label, vectors, missing indices)
        for method in methods:
            lbl = "any" if method in SOURCE_FREE else label
            vecs = directions(region, method, lbl, src)
            missing = [i for i in range(vecs.shape[0])
                       if any((region, method, lbl, target, i, lv) not in log for lv in levels)]
            if missing:
                todo.append((method, lbl, vecs, missing))
        records: list[dict] = []
        if todo:
            vec_list = [v[i] for _, _, v, miss in todo for i in miss]
            offs = torch.stack([embed_direction(gen, v.to(gen.device), space, layers) for v in vec_list])
            signed = torch.cat([offs, -offs], 0)
            cal = calibrate(gen, code, signed, mask, targets, space)
            mse_in, mse_out = masked_mse(gen, code, offs, mask, mse_strength, space)
            n = offs.shape[0]
            row = 0
            for method, lbl, _, miss in todo:
                for i in miss:
                    common = {"region": region, "method": method, "source": lbl, "target": target, "index": i}
                    for ti, t in enumerate(targets):
                        a = [float(cal["alpha"][row + s * n, ti]) for s in (0, 1)]
                        per = [float(cal["outside"][row + s * n, ti] / cal["inside"][row + s * n, ti])
                               if bool(cal["reached"][row + s * n, ti]) else math.inf for s in (0, 1)]
                        records.append({**common, "kind": "leak", "level": f"t={t:g}", "target_rms": t,
                                        "leak": (per[0] + per[1]) / 2, "leak_pos": per[0], "leak_neg": per[1],
                                        "strength_pos": a[0], "strength_neg": a[1]})
                    records.append({**common, "kind": "mse", "level": f"mse@{mse_strength:g}",
                                    "strength": mse_strength, "mse_in": float(mse_in[row]),
                                    "mse_out": float(mse_out[row])})
                    row += 1
        log.add(records)
        if path_steps:
            for method in path_methods:
                lbl = "any" if method in SOURCE_FREE else label
                if mode == "per-image-cross" and str(target) != lbl:
                    continue  # path comparison on each image's own directions only
                keys = [(region, method, lbl, target, 0, f"path@{k}x") for k in PATH_MULTIPLES]
                if all(k in log for k in keys):
                    continue
                cal_rec = log.records.get((region, method, lbl, target, 0, default_level))
                vec = directions(region, method, lbl, src)[0]
                log.add(_path_records(gen, code, vec, cal_rec, parsed[region], mask, space, layers, size,
                                      path_steps, method_params.get(method, {}), region, method, lbl, target))
    elapsed = time.perf_counter() - t_start
    # The report's files (table, plots, page, summary) appear together or not at all; the log and
    # the direction files stay in ``out`` as they are written, so that an interrupted run resumes.
    with staged_dir(out) as stage:
        summary = write_outputs(stage, log, config, regions, methods, seeds, targets, default_level, gen,
                                parsed, sources, space, layers, trunc, mse_strength, examples, path_steps,
                                dir_cache, directions, plots)
        summary["elapsed_s"] = round(elapsed, 2)
        summary["new_records"] = log.new
        atomic_write(stage / "summary.json",
                     lambda tmp: Path(tmp).write_text(json.dumps(_jsonable(summary), indent=2) + "\n"))
    return summary


def _path_records(gen, code, vec, cal_rec, region, mask, space, layers, size, steps, params,
                  region_spec, method, label, target) -> list[dict]:
    """Straight line vs path-following at 1x/2x/3x the calibrated strength of each sign."""
    from .jacobian import embed_direction
    from .metrics import rms_inside_outside
    from .pathedit import interpolate_path, path_codes

    common = {"region": region_spec, "method": method, "source": label, "target": target, "index": 0, "kind": "path",
              "path_steps": steps}
    if cal_rec is None:
        return []
    per = {k: {"line": [], "path": [], "line_in": [], "path_in": []} for k in PATH_MULTIPLES}
    rpca = {k: v for k, v in params.items() if k in ("lam", "relax", "rank_rtol")}
    code = code.detach().to(gen.device, torch.float32)
    off = embed_direction(gen, vec.to(gen.device), space, layers)
    with torch.no_grad():
        base = gen.synthesize(code[None], space).float()
    for sign, key in ((1.0, "strength_pos"), (-1.0, "strength_neg")):
        alpha = _num(cal_rec.get(key))
        if not math.isfinite(alpha):
            continue
        top = max(PATH_MULTIPLES)
        path = path_codes(gen, code, vec, sign * top * alpha, steps, region, space, layers, size, **rpca)
        on_path = interpolate_path(path, top * alpha, [k * alpha for k in PATH_MULTIPLES])
        line = torch.stack([code + sign * k * alpha * off for k in PATH_MULTIPLES])
        imgs = _images(gen, torch.cat([line, on_path], 0), space) - base
        ins, outs = rms_inside_outside(imgs, mask.to(imgs.device))
        for j, k in enumerate(PATH_MULTIPLES):
            per[k]["line"].append(float(outs[j] / ins[j]))
            per[k]["line_in"].append(float(ins[j]))
            per[k]["path"].append(float(outs[j + len(PATH_MULTIPLES)] / ins[j + len(PATH_MULTIPLES)]))
            per[k]["path_in"].append(float(ins[j + len(PATH_MULTIPLES)]))
    mean = lambda v: sum(v) / len(v) if v else math.inf  # noqa: E731
    return [{**common, "level": f"path@{k}x", "multiple": k, "line_leak": mean(per[k]["line"]),
             "path_leak": mean(per[k]["path"]), "line_in": mean(per[k]["line_in"]),
             "path_in": mean(per[k]["path_in"])} for k in PATH_MULTIPLES]


# ---------------------------------------------------------------------------------------------
# outputs

def _median(values) -> float:
    vals = sorted(_num(v) for v in values if not math.isnan(_num(v)))
    if not vals:
        return math.nan
    n = len(vals)
    return vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2


def summarize(records: Sequence[dict], regions, methods, targets, default_level) -> dict:
    by = {}
    for r in records:
        by.setdefault((r["region"], r["method"], r["level"]), []).append(r)
    table: dict = {}
    for region in regions:
        table[region] = {}
        for method in methods:
            entry = {"median_leak": {}, "n": 0}
            for t in targets:
                recs = by.get((region, method, f"t={t:g}"), [])
                entry["median_leak"][f"t={t:g}"] = _median(r["leak"] for r in recs)
                if f"t={t:g}" == default_level:
                    entry["n"] = len(recs)
                    entry["median_leak_top1"] = _median(r["leak"] for r in recs if int(r["index"]) == 0)
                    entry["median_strength"] = _median(
                        _num(x) for r in recs for x in (r["strength_pos"], r["strength_neg"]))
                    entry["unreached"] = sum(not math.isfinite(_num(r["leak"])) for r in recs)
            mse = [r for (rg, m, lv), rs in by.items() if rg == region and m == method and lv.startswith("mse@") for r in rs]
            entry["median_mse_in"] = _median(r["mse_in"] for r in mse)
            entry["median_mse_out"] = _median(r["mse_out"] for r in mse)
            path = {}
            for k in PATH_MULTIPLES:
                recs = by.get((region, method, f"path@{k}x"), [])
                if recs:
                    path[f"{k}x"] = {"line_leak": _median(r["line_leak"] for r in recs),
                                     "path_leak": _median(r["path_leak"] for r in recs),
                                     "line_in": _median(r["line_in"] for r in recs),
                                     "path_in": _median(r["path_in"] for r in recs), "n": len(recs)}
            if path:
                entry["path"] = path
            table[region][method] = entry
    return table


def generalisation(records, regions, methods, default_level) -> dict:
    """Median leak over directions, per (source, target), at the default level."""
    out: dict = {}
    for region in regions:
        out[region] = {}
        for method in methods:
            cells: dict = {}
            for r in records:
                if r["region"] == region and r["method"] == method and r["level"] == default_level:
                    cells.setdefault((str(r["source"]), int(r["target"])), []).append(r["leak"])
            srcs = sorted({s for s, _ in cells}, key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0, s))
            tgts = sorted({t for _, t in cells})
            out[region][method] = {"sources": srcs, "targets": tgts,
                                   "matrix": [[_median(cells.get((s, t), [])) for t in tgts] for s in srcs]}
    return out


def format_table(summary: dict) -> str:
    """The comparison table (markdown): median leak per method and region, masked MSE in / out."""
    level = summary["default_level"]
    lines = [f"| region | method | median leak ({level}, top-{summary['config']['top_k']}) | top-1 leak | "
             f"MSE in @{summary['config']['mse_strength']:g} | MSE out | MSE out/in |",
             "|---|---|---|---|---|---|---|"]
    for region, per in summary["table"].items():
        for method, e in per.items():
            ratio = e["median_mse_out"] / e["median_mse_in"] if e["median_mse_in"] else math.nan
            lines.append(f"| {region} | {method} | {_fmt(e['median_leak'].get(level))} | {_fmt(e.get('median_leak_top1'))} | "
                         f"{_fmt(e['median_mse_in'], 4)} | {_fmt(e['median_mse_out'], 4)} | {_fmt(ratio)} |")
    path_rows = [(region, method, e["path"]) for region, per in summary["table"].items()
                 for method, e in per.items() if "path" in e]
    if path_rows:
        lines += ["", "| region | method | multiple | line leak | path leak | line in-RMS | path in-RMS |",
                  "|---|---|---|---|---|---|---|"]
        for region, method, path in path_rows:
            for k, v in path.items():
                lines.append(f"| {region} | {method} | {k} | {_fmt(v['line_leak'])} | {_fmt(v['path_leak'])} | "
                             f"{_fmt(v['line_in'])} | {_fmt(v['path_in'])} |")
    return "\n".join(lines)


def _fmt(v, digits: int = 3) -> str:
    v = _num(v) if v is not None else math.nan
    if math.isnan(v):
        return "–"
    if math.isinf(v):
        return "∞"
    return f"{v:.{digits}f}"


def _require_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise LowRankGANError("evaluate draws plots with matplotlib, which is not installed: "
                              "pip install 'lowrankgan[eval]' (or pip install matplotlib)") from None


def write_outputs(out, log, config, regions, methods, seeds, targets, default_level, gen, parsed, sources,
                  space, layers, trunc, mse_strength, examples, path_steps, dir_cache, directions, plots) -> dict:
    from .directionfile import atomic_write

    wanted_regions, wanted_methods, wanted_seeds = set(regions), set(methods), set(seeds)
    records = [r for r in log.records.values()
               if r["region"] in wanted_regions and r["method"] in wanted_methods and int(r["target"]) in wanted_seeds]
    records.sort(key=lambda r: (regions.index(r["region"]), methods.index(r["method"]), str(r["source"]),
                                int(r["target"]), int(r["index"]), r["level"]))
    _write_csv(out / "results.csv", records)
    summary = {"config": config, "default_level": default_level, "targets": targets, "seeds": seeds,
               "regions": regions, "methods": methods, "records": len(records),
               "table": summarize(records, regions, methods, targets, default_level),
               "generalisation": generalisation(records, regions, methods, default_level)}
    if plots:
        figs = _plots(out, summary, records, default_level)
        sweeps = _example_grids(gen, parsed, regions, methods, sources, seeds, space, layers, trunc,
                                mse_strength, examples, directions)
        html_text = _html(summary, figs, sweeps)
        atomic_write(out / "report.html", lambda tmp: Path(tmp).write_text(html_text, encoding="utf-8"))
    return summary


def _write_csv(path: Path, records: Sequence[dict]) -> None:
    import csv
    import io
    from .directionfile import atomic_write
    first = ["region", "method", "source", "target", "index", "level", "kind"]
    cols = first + sorted({k for r in records for k in r} - set(first))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    for r in records:
        w.writerow(r)
    atomic_write(path, lambda tmp: Path(tmp).write_text(buf.getvalue(), encoding="utf-8"))


def _clip(v: float, cap: float = 10.0) -> float:
    v = _num(v)
    return cap if not math.isfinite(v) else min(v, cap)


def _plots(out: Path, summary: dict, records, default_level) -> dict[str, Path]:
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from .directionfile import atomic_write

    regions, methods = summary["regions"], summary["methods"]
    figs: dict[str, Path] = {}

    def save(fig, name):
        path = out / name
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
        plt.close(fig)
        figs[name] = path

    # 1. leak per method (box plot of all directions x targets x sources), one panel per region
    fig, axes = plt.subplots(1, len(regions), figsize=(4.2 * len(regions), 3.6), squeeze=False)
    for ax, region in zip(axes[0], regions):
        data = [[_clip(r["leak"]) for r in records if r["region"] == region and r["method"] == m
                 and r["level"] == default_level] or [math.nan] for m in methods]
        ax.boxplot(data, showfliers=True)
        ax.set_xticks(range(1, len(methods) + 1), methods, rotation=35, ha="right")
        ax.set_yscale("log")
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        ax.set_title(f"{region}: leak at {default_level} (≥10 shown as 10)", fontsize=9)
    axes[0][0].set_ylabel("leak (RMS out / RMS in)")
    save(fig, "leak_per_method.png")

    # 2. leak vs strength (the in-region RMS target), median over directions and images
    fig, axes = plt.subplots(1, len(regions), figsize=(4.2 * len(regions), 3.6), squeeze=False)
    for ax, region in zip(axes[0], regions):
        for m in methods:
            ys = [summary["table"][region][m]["median_leak"].get(f"t={t:g}") for t in summary["targets"]]
            ax.plot(summary["targets"], [_clip(y) for y in ys], marker="o", label=m)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("edit strength: in-region RMS change")
        ax.set_title(region, fontsize=9)
    axes[0][0].set_ylabel("median leak")
    axes[0][-1].legend(fontsize=7)
    save(fig, "leak_vs_strength.png")

    # 2b. path-following vs straight line
    path_entries = [(rg, m, e["path"]) for rg, per in summary["table"].items() for m, e in per.items() if "path" in e]
    if path_entries:
        fig, ax = plt.subplots(figsize=(5, 3.6))
        for rg, m, p in path_entries:
            ks = sorted(p, key=lambda k: int(k[:-1]))
            ax.plot([int(k[:-1]) for k in ks], [_clip(p[k]["line_leak"]) for k in ks], ls="--", marker="o", label=f"{m}/{rg} line")
            ax.plot([int(k[:-1]) for k in ks], [_clip(p[k]["path_leak"]) for k in ks], marker="s", label=f"{m}/{rg} path")
        ax.set_xlabel("multiple of the calibrated strength")
        ax.set_ylabel("median leak")
        ax.legend(fontsize=6)
        save(fig, "path_vs_line.png")

    # 3. generalisation matrices source x target
    gen_m = summary["generalisation"]
    fig, axes = plt.subplots(len(regions), len(methods), figsize=(2.4 * len(methods) + 1, 2.2 * len(regions) + 0.6),
                             squeeze=False)
    for i, region in enumerate(regions):
        for j, m in enumerate(methods):
            ax = axes[i][j]
            g = gen_m[region][m]
            mat = np.array([[_clip(v) for v in row] for row in g["matrix"]] or [[math.nan]], dtype=float)
            im = ax.imshow(np.log10(np.clip(mat, 1e-2, 10)), vmin=-1, vmax=1, cmap="viridis", aspect="auto")
            ax.set_title(f"{m}" if i == 0 else "", fontsize=8)
            ax.set_xticks(range(len(g["targets"])), [str(t) for t in g["targets"]], fontsize=6)
            ax.set_yticks(range(len(g["sources"])), g["sources"], fontsize=6)
            if j == 0:
                ax.set_ylabel(f"{region}\nsource", fontsize=8)
            if i == len(regions) - 1:
                ax.set_xlabel("target seed", fontsize=7)
    fig.colorbar(im, ax=axes, shrink=0.6, label="log10 median leak")
    save(fig, "generalisation.png")
    return figs


def _example_grids(gen, parsed, regions, methods, sources, seeds, space, layers, trunc, strength, examples, directions):
    """Per region and method: the top direction on the first ``examples`` seeds, -s..+s in 5 steps."""
    from .edit import sweep
    from .report import _data_uri, grid_image

    strengths = [float(v) for v in np.linspace(-strength, strength, 5)]
    shown = seeds[:max(0, examples)]
    if not shown:
        return []
    codes = gen.sample(shown, space, trunc)
    label, src = sources[0]
    grids = []
    for region in regions:
        for m in methods:
            lbl = "any" if m in SOURCE_FREE else label
            vec = directions(region, m, lbl, src)[0]
            imgs = sweep(gen, codes, vec, strengths, space, layers)
            grids.append((region, m, lbl, _data_uri(grid_image(imgs, strengths, parsed[region].mask))))
    return grids


def _html(summary: dict, figs: dict[str, Path], sweeps) -> str:
    import base64
    import html as H

    def img(path: Path) -> str:
        return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()

    cfg = summary["config"]
    table = format_table(summary).splitlines()

    def md_to_html(lines):
        rows, out = [], []
        for ln in lines + [""]:
            if ln.startswith("|"):
                if set(ln.replace("|", "").strip()) <= set("-"):
                    continue
                rows.append([c.strip() for c in ln.strip("|").split("|")])
            elif rows:
                out.append("<table><tr>" + "".join(f"<th>{H.escape(c)}</th>" for c in rows[0]) + "</tr>" +
                           "".join("<tr>" + "".join(f"<td>{H.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:]) +
                           "</table>")
                rows = []
        return "\n".join(out)

    fig_html = "".join(f"<h3>{H.escape(name)}</h3><img alt='{H.escape(name)}' src='{img(p)}'>" for name, p in figs.items())
    grid_html = "".join(f"<h3>{H.escape(r)} — {H.escape(m)} (source {H.escape(s)}, direction 0)</h3>"
                        f"<img alt='examples' src='{uri}'>" for r, m, s, uri in sweeps)
    cfg_rows = "".join(f"<tr><th>{H.escape(str(k))}</th><td>{H.escape(str(v))}</td></tr>" for k, v in cfg.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lowrankgan evaluate: {H.escape(cfg['model'])}</title>
<style>body{{font-family:system-ui,sans-serif;background:#111;color:#eee;margin:2em}}
table{{border-collapse:collapse;margin:1em 0}}th,td{{text-align:left;padding:2px 10px;border-bottom:1px solid #333}}
img{{max-width:100%;background:#fff}} h3 img{{image-rendering:pixelated}}</style></head><body>
<h1>lowrankgan evaluate: {H.escape(cfg['model'])}</h1>
<p>Leak = RMS change outside the region / RMS change inside, at the strength (per sign, averaged over
both signs) where the in-region RMS change equals the target (images in [-1, 1]); lower is better, a
global edit scores about 1. Masked MSE: mean squared change inside / outside the region at strength
±{cfg['mse_strength']:g} (images in [-1, 1]; divide by 4 for images in [0, 1]). Seeds {H.escape(", ".join(map(str, summary['seeds'])))};
{summary['records']} records.</p>
{md_to_html(table)}
<h2>Plots</h2>{fig_html}
<h2>Examples</h2><p>Rows: seeds; columns: strengths −{cfg['mse_strength']:g} … +{cfg['mse_strength']:g}; the region is outlined.</p>{grid_html}
<h2>Settings</h2><table>{cfg_rows}</table>
</body></html>
"""
