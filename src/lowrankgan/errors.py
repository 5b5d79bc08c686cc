"""The one exception type users see: a message that names the problem and the fix."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence


class LowRankGANError(Exception):
    """Bad input or an unusable resource, in the library's own terms: a parameter is named by its
    Python name (``analysis_size``). ``params`` lists the names the message mentions, so that each
    front end can say them its own way (``say``): the CLI as its flags, the page as
    its fields' labels. ``method`` names the method whose parameters they are (``random``'s
    ``seed`` is not the seed of the image). The CLI prints `error: <message>` and exits 2."""

    def __init__(self, message: str = "", param: str | Sequence[str] | None = None, method: str | None = None) -> None:
        super().__init__(message)
        self.params: tuple[str, ...] = (param,) if isinstance(param, str) else tuple(param or ())
        self.method = method

    def say(self, name_of: Callable[[str, str | None], str]) -> str:
        """The message with each parameter name it mentions replaced by ``name_of(name, method)``
        (a method's parameter only where it is first named: its help text may use the word too)."""
        text = str(self)
        for name in sorted(self.params, key=len, reverse=True):
            text = re.sub(rf"(?<![\w.`'-]){re.escape(name)}(?![\w'])", lambda _m, n=name: name_of(n, self.method), text,
                          count=1 if self.method else 0)
        return text


class NoFaceFound(LowRankGANError):
    """A photo to be aligned by its face shows none. The library names its parameters; each front
    end says how to choose another crop in its own words (the CLI's flags, the page's Align menu)."""


class LowRankGANWarning(UserWarning):
    """Something the user should know that did not stop the work (a damaged line of a log that is
    measured again). The CLI prints `warning: <message>` on one line."""
