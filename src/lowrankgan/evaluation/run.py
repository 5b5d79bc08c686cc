"""The measuring loop of an evaluation: directions per (region, method, source), then the leak at
every target, the masked MSE and (optionally) path-following against the straight line on every
target image, appended to the resumable log."""

from __future__ import annotations

import hashlib
import math
import re
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from ..safewrite import (atomic_write, check_writable, ensure_writable_dir, finite_json, staged_dir,
                         write_json)
from ..errors import LowRankGANError
from ..limits import check_inside, printable
from ..readers import read_json, read_npy
from ..maths.jacobian import default_analysis_size, embed_direction, region_gram_pair
from ..maths.methods import find
from ..maths.metrics import calibrate, images_of, leak_from, masked_mse, rms_inside_outside
from ..models import GeneratorAdapter, load_model
from ..maths.pathedit import interpolate_path, path_codes
from ..maths.regions import Region, parse_region
from .config import DEFAULT_METHODS, PATH_MULTIPLES, SOURCE_FREE, EvaluationConfig
from .log import CONFIG_NAME, LOG_NAME, ResultLog, num
from .report import write_outputs


def _slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:40].strip("_") or "region"
    return f"{s}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


class Evaluation:
    """One evaluation on one model: resolved settings, the log and the directions found so far."""

    def __init__(self, gen: GeneratorAdapter, cfg: EvaluationConfig, log: ResultLog | None = None,
                 regions: dict[str, Region] | None = None) -> None:
        self.gen, self.cfg = gen, cfg
        self.space = gen.check_space(cfg.space or gen.default_space)
        self.layers = gen.resolve_layers(self.space, cfg.layers)
        self.size = cfg.analysis_size or default_analysis_size(gen)
        # a Ray worker gets the driver's parsed regions: a mask image need not exist on its node
        self.regions = regions or {r: parse_region(r, gen.resolution, gen.presets) for r in cfg.regions}
        self.record = {"model": gen.model_id, "class": gen.class_name, "space": self.space, "layers": self.layers,
                       "analysis_size": self.size, "top_k": cfg.top_k, "mse_strength": cfg.mse_strength,
                       "trunc": cfg.trunc, "path_steps": cfg.path_steps, "mode": cfg.mode,
                       "sources": dict(cfg.sources) if cfg.mode == "averaged" else None,
                       "method_params": cfg.method_params}
        self.trunc = gen.set_truncation(cfg.trunc)  # from here on: the ψ that gen.sample still applies
        self.log = log if log is not None else self._open_log()  # a Ray worker's is in memory
        self._directions: dict[tuple, torch.Tensor] = {}

    def _open_log(self) -> ResultLog:
        out = ensure_writable_dir(self.cfg.out)
        cfg_path, log_path = out / CONFIG_NAME, out / LOG_NAME
        if self.cfg.fresh:  # the old directions go too: they were found with the old settings
            log_path.unlink(missing_ok=True)
            cfg_path.unlink(missing_ok=True)
            shutil.rmtree(out / "directions", ignore_errors=True)
        wanted = finite_json(self.record)
        if cfg_path.exists() and (log_path.exists() or log_path.is_symlink()):
            try:
                old = read_json(cfg_path, "evaluation settings", root=out, nofollow=True)
            except LowRankGANError:
                old = None
            if old != wanted:
                diff = sorted(k for k in set(wanted) | set(old or {}) if (old or {}).get(k) != wanted.get(k))
                raise LowRankGANError(f"{out} holds results of a run with other settings "
                                      f"({', '.join(diff) or 'unreadable config'}); use another out, or fresh to discard them", ("out", "fresh"))
        write_json(cfg_path, wanted)
        return ResultLog(log_path)

    def codes(self, seeds: list[int]) -> torch.Tensor:
        return self.gen.sample(seeds, self.space, self.trunc)

    def direction_path(self, region: str, method: str, label: str) -> Path:
        return self.cfg.out / "directions" / _slug(region) / method / f"{label}.npy"

    def directions(self, region: str, method: str, label: str, src: list[int]) -> torch.Tensor:
        """Top-k directions of ``method`` from the source ``src`` (kept on disk beside the log)."""
        key = (region, method, label)
        if key not in self._directions:
            path = self.direction_path(region, method, label)
            if path.exists() or path.is_symlink():
                self._directions[key] = self.stored_directions(path)
            else:
                self.store_directions(region, method, label, self.find_vectors(region, method, src))
        return self._directions[key]

    def stored_directions(self, path: Path) -> torch.Tensor:
        """Directions a previous run stored beside the log, read as untrusted: a plain ``.npy`` file
        inside ``out`` of at most ``top_k`` rows of the space's dimension."""
        vecs = read_npy(path, "stored directions", root=self.cfg.out, nofollow=True)
        dim = self.gen.latent_dim_for(self.space)
        if vecs.ndim != 2 or not 1 <= vecs.shape[0] <= self.cfg.top_k or vecs.shape[1] != dim:
            raise LowRankGANError(f"stored directions {printable(path)} have shape {list(vecs.shape)}, not "
                                  f"[1..{self.cfg.top_k}, {dim}]; delete the file (they are found again) or start afresh")
        return torch.from_numpy(vecs)

    def find_vectors(self, region: str, method: str, src: list[int]) -> torch.Tensor:
        grams = region_gram_pair(self.gen, self.codes(src), self.regions[region], self.space, self.layers,
                                 self.size, progress=False)
        params = self.cfg.method_params.get(method, {})
        return find(grams, method, top_k=self.cfg.top_k, **params).vectors.cpu().float()

    def store_directions(self, region: str, method: str, label: str, vecs: torch.Tensor) -> None:
        path = self.direction_path(region, method, label)
        path.parent.mkdir(parents=True, exist_ok=True)
        check_inside(path.parent, self.cfg.out, "folder")  # a link in out must not send files elsewhere
        atomic_write(path, lambda tmp: np.save(open(tmp, "wb"), vecs.numpy()))
        self._directions[(region, method, label)] = vecs

    def preload(self, vectors: dict[tuple, torch.Tensor]) -> None:
        """Directions found elsewhere (a Ray worker gets them from the driver), by (region, method, label)."""
        self._directions.update(vectors)

    def cell_done(self, region: str, label: str, src: list[int], target: int) -> bool:
        """Whether the log holds every record ``measure`` and ``compare_paths`` write for this cell."""
        for method in self.cfg.methods:
            lbl = "any" if method in SOURCE_FREE else label
            n = self.directions(region, method, lbl, src).shape[0]
            if any((region, method, lbl, target, i, lv) not in self.log for i in range(n) for lv in self.cfg.levels):
                return False
        for method in self.cfg.path_methods if self.cfg.path_steps else ():
            lbl = "any" if method in SOURCE_FREE else label
            if self.cfg.mode == "per-image-cross" and str(target) != lbl:
                continue
            if any((region, method, lbl, target, 0, f"path@{k}x") not in self.log for k in PATH_MULTIPLES):
                return False
        return True

    def measure(self, region: str, label: str, src: list[int], target: int) -> None:
        """Leak at every target level and masked MSE of each method's missing directions on ``target``."""
        mask = torch.from_numpy(self.regions[region].mask)
        code = self.codes([target])[0]
        todo = []  # (method, source label, indices)
        vec_list = []
        for method in self.cfg.methods:
            lbl = "any" if method in SOURCE_FREE else label
            vecs = self.directions(region, method, lbl, src)
            missing = [i for i in range(vecs.shape[0])
                       if any((region, method, lbl, target, i, lv) not in self.log for lv in self.cfg.levels)]
            if missing:
                todo.append((method, lbl, missing))
                vec_list += [vecs[i] for i in missing]
        if not todo:
            return
        offs = torch.stack([embed_direction(self.gen, v.to(self.gen.device), self.space, self.layers) for v in vec_list])
        cal = calibrate(self.gen, code, torch.cat([offs, -offs], 0), mask, self.cfg.targets, self.space)
        mse_in, mse_out = masked_mse(self.gen, code, offs, mask, self.cfg.mse_strength, self.space)
        n, row, records = offs.shape[0], 0, []
        for method, lbl, missing in todo:
            for i in missing:
                common = {"region": region, "method": method, "source": lbl, "target": target, "index": i}
                records += _leak_records(common, cal, row, n, self.cfg.targets)
                records.append({**common, "kind": "mse", "level": f"mse@{self.cfg.mse_strength:g}",
                                "strength": self.cfg.mse_strength, "mse_in": float(mse_in[row]),
                                "mse_out": float(mse_out[row])})
                row += 1
        self.log.add(records)

    def compare_paths(self, region: str, label: str, src: list[int], target: int) -> None:
        """Straight line vs path-following for each path method's top direction on ``target``."""
        for method in self.cfg.path_methods:
            lbl = "any" if method in SOURCE_FREE else label
            if self.cfg.mode == "per-image-cross" and str(target) != lbl:
                continue  # path comparison on each image's own directions only
            keys = [(region, method, lbl, target, 0, f"path@{k}x") for k in PATH_MULTIPLES]
            if all(k in self.log for k in keys):
                continue
            cal_rec = self.log.records.get((region, method, lbl, target, 0, self.cfg.default_level))
            if cal_rec is None:
                continue
            vec = self.directions(region, method, lbl, src)[0]
            common = {"region": region, "method": method, "source": lbl, "target": target, "index": 0,
                      "kind": "path", "path_steps": self.cfg.path_steps}
            self.log.add(self._path_records(self.codes([target])[0], vec, cal_rec, region, method, common))

    def _path_records(self, code: torch.Tensor, vec: torch.Tensor, cal_rec: dict, region: str, method: str,
                      common: dict) -> list[dict]:
        gen, reg = self.gen, self.regions[region]
        mask = torch.from_numpy(reg.mask)
        params = {k: v for k, v in self.cfg.method_params.get(method, {}).items() if k in ("lam", "relax", "rank_rtol")}
        per = {k: {"line": [], "path": [], "line_in": [], "path_in": []} for k in PATH_MULTIPLES}
        code = code.detach().to(gen.device, torch.float32)
        off = embed_direction(gen, vec.to(gen.device), self.space, self.layers)
        base = images_of(gen, code[None], self.space, batch=1)  # clamped, as the edits below
        top = max(PATH_MULTIPLES)
        for sign, key in ((1.0, "strength_pos"), (-1.0, "strength_neg")):
            alpha = num(cal_rec.get(key))
            if not math.isfinite(alpha):
                continue
            path = path_codes(gen, code, vec, sign * top * alpha, self.cfg.path_steps, reg, self.space, self.layers,
                              self.size, **params)
            on_path = interpolate_path(path, top * alpha, [k * alpha for k in PATH_MULTIPLES])
            line = torch.stack([code + sign * k * alpha * off for k in PATH_MULTIPLES])
            ins, outs = rms_inside_outside(images_of(gen, torch.cat([line, on_path], 0), self.space) - base, mask)
            for j, k in enumerate(PATH_MULTIPLES):
                jj = j + len(PATH_MULTIPLES)
                per[k]["line"].append(float(outs[j] / ins[j]))
                per[k]["line_in"].append(float(ins[j]))
                per[k]["path"].append(float(outs[jj] / ins[jj]))
                per[k]["path_in"].append(float(ins[jj]))
        mean = lambda v: sum(v) / len(v) if v else math.inf  # noqa: E731
        return [{**common, "level": f"path@{k}x", "multiple": k, "line_leak": mean(per[k]["line"]),
                 "path_leak": mean(per[k]["path"]), "line_in": mean(per[k]["line_in"]),
                 "path_in": mean(per[k]["path_in"])} for k in PATH_MULTIPLES]


