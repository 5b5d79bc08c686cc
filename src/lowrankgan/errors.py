"""The one exception type users see: a message that names the problem and the fix."""


class LowRankGANError(Exception):
    """Bad input or an unusable resource. The CLI prints `error: <message>` and exits 2."""
