"""The public Python API: every operation a front end needs.

The CLI (``cli/``) and the page (``web/``) import this package, ``errors``, ``directionfile``,
``regions`` and ``report`` and nothing else of the library (a test reads their imports). The
package re-exports the library names they use; its parts follow the data flow: ``core`` (models,
seeds or codes, regions, direction files checked against a model), ``directions``, ``editing``
(edits, locality, evaluation), ``photos``.
"""

from __future__ import annotations

from .. import __version__
from ..files.directionfile import (DirectionSet, check_compatible, load_directions, recorded_alphas, recorded_transform, region_beside,
                            transform_meta)
from ..distributed import evaluate_on_ray, ray_region_grams  # Ray itself is imported only when used
from ..photos.facelandmarks import FACE_MODELS, image_face_presets
from ..maths.edit import check_seed, parse_int_list, parse_strengths, render, shift_codes, sweep
from ..errors import LowRankGANError
from ..evaluation import DEFAULT_METHODS, evaluate as run_evaluation, format_table
from ..maths.jacobian import compute_jacobian, default_analysis_size, embed_direction, region_gram_pair, set_cache_limit
from ..files.latents import Latents, check_codes, load_latents
from ..maths.methods import DEFAULT_METHOD, METHODS, Directions, Method, find, get_method
from ..maths.metrics import Leak, calibrate, change_inside_outside, leak_from, measure_leaks, median
from ..models.inputtransform import (MAX_PAGE_ROTATE, MAX_PAGE_TRANSLATE, NO_TRANSFORM, Transform, check_transform, input_transform,
                                     supports_input_transform)
from ..maths.precision import DEFAULT_PRECISION
from ..models.base import check_truncation
from ..models import (BIGGAN_NAMES, DEFAULT_MODEL, PRESETS, ZOO, GeneratorAdapter, load_model,
                     resolve_device)
from ..models.zoo import cached, fetch
from ..limits import parse_json, printable
from ..maths.pathedit import check_path_steps, path_codes, path_settings, path_sweep_codes
from ..photos.photo import MAX_PHOTO_BYTES, MAX_PHOTO_PIXELS, Alignment, decode_photo, load_photo
from ..photos.photoinvert import ALIGNS, PhotoInversion, invert_photo, paste_images, save_inversion
from ..maths.regions import Region, parse_region
from .core import (ModelLike, as_model, model_catalog, model_reference, recorded_model, recorded_family,
                   refetch_model, model_description, analysis_size,
                   parse_seeds, parse_layers, as_region, Seeds, seed_space, sample_codes,
                   seed_labels, sample, pick, EditSetup, edit_setup)
from .directions import (LEAK_IMAGES, find_directions, record_source_leak, direction_leaks, SLIDER_TARGET,
                         DirectionReport, direction_report, face_presets, prepare_jacobian)
from .editing import (edit, path_edit, combined_direction, composed_edit,
                      composed_sweep, slider_span, locality, method_descriptions, evaluate, format_evaluation)
from .photos import (invert, paste_edits)

__all__ = [
    "DEFAULT_METHOD", "DEFAULT_MODEL", "METHODS", "DirectionSet", "EditSetup", "GeneratorAdapter", "Leak",
    "DirectionReport", "change_inside_outside", "direction_report", "face_presets", "recorded_alphas", "region_beside",
    "ALIGNS", "Latents", "Method", "PhotoInversion", "Region", "Seeds", "analysis_size", "invert", "load_latents",
    "load_photo", "paste_edits", "save_inversion", "seed_labels", "as_model", "as_region", "composed_edit", "composed_sweep",
    "edit", "edit_setup", "find_directions", "get_method", "load_model", "locality", "median",
    "model_catalog", "parse_layers", "parse_seeds", "parse_strengths", "path_edit", "prepare_jacobian",
    "refetch_model", "resolve_device", "sample", "sample_codes", "check_seed", "check_path_steps", "check_truncation",
    "parse_json", "printable", "set_cache_limit", "decode_photo", "MAX_PHOTO_BYTES", "MAX_PHOTO_PIXELS",
    "MAX_PAGE_ROTATE", "MAX_PAGE_TRANSLATE", "NO_TRANSFORM", "Transform",
    "check_transform", "input_transform", "recorded_transform", "supports_input_transform",
    "model_reference", "recorded_model", "recorded_family",
]
