"""How the command line explains itself: every option's default in ``--help``, and argparse's own
errors (a missing or unknown option) as one line naming the option and what it takes."""

from __future__ import annotations

import argparse
from typing import NoReturn

from .. import api


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults shown where there is one to show (not ``None``, not a flag's ``False``) and the help
    text does not state it already."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (not action.option_strings or default in (None, False, argparse.SUPPRESS) or "default" in text.lower()
                or isinstance(action, argparse._HelpAction | argparse._VersionAction)):
            return text
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"


class Parser(argparse.ArgumentParser):
    """argparse's usage errors in the tool's one-line form (``lowrankgan: error: ...``, exit 2), for
    every subcommand too; a missing option is named with what it takes. ``--help`` shows everything."""

    def error(self, message: str) -> NoReturn:
        prefix = "the following arguments are required: "
        if message.startswith(prefix):
            wanted = [name.strip() for name in message[len(prefix):].split(",")]
            message = "; ".join(f"{name} is required: {self._takes(name)}" for name in wanted)
        self.exit(2, f"lowrankgan: error: {api.printable(message, 2000)}; see {self.prog} --help\n")

    def _takes(self, name: str) -> str:
        for action in self._actions:
            if name in action.option_strings or name == action.dest or name == action.metavar:
                return (action.help or "a value") % {"default": action.default, "prog": self.prog}
        return "a value"