def _leak_records(common: dict, cal: dict, row: int, n: int, targets) -> list[dict]:
    """One record per target level from the calibration rows ``row`` (+p) and ``row + n`` (−p)."""
    out = []
    for ti, t in enumerate(targets):
        lk = leak_from(cal, row, row + n, ti)
        out.append({**common, "kind": "leak", "level": f"t={t:g}", "target_rms": t, "leak": lk.leak,
                    "leak_pos": lk.per_sign[0], "leak_neg": lk.per_sign[1],
                    "strength_pos": lk.strengths[0], "strength_neg": lk.strengths[1]})
    return out


def evaluate(model: GeneratorAdapter | str | None, regions, seeds, methods=DEFAULT_METHODS, *,
             device: str = "auto", class_name: str | int | None = None, **options) -> dict:
    """Run (or resume) an evaluation into ``options['out']``; returns the summary (also
    ``out/summary.json``). ``options`` are the fields of ``EvaluationConfig``."""
    run = prepare(model, regions, seeds, methods, device, class_name, **options)
    cfg = run.cfg
    t_start = time.perf_counter()
    iterator = cells(cfg)
    if cfg.progress:
        from tqdm.auto import tqdm
        iterator = tqdm(iterator, desc="evaluate", unit="image")
    for region, label, src, target in iterator:
        run.measure(region, label, src, target)
        if cfg.path_steps:
            run.compare_paths(region, label, src, target)
    return finish(run, t_start)


