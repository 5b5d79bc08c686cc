"""The page's names for the library's parameters: the labels of its fields, so that an error
from the library (``LowRankGANError.params``) reads in the page's words, never as a flag."""

from __future__ import annotations

from ..errors import LowRankGANError

LABELS = {
    "model": "Model", "class_name": "Class", "seed": "Seed", "seeds": "Seeds (other images)",
    "translate": "Translate", "rotate": "Rotate", "steps": "Inversion steps", "align": "Align",
    "crop_box": "the crop", "region": "the drawn region", "method": "Method", "top_k": "Top k",
    "path_steps": "path steps", "alphas": "the sliders", "index": "the direction",
    "analysis_size": "the analysis size (the server's setting)", "device": "the server's device",
    "space": "the latent space (the server's setting)", "layers": "the W+ layers (the server's setting)",
    "out": "the output", "restarts": "restarts (the server's setting)", "mode": "the paste mode",
}


def label(name: str, method: str | None = None) -> str:
    """The page's word for parameter ``name``: a method's parameter is its field's own name."""
    if method is not None:
        return name
    return LABELS.get(name) or name.replace("_", " ")


def page_message(exc: LowRankGANError) -> str:
    """The error's message with the parameters it names said as the page's labels."""
    return exc.say(label)
