"""The command line: parses arguments, calls the API, prints. No logic of its own.

``parsers`` builds the argument parser, ``commands`` holds one function per subcommand, ``options``
the option handling they share; ``main`` here turns errors into one line and exit code 2.
``serve`` starts the page with the function the ``lowrankgan`` command (``lowrankgan.main``) passes
in: the CLI never imports the page."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable

from .. import api
from ..errors import LowRankGANError, LowRankGANWarning
from .flags import message
from .parsers import build_parser

__all__ = ["build_parser", "main"]


VALUE_OPTIONS_ALLOWING_DASH = ("--strengths", "--translate", "--rotate")


def _join_negative_values(argv: list[str]) -> list[str]:
    """``--strengths -4:4:7`` reads as an option to argparse; join it as ``--strengths=-4:4:7``."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in VALUE_OPTIONS_ALLOWING_DASH and i + 1 < len(argv) and argv[i + 1].startswith("-"):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """The library's warnings as one line each (``lowrankgan: warning: ...``); others as Python shows them."""
    if issubclass(category, LowRankGANWarning):
        print(f"lowrankgan: warning: {api.printable(message, 500)}", file=sys.stderr)
    else:
        _python_showwarning(message, category, filename, lineno, file, line)


_python_showwarning = warnings.showwarning


def main(argv: list[str] | None = None, start_page: Callable[..., int] | None = None) -> int:
    """Run one subcommand; ``start_page(models, class_name, host, port, device, threads, warmup)``
    runs the page for ``serve``."""
    parser = build_parser()
    args = parser.parse_args(_join_negative_values(list(sys.argv[1:] if argv is None else argv)))
    args.start_page = start_page
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return _run(args)


def _run(args) -> int:
    try:
        if getattr(args, "cache_size", None) is not None:
            api.set_cache_limit(args.cache_size)
        if getattr(args, "trunc", None) is not None:
            api.check_truncation(args.trunc)  # --trunc nan fails before any work
        return args.func(args)
    except LowRankGANError as exc:
        print(f"lowrankgan: error: {api.printable(message(exc), 2000)}", file=sys.stderr)  # one line, no escapes
        return 2
    except OSError as exc:  # the disk filled up or a path vanished while writing
        print(f"lowrankgan: error: {api.printable(exc, 500)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lowrankgan: interrupted", file=sys.stderr)
        return 130
    finally:
        if getattr(args, "cache_size", None) is not None:  # in-process callers get the default back
            api.set_cache_limit(None)
