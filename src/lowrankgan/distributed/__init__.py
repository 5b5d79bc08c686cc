"""Directions and evaluations on a Ray cluster (``ray``: an address, ``auto`` or ``local``).

Nothing here imports Ray until a function runs: the package is safe to import without the
``[ray]`` extra.
"""

from .cluster import ActorPool, connect
from .evaluate import evaluate_on_ray
from .grams import model_source, ray_region_grams

__all__ = ["ActorPool", "connect", "evaluate_on_ray", "model_source", "ray_region_grams"]
