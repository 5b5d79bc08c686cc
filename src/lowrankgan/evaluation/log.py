"""The resumable results log of an evaluation: one JSON line per record, fsynced.

A record's key is (region, method, source, target, direction index, level); a restarted run skips
the keys already there, so a killed run loses nothing and counts nothing twice.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

from ..safewrite import finite_json, json_text

LOG_NAME = "results.jsonl"


def record_key(rec: dict) -> tuple:
    return (rec["region"], rec["method"], str(rec["source"]), int(rec["target"]), int(rec["index"]), rec["level"])


class ResultLog:
    """Append-only JSON lines; one line per record, fsynced; a torn last line is dropped on open.

    Without a path the log lives in memory only, seeded with ``records``: a Ray worker measures a
    cell into one and returns its ``added`` records, which the driver appends to the real log.
    """

    def __init__(self, path: Path | None, records: Sequence[dict] = ()) -> None:
        self.path = Path(path) if path is not None else None
        self.records: dict[tuple, dict] = {record_key(r): r for r in records}
        self.added: list[dict] = []
        if self.path is not None and self.path.exists():
            data = self.path.read_bytes()
            end = data.rfind(b"\n") + 1
            if end < len(data):  # a kill mid-write left a partial line: cut it off
                with open(self.path, "r+b") as f:
                    f.truncate(end)
                    f.flush()
                    os.fsync(f.fileno())
            for line in data[:end].decode("utf-8", "replace").splitlines():
                try:
                    rec = revive(json.loads(line))
                    self.records.setdefault(record_key(rec), rec)
                except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                    continue
        self.new = 0

    def __contains__(self, key: tuple) -> bool:
        return key in self.records

    def add(self, records: Sequence[dict]) -> None:
        # Kept as they read back from the file, so that a resumed run sums up what a fresh one does.
        fresh = [revive(finite_json(r)) for r in records if record_key(r) not in self.records]
        if not fresh:
            return
        if self.path is not None:
            text = "".join(json_text(r, indent=None, sort_keys=True) + "\n" for r in fresh)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
        for r in fresh:
            self.records[record_key(r)] = r
            self.added.append(r)
        self.new += len(fresh)


# In the file a value that does not exist is null (JSON has no inf / nan); read back, a null leak is a
# target never reached (inf: it ranks behind every reached one) and any other null number is missing.
LEAK_FIELDS = frozenset({"leak", "leak_pos", "leak_neg", "line_leak", "path_leak"})
NUMBER_FIELDS = LEAK_FIELDS | {"strength_pos", "strength_neg", "mse_in", "mse_out", "line_in", "path_in",
                               "target_rms", "strength"}


def revive(rec: dict) -> dict:
    """A record as read from the log, with its numbers as floats (``inf`` for a leak never reached,
    ``nan`` for a missing value; logs before null wrote the strings "inf" / "nan")."""
    out = dict(rec)
    for key in NUMBER_FIELDS & out.keys():
        value = out[key]
        if value is None:
            out[key] = math.inf if key in LEAK_FIELDS else math.nan
        elif isinstance(value, str):
            try:
                out[key] = float(value)
            except ValueError:
                out[key] = math.nan
    return out


def num(value) -> float:
    if isinstance(value, str):
        return float(value)  # "inf", "nan" (logs before null)
    return math.nan if value is None else float(value)
