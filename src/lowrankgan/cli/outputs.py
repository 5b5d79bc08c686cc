"""One policy for every command that writes a folder (``directions``, ``invert``, ``evaluate``,
``sample DIR``), checked before any work:

- a new or empty folder is written;
- a folder holding this command's earlier output is refused, saying what it holds; ``--force``
  replaces that output (``evaluate`` is the exception: it resumes a run with the same settings, and
  ``--fresh`` starts it over);
- a folder holding anything else is refused; ``--force`` writes beside those files, except where one
  of them has a name the command writes (another command's ``latent.npy``, say): that is refused
  even with ``--force``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .. import api
from ..errors import LowRankGANError

SAMPLE_NAME = re.compile(r"(seed\d+|grid)\.png")
MAX_LISTED = 4


@dataclass(frozen=True)
class Output:
    what: str  # how the message names this command's output
    names: tuple[str, ...]  # the fixed file names it writes (sample's depend on the seeds)
    is_own: Callable[[Path, list[str]], bool]  # does the folder hold this command's earlier output?


def _has(*names: str) -> Callable[[Path, list[str]], bool]:
    return lambda folder, entries: all((folder / n).is_file() for n in names)


OUTPUTS = {
    "directions": Output("directions found earlier", api.DIRECTION_FILES, _has("directions.json", "directions.npy")),
    "invert": Output("an inverted photo", api.INVERSION_FILES, _has("invert.json", "latent.npy")),
    "evaluate": Output("an evaluation", (api.EVALUATION_CONFIG, api.EVALUATION_LOG),
                       _has(api.EVALUATION_CONFIG, api.EVALUATION_LOG)),
    "sample": Output("sampled images", ("grid.png",),
                     lambda folder, entries: all(SAMPLE_NAME.fullmatch(e) for e in entries)),
}


def claim_folder(out: str, command: str, force: bool) -> Path:
    """``--out`` checked against the policy above; returns the folder."""
    folder = Path(out)
    if not folder.is_dir():
        return folder
    entries = sorted(e.name for e in folder.iterdir() if not e.name.startswith("."))
    if not entries:
        return folder
    spec = OUTPUTS[command]
    for name in entries if command == "sample" else spec.names:
        entry = folder / name
        if (entry.is_symlink() or entry.exists()) and not (entry.is_file() and not entry.is_symlink()) \
                and (command != "sample" or SAMPLE_NAME.fullmatch(name)):
            raise LowRankGANError(f"--out {folder}: {entry} exists and is not a plain file; remove it or choose another --out")
    if spec.is_own(folder, entries):
        if force or command == "evaluate":
            return folder
        raise LowRankGANError(f"--out {folder} already holds {spec.what}{_summary(folder, command)}; "
                              "pass --force to replace them, or choose another --out")
    taken = [n for n in spec.names if (folder / n).exists()]
    if command == "sample":
        taken = [e for e in entries if SAMPLE_NAME.fullmatch(e)]
    listed = ", ".join(entries[:MAX_LISTED]) + (f" and {len(entries) - MAX_LISTED} more" if len(entries) > MAX_LISTED else "")
    if taken:
        raise LowRankGANError(f"--out {folder} holds files that `{command}` did not write ({listed}), among them "
                              f"{', '.join(taken)}, which it would replace; choose another --out")
    if not force:
        raise LowRankGANError(f"--out {folder} is not empty ({listed}) and holds no earlier `{command}` output; "
                              "choose another --out, or pass --force to write beside those files")
    return folder


def _summary(folder: Path, command: str) -> str:
    """A few words on what the earlier output was (the user may want to keep it)."""
    try:
        if command == "directions":
            meta = json.loads((folder / "directions.json").read_text())
            seeds = meta.get("seeds")
            on = f"seeds {seeds[0]}-{seeds[-1]}" if isinstance(seeds, list) and len(seeds) > 1 else \
                f"seed {seeds[0]}" if isinstance(seeds, list) and seeds else "codes"
            return f" ({meta.get('method')}, region {api.printable(str(meta.get('region')), 60)}, {on})"
        if command == "invert":
            meta = json.loads((folder / "invert.json").read_text())
            return f" (of {api.printable(str(meta.get('photo')), 60)})"
    except (OSError, ValueError, TypeError, AttributeError, IndexError):
        pass  # an unreadable sidecar: the refusal stands without the summary
    if command == "sample":
        return f" ({sum(1 for e in folder.iterdir() if SAMPLE_NAME.fullmatch(e.name))} PNGs)"
    return ""


def remove_stale(folder: Path, keep: list[str]) -> None:
    """After ``sample --force`` replaced earlier images: the earlier seeds' PNGs the new run did not write."""
    for entry in folder.iterdir():
        if SAMPLE_NAME.fullmatch(entry.name) and entry.name not in keep and entry.is_file():
            entry.unlink()
