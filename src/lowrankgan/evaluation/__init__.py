"""Method comparisons over images, regions and methods (``lowrankgan evaluate``), resumable.

config (what is measured) -> run (the measuring loop, the resumable log) -> summary (tables) ->
report (CSV, plots, HTML).

The names below load their module on first use: the API imports ``config`` and ``log`` for a few
constants, and every other command would otherwise pay for the measuring loop and the report's
imports at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import DEFAULT_METHODS, DEFAULT_TARGETS, PATH_MULTIPLES, SOURCE_FREE, EvaluationConfig
    from .log import ResultLog
    from .run import evaluate
    from .summary import format_table

_WHERE = {"DEFAULT_METHODS": "config", "DEFAULT_TARGETS": "config", "PATH_MULTIPLES": "config",
          "SOURCE_FREE": "config", "EvaluationConfig": "config", "ResultLog": "log", "evaluate": "run",
          "format_table": "summary"}
__all__ = ["DEFAULT_METHODS", "DEFAULT_TARGETS", "PATH_MULTIPLES", "SOURCE_FREE", "EvaluationConfig",
           "ResultLog", "evaluate", "format_table"]


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value
