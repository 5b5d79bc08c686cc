"""The command line's names for the library's parameters: ``analysis_size`` is ``--analysis-size``
(underscores become dashes), except where the table says otherwise. The library's errors name
parameters (``LowRankGANError.params``); ``message`` says them as flags."""

from __future__ import annotations

from ..errors import LowRankGANError

FLAGS = {  # parameter -> flag, where the flag is not "--" + the name with dashes
    "class_name": "--class",
    "crop_box": "--crop",
    "regions": "--region",  # evaluate: one --region per region
    "mode": "--paste",  # paste_edits(mode=...)
    "slider_seed": "the direction file's slider_seed",  # a recorded value, not an option
}
METHOD_FLAGS = {("random", "seed"): "--random-seed"}  # a method's parameter whose flag would clash (--seed)


def flag(name: str, method: str | None = None) -> str:
    """The flag that sets parameter ``name`` (of ``method``, for a method's parameter)."""
    if method is not None and (method, name) in METHOD_FLAGS:
        return METHOD_FLAGS[method, name]
    return FLAGS.get(name) or "--" + name.replace("_", "-")


def param_flag(method: str, param) -> str:
    """The flag of a method's registry parameter (``Param``)."""
    return flag(param.name, method)


def message(exc: LowRankGANError) -> str:
    """The error's message with the parameters it names said as flags."""
    return exc.say(flag)
