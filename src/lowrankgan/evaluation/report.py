"""What an evaluation writes: results.csv, summary figures, example grids and report.html."""

from __future__ import annotations

import base64
import csv
import html as H
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..safewrite import atomic_write
from ..maths.edit import sweep
from ..files.report import data_uri, grid_image
from .config import SOURCE_FREE
from .log import num
from .summary import generalisation, summarize, table_rows

if TYPE_CHECKING:
    from .run import Evaluation


def write_outputs(run: "Evaluation", out: Path | None = None) -> dict:
    """Every output rebuilt from the log (the records of this run's regions, methods and seeds), into
    ``out`` (default the run's folder)."""
    out = run.cfg.out if out is None else Path(out)
    cfg = run.cfg
    regions, methods, seeds = list(cfg.regions), list(cfg.methods), list(cfg.seeds)
    records = [r for r in run.log.records.values()
               if r["region"] in regions and r["method"] in methods and int(r["target"]) in set(seeds)]
    records.sort(key=lambda r: (regions.index(r["region"]), methods.index(r["method"]), str(r["source"]),
                                int(r["target"]), int(r["index"]), r["level"]))
    _write_csv(out / "results.csv", records)
    targets = list(cfg.targets)
    summary = {"config": run.record, "default_level": cfg.default_level, "targets": targets, "seeds": seeds,
               "regions": regions, "methods": methods, "records": len(records),
               "table": summarize(records, regions, methods, targets, cfg.default_level),
               "generalisation": generalisation(records, regions, methods, cfg.default_level)}
    if cfg.plots:
        figs = _plots(out, summary, records, cfg.default_level)
        html_text = _html(summary, figs, _example_grids(run))
        atomic_write(out / "report.html", lambda tmp: Path(tmp).write_text(html_text, encoding="utf-8"))
    return summary


def _write_csv(path: Path, records: Sequence[dict]) -> None:
    first = ["region", "method", "source", "target", "index", "level", "kind"]
    cols = first + sorted({k for r in records for k in r} - set(first))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    for r in records:
        w.writerow(r)
    atomic_write(path, lambda tmp: Path(tmp).write_text(buf.getvalue(), encoding="utf-8"))


UNMEASURED = "#d0d0d0"  # generalisation.png: a source × target pair with no record


def generalisation_cells(matrix: list[list]) -> np.ma.MaskedArray:
    """log10 leaks of a source × target matrix as plotted: a cell with no record (NaN) is masked (drawn
    as not measured), an unreachable target (∞) and leaks over 10 take the top of the scale."""
    mat = np.array([[math.nan if math.isnan(num(v)) else _clip(v) for v in row] for row in matrix] or [[math.nan]],
                   dtype=float)
    return np.ma.masked_invalid(np.log10(np.clip(mat, 1e-2, 10)))


def _clip(v: float, cap: float = 10.0) -> float:
    v = num(v)
    return cap if not math.isfinite(v) else min(v, cap)


def _plots(out: Path, summary: dict, records, default_level) -> dict[str, Path]:
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

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
    from matplotlib.patches import Patch
    cmap = plt.get_cmap("viridis").with_extremes(bad=UNMEASURED)
    gen_m = summary["generalisation"]
    fig, axes = plt.subplots(len(regions), len(methods), figsize=(2.4 * len(methods) + 1, 2.2 * len(regions) + 0.6),
                             squeeze=False)
    for i, region in enumerate(regions):
        for j, m in enumerate(methods):
            ax = axes[i][j]
            g = gen_m[region][m]
            im = ax.imshow(generalisation_cells(g["matrix"]), vmin=-1, vmax=1, cmap=cmap, aspect="auto")
            ax.set_title(f"{m}" if i == 0 else "", fontsize=8)
            ax.set_xticks(range(len(g["targets"])), [str(t) for t in g["targets"]], fontsize=6)
            ax.set_yticks(range(len(g["sources"])), g["sources"], fontsize=6)
            if j == 0:
                ax.set_ylabel(f"{region}\nsource", fontsize=8)
            if i == len(regions) - 1:
                ax.set_xlabel("target seed", fontsize=7)
    fig.colorbar(im, ax=axes, shrink=0.6, label="log10 median leak (top: ≥ 10 or target not reached)")
    fig.legend(handles=[Patch(facecolor=UNMEASURED, label="not measured")], loc="lower left", fontsize=7, frameon=False)
    save(fig, "generalisation.png")
    return figs


def _example_grids(run: "Evaluation") -> list[tuple[str, str, str, str]]:
    """Per region and method: the top direction on the first ``examples`` seeds, -s..+s in 5 steps."""
    cfg = run.cfg
    strength = cfg.mse_strength
    strengths = [float(v) for v in np.linspace(-strength, strength, 5)]
    shown = list(cfg.seeds)[:max(0, cfg.examples)]
    if not shown:
        return []
    codes = run.codes(shown)
    label, src = cfg.sources[0]
    grids = []
    for region in cfg.regions:
        for m in cfg.methods:
            lbl = "any" if m in SOURCE_FREE else label
            vec = run.directions(region, m, lbl, src)[0]
            imgs = sweep(run.gen, codes, vec, strengths, run.space, run.layers)
            grids.append((region, m, lbl, data_uri(grid_image(imgs, strengths, run.regions[region].mask))))
    return grids


def _table_html(head: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return ""
    cells = lambda tag, r: "".join(f"<{tag}>{H.escape(str(c))}</{tag}>" for c in r)  # noqa: E731
    return "<table><tr>" + cells("th", head) + "</tr>" + "".join(f"<tr>{cells('td', r)}</tr>" for r in rows) + "</table>"


def _html(summary: dict, figs: dict[str, Path], sweeps) -> str:
    def img(path: Path) -> str:
        return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()

    cfg = summary["config"]
    head, rows, path_head, path_rows = table_rows(summary)
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
{_table_html(head, rows)}
{_table_html(path_head, path_rows)}
<h2>Plots</h2>{fig_html}
<h2>Examples</h2><p>Rows: seeds; columns: strengths −{cfg['mse_strength']:g} … +{cfg['mse_strength']:g}; the region is outlined.</p>{grid_html}
<h2>Settings</h2><table>{cfg_rows}</table>
</body></html>
"""
