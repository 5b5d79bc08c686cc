"""The resumable results log of an evaluation: one JSON line per record, fsynced.

A record's key is (region, method, source, target, direction index, level); a restarted run skips
the keys already there, so a killed run loses nothing and counts nothing twice.
"""

from __future__ import annotations

import math
import os
import stat
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import LowRankGANError, LowRankGANWarning
from ..limits import MAX_LOG_BYTES, MAX_LOG_LINE_BYTES, MAX_RECORD_COUNT, MAX_RECORD_TEXT, MAX_SEED, check_float, parse_json, printable
from ..readers import field_int, field_text, kind
from ..safewrite import finite_json, json_text

LOG_NAME = "results.jsonl"
CONFIG_NAME = "config.json"  # beside the log: the settings a resumed run must match
KINDS = {"leak": ("target_rms", "leak", "leak_pos", "leak_neg", "strength_pos", "strength_neg"),
         "mse": ("strength", "mse_in", "mse_out"),
         "path": ("line_leak", "path_leak", "line_in", "path_in")}


def record_key(rec: dict) -> tuple:
    return (rec["region"], rec["method"], str(rec["source"]), int(rec["target"]), int(rec["index"]), rec["level"])


def check_record(rec: Any, where: str) -> dict:
    """A record read back from the log, every field the report reads checked by type and range."""
    if not isinstance(rec, dict):
        raise LowRankGANError(f"{where} holds {kind(rec)}, not a record")
    for name in ("region", "method", "source", "level"):
        field_text(rec, name, where, MAX_RECORD_TEXT)
    field_int(rec, "target", 0, MAX_SEED, where)
    field_int(rec, "index", 0, MAX_RECORD_COUNT, where)
    fields = KINDS.get(rec["kind"]) if isinstance(rec.get("kind"), str) else None
    if fields is None:
        raise LowRankGANError(f"{where}: field 'kind' must be one of {', '.join(KINDS)}")
    for name in fields:
        value = rec.get(name)
        if value is None or value in ("inf", "-inf", "nan"):  # what JSON cannot hold (older logs: text)
            continue
        check_float(value, name, -1e300, 1e300, where)
    if rec["kind"] == "path":
        field_int(rec, "multiple", 1, MAX_RECORD_COUNT, where)
        field_int(rec, "path_steps", 0, MAX_RECORD_COUNT, where)
    return rec


def open_log(path: Path, flags: int) -> int:
    """A descriptor of the log, opened without following a link and without blocking, if it is a
    plain file with one name and at most ``MAX_LOG_BYTES``: a log that is a link (or a hard link)
    to a file elsewhere is never read, truncated or appended to."""
    if path.is_symlink():
        raise LowRankGANError(f"the results log {printable(path)} is a symbolic link; the log is never written "
                              "through a link: remove it, or start afresh")
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        raise LowRankGANError(f"cannot open the results log {printable(path)}: {exc.strerror}") from None
    st = os.fstat(fd)
    problem = ("is not a plain file" if not stat.S_ISREG(st.st_mode) else
               "has other names (hard links)" if st.st_nlink > 1 else
               f"is larger than {MAX_LOG_BYTES >> 20} MB" if st.st_size > MAX_LOG_BYTES else None)
    if problem:
        os.close(fd)
        raise LowRankGANError(f"the results log {printable(path)} {problem}; remove it, or start afresh")
    return fd


class ResultLog:
    """Append-only JSON lines; one line per record, fsynced; a torn last line is dropped on open.

    The log on disk is read as untrusted: a line that does not validate is reported (one warning)
    and left out, so that its cell is measured again. Without a path the log lives in memory only,
    seeded with ``records``: a Ray worker measures a cell into one and returns its ``added``
    records, which the driver appends to the real log.
    """

    def __init__(self, path: Path | None, records: Sequence[dict] = ()) -> None:
        self.path = Path(path) if path is not None else None
        self.records: dict[tuple, dict] = {record_key(r): r for r in records}
        self.added: list[dict] = []
        if self.path is not None and (self.path.exists() or self.path.is_symlink()):
            self._read()
        self.new = 0

    def _read(self) -> None:
        assert self.path is not None
        with os.fdopen(open_log(self.path, os.O_RDWR), "r+b") as f:
            data = f.read(MAX_LOG_BYTES + 1)
            end = data.rfind(b"\n") + 1
            if end < len(data):  # a kill mid-write left a partial line: cut it off
                f.truncate(end)
                f.flush()
                os.fsync(f.fileno())
        bad, first = 0, ""
        for number, line in enumerate(data[:end].split(b"\n")[:-1], 1):
            where = f"line {number}"
            try:
                if len(line) > MAX_LOG_LINE_BYTES:
                    raise LowRankGANError(f"{where} is longer than {MAX_LOG_LINE_BYTES} bytes")
                rec = revive(check_record(parse_json(line, where), where))
            except LowRankGANError as exc:
                bad, first = bad + 1, first or str(exc)
                continue
            self.records.setdefault(record_key(rec), rec)
        if bad:
            warnings.warn(LowRankGANWarning(
                f"the results log {printable(self.path)}: {bad} line(s) are not valid records, left out and measured "
                f"again ({printable(first, 160)})"), stacklevel=2)

    def __contains__(self, key: tuple) -> bool:
        return key in self.records

    def add(self, records: Sequence[dict]) -> None:
        # Kept as they read back from the file, so that a resumed run sums up what a fresh one does.
        fresh = [revive(finite_json(r)) for r in records if record_key(r) not in self.records]
        if not fresh:
            return
        if self.path is not None:
            text = "".join(json_text(r, indent=None, sort_keys=True) + "\n" for r in fresh)
            with os.fdopen(open_log(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT), "a", encoding="utf-8") as f:
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
