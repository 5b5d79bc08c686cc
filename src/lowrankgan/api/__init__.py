"""The public Python API: what a user of the library needs, and everything the front ends use.

The CLI (``cli/``) and the page (``web/``) import this package and ``errors`` and nothing else of
the library (``tests/test_structure.py`` reads their imports and their ``api.X`` uses). Every
name below is in ``__all__``, grouped by job as in README's "Python API"; ruff flags an import
that is not. The parts follow the data flow: ``core`` (models, seeds or codes, regions, direction
files checked against a model), ``directions``, ``editing`` (edits, locality, evaluation),
``photos``.
"""

from ..errors import LowRankGANError
from ..files.directionfile import (DIRECTION_FILES, DirectionSet, load_directions, recorded_alphas, recorded_transform,
                                   region_beside, save_directions, source_latents, transform_text)
from ..evaluation.log import CONFIG_NAME as EVALUATION_CONFIG, LOG_NAME as EVALUATION_LOG
from ..files.latents import Latents, load_latents
from ..files.report import gif_bytes, gif_frames, grid_image, html_report, output_kind, save_gif, save_html, save_png, to_uint8
from ..limits import MAX_PHOTO_BYTES, MAX_PHOTO_PIXELS, parse_json, printable
from ..maths.edit import check_seed, parse_strengths
from ..maths.jacobian import compute_jacobian, region_gram_pair, set_cache_limit
from ..maths.methods import DEFAULT_METHOD, METHODS, Method, get_method
from ..maths.metrics import Leak, change_inside_outside, median
from ..maths.pathedit import check_path_steps
from ..maths.regions import DRAWN_MASK_NAME, Region, parse_region, region_from_mask
from ..models import DEFAULT_MODEL, GeneratorAdapter, load_model, model_reference, resolve_device
from ..models.base import check_truncation
from ..models.inputtransform import NO_TRANSFORM, Transform, check_transform, input_transform, supports_input_transform
from ..photos.facelandmarks import FACE_MODELS, FACE_REGIONS
from ..photos.photo import decode_photo, load_photo
from ..photos.photoinvert import ALIGNS, INVERSION_FILES, PhotoInversion, save_inversion
from ..threads import ENV as THREADS_ENV, parse_threads, use_threads
from ..safewrite import check_output_dir, check_writable, finite_json, staged_dir
from .core import (EditSetup, Seeds, analysis_size, as_model, as_region, edit_setup, model_catalog, model_description,
                   parse_layers, parse_seeds, recorded_family, recorded_model, refetch_model, sample,
                   sample_codes, seed_labels)
from .directions import (LEAK_IMAGES, SLIDER_TARGET, DirectionReport, direction_leaks, direction_report, face_presets,
                         face_region, find_directions, prepare_jacobian, record_source_leak)
from .editing import (composed_edit, composed_sweep, edit, evaluate, format_evaluation, locality, method_descriptions,
                      path_edit, slider_span)
from .paths import (DEFAULT_PATH, DEFAULT_STEPS, LINEAR_TOL, PATHS, DirectionPath, PathCancelled, PathCost,
                    choose_path, direction_paths, end_leaks, recorded_path_tops, straight_paths, strong_leaks)
from .photos import invert, paste_edits

__all__ = [
    # models
    "load_model", "as_model", "GeneratorAdapter", "DEFAULT_MODEL", "model_catalog", "model_description",
    "refetch_model", "resolve_device", "check_truncation", "FACE_MODELS", "model_reference", "recorded_model",
    "recorded_family",
    # seeds, codes and regions
    "Seeds", "parse_seeds", "check_seed", "sample", "sample_codes", "seed_labels", "Latents", "load_latents",
    "parse_layers", "Region", "parse_region", "as_region", "region_from_mask", "DRAWN_MASK_NAME", "face_presets",
    "face_region", "FACE_REGIONS",
    "analysis_size",
    # StyleGAN3's input transform
    "Transform", "NO_TRANSFORM", "check_transform", "input_transform", "supports_input_transform",
    # finding directions
    "find_directions", "METHODS", "DEFAULT_METHOD", "Method", "get_method", "method_descriptions",
    "compute_jacobian", "region_gram_pair", "prepare_jacobian", "set_cache_limit", "LEAK_IMAGES",
    "record_source_leak",
    # direction files
    "DirectionSet", "load_directions", "save_directions", "DIRECTION_FILES", "region_beside", "recorded_alphas",
    "recorded_transform", "transform_text", "source_latents",
    # editing
    "edit", "path_edit", "composed_edit", "composed_sweep", "edit_setup", "EditSetup", "parse_strengths",
    "check_path_steps", "slider_span", "SLIDER_TARGET",
    # local strong edits: the default path, its cost, the page's cached paths
    "DEFAULT_PATH", "DEFAULT_STEPS", "PATHS", "LINEAR_TOL", "DirectionPath", "PathCost", "PathCancelled", "choose_path",
    "direction_paths", "end_leaks", "recorded_path_tops", "straight_paths", "strong_leaks",
    # measuring locality, evaluating methods
    "locality", "direction_leaks", "direction_report", "DirectionReport", "Leak", "change_inside_outside",
    "median", "evaluate", "format_evaluation",
    # photos
    "invert", "save_inversion", "paste_edits", "load_photo", "decode_photo", "PhotoInversion", "ALIGNS",
    "MAX_PHOTO_BYTES", "MAX_PHOTO_PIXELS",
    # writing outputs (whole or not at all)
    "grid_image", "to_uint8", "save_png", "gif_frames", "gif_bytes", "save_gif", "html_report", "save_html",
    "output_kind", "check_output_dir", "check_writable", "staged_dir", "finite_json", "INVERSION_FILES",
    "EVALUATION_CONFIG", "EVALUATION_LOG",
    # CPU threads (the policy in threads.py)
    "use_threads", "parse_threads", "THREADS_ENV",
    # outside input, errors
    "parse_json", "printable", "LowRankGANError",
]