def cells(cfg: EvaluationConfig) -> list[tuple[str, str, list[int], int]]:
    """The sweep's cells (region, source label, source seeds, target seed), in run order."""
    return [(r, lbl, src, t) for r in cfg.regions for lbl, src in cfg.sources for t in cfg.targets_of(lbl)]


def prepare(model: GeneratorAdapter | str | None, regions, seeds, methods=DEFAULT_METHODS, device: str = "auto",
            class_name: str | int | None = None, **options) -> Evaluation:
    """The checked configuration, the model and the opened log of an evaluation."""
    cfg = EvaluationConfig(regions=regions, seeds=tuple(seeds), methods=tuple(methods), **options)
    if cfg.plots:
        _require_matplotlib()
    check_writable(cfg.out)
    if isinstance(model, GeneratorAdapter):
        gen = model
        if class_name is not None:
            gen.set_class(class_name)
    else:
        gen = load_model(model, device=device, class_name=class_name)
    return Evaluation(gen, cfg)


def finish(run: Evaluation, t_start: float, extra: dict | None = None) -> dict:
    """Every output rebuilt from the log; the summary (with ``extra``), also written to ``out/summary.json``."""
    # The report's files (table, plots, page, summary) appear together or not at all; the log and
    # the direction files stay in ``out`` as they are written, so that an interrupted run resumes.
    with staged_dir(run.cfg.out) as stage:
        summary = write_outputs(run, stage)
        summary.update(extra or {})
        summary["elapsed_s"] = round(time.perf_counter() - t_start, 2)
        summary["new_records"] = run.log.new
        write_json(stage / "summary.json", summary)  # medians of unreached leaks are null
    return summary


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise LowRankGANError("evaluate draws plots with matplotlib, which is not installed: "
                              "pip install 'lowrankgan[eval]' (or pip install matplotlib)") from None
