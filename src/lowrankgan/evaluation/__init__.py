"""Method comparisons over images, regions and methods (``lowrankgan evaluate``), resumable.

config (what is measured) -> run (the measuring loop, the resumable log) -> summary (tables) ->
report (CSV, plots, HTML).
"""

from .config import DEFAULT_METHODS, DEFAULT_TARGETS, PATH_MULTIPLES, SOURCE_FREE, EvaluationConfig
from .log import ResultLog
from .run import evaluate
from .summary import format_table

__all__ = ["DEFAULT_METHODS", "DEFAULT_TARGETS", "PATH_MULTIPLES", "SOURCE_FREE", "EvaluationConfig",
           "ResultLog", "evaluate", "format_table"]
