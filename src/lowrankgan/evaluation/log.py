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
        if self.path is not None:
            text = "".join(json.dumps(jsonable(r), sort_keys=True) + "\n" for r in fresh)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
        for r in fresh:
            self.records[record_key(r)] = jsonable(r)
            self.added.append(jsonable(r))
        self.new += len(fresh)


def jsonable(obj):
    if isinstance(obj, float):
        if math.isnan(obj):
            return "nan"
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
        return obj
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return obj


def num(value) -> float:
    if isinstance(value, str):
        return float(value)  # "inf", "nan"
    return math.nan if value is None else float(value)


