"""Summaries of an evaluation's records: the comparison table, the generalisation matrices."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from ..maths.metrics import median
from .config import PATH_MULTIPLES
from .log import num


def median_of(values: Iterable) -> float:
    """Median of the finite-or-infinite values (NaN and missing values are left out)."""
    return median([v for v in (num(x) for x in values) if not math.isnan(v)])


def table_rows(summary: dict) -> tuple[list[str], list[list[str]], list[str], list[list[str]]]:
    """Header and rows of the comparison table and of the path table (formatted cells)."""
    level = summary["default_level"]
    head = ["region", "method", f"median leak ({level}, top-{summary['config']['top_k']})", "top-1 leak",
            f"MSE in @{summary['config']['mse_strength']:g}", "MSE out", "MSE out/in"]
    rows = []
    for region, per in summary["table"].items():
        for method, e in per.items():
            ratio = e["median_mse_out"] / e["median_mse_in"] if e["median_mse_in"] else math.nan
            rows.append([region, method, _fmt(e["median_leak"].get(level)), _fmt(e.get("median_leak_top1")),
                         _fmt(e["median_mse_in"], 4), _fmt(e["median_mse_out"], 4), _fmt(ratio)])
    path_head = ["region", "method", "multiple", "line leak", "path leak", "line in-RMS", "path in-RMS"]
    path_rows = [[region, method, k, _fmt(v["line_leak"]), _fmt(v["path_leak"]), _fmt(v["line_in"]), _fmt(v["path_in"])]
                 for region, per in summary["table"].items() for method, e in per.items()
                 for k, v in e.get("path", {}).items()]
    return head, rows, path_head, path_rows


def format_table(summary: dict) -> str:
    """The comparison table (markdown): median leak per method and region, masked MSE in / out."""
    head, rows, path_head, path_rows = table_rows(summary)

    def md(h: list[str], rs: list[list[str]]) -> list[str]:
        return ["| " + " | ".join(h) + " |", "|" + "---|" * len(h)] + ["| " + " | ".join(r) + " |" for r in rs]

    lines = md(head, rows)
    if path_rows:
        lines += [""] + md(path_head, path_rows)
    return "\n".join(lines)


def summarize(records: Sequence[dict], regions, methods, targets, default_level: str) -> dict:
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
                entry["median_leak"][f"t={t:g}"] = median_of(r["leak"] for r in recs)
                if f"t={t:g}" == default_level:
                    entry["n"] = len(recs)
                    entry["median_leak_top1"] = median_of(r["leak"] for r in recs if int(r["index"]) == 0)
                    entry["median_strength"] = median_of(
                        num(x) for r in recs for x in (r["strength_pos"], r["strength_neg"]))
                    entry["unreached"] = sum(not math.isfinite(num(r["leak"])) for r in recs)
            mse = [r for (rg, m, lv), rs in by.items() if rg == region and m == method and lv.startswith("mse@") for r in rs]
            entry["median_mse_in"] = median_of(r["mse_in"] for r in mse)
            entry["median_mse_out"] = median_of(r["mse_out"] for r in mse)
            path = {}
            for k in PATH_MULTIPLES:
                recs = by.get((region, method, f"path@{k}x"), [])
                if recs:
                    path[f"{k}x"] = {"line_leak": median_of(r["line_leak"] for r in recs),
                                     "path_leak": median_of(r["path_leak"] for r in recs),
                                     "line_in": median_of(r["line_in"] for r in recs),
                                     "path_in": median_of(r["path_in"] for r in recs), "n": len(recs)}
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
                                   "matrix": [[median_of(cells.get((s, t), [])) for t in tgts] for s in srcs]}
    return out


def _fmt(v, digits: int = 3) -> str:
    v = num(v) if v is not None else math.nan
    if math.isnan(v):
        return "–"
    if math.isinf(v):
        return "∞"
    return f"{v:.{digits}f}"


