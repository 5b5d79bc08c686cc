"""The one exception type users see: a message that names the problem and the fix."""


class LowRankGANError(Exception):
    """Bad input or an unusable resource. The CLI prints `error: <message>` and exits 2."""


class NoFaceFound(LowRankGANError):
    """A photo to be aligned by its face shows none. The library names its parameters; each front
    end says how to choose another crop in its own words (the CLI's flags, the page's Align menu)."""


class LowRankGANWarning(UserWarning):
    """Something the user should know that did not stop the work (a damaged line of a log that is
    measured again). The CLI prints `warning: <message>` on one line."""
