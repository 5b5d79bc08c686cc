"""The page's Compute: directions for a drawn region of one image, found in the compute slot in the
background, each direction's leak and slider range measured, the result stored; then its local
paths are walked in the background (``paths``)."""

from __future__ import annotations

import math
import secrets
import threading

from .. import api
from ..api import DirectionSet, GeneratorAdapter, Region
from .jobs import Job, Jobs
from .models import Warmup
from .paths import PathWalk, start_walk
from .photos import Photo, as_seeds, subject_json, subject_label
from .results import Result, Results

MIN_REGION_PIXELS = 16  # at 64x64; scaled by area for other resolutions


def start_compute(jobs: Jobs, warmup: Warmup, results: Results, name: str, gen: GeneratorAdapter, seed: int | Photo,
                  region: Region, method: str, top_k: int, params: dict,
                  transform: api.Transform = api.NO_TRANSFORM) -> Job:
    """A compute job (``Busy`` while another computation runs); its result lands in ``results``."""
    job = jobs.begin("compute")
    results.cancel_walks()  # the paths of earlier results give the CPU to this one
    thread = threading.Thread(target=_compute, args=(jobs, warmup, results, job, name, gen, seed, region, method, top_k,
                                                     params, transform),
                              name=f"lowrankgan-compute-{job.id}", daemon=True)
    thread.start()
    return job


def _compute(jobs: Jobs, warmup: Warmup, results: Results, job: Job, name: str, gen: GeneratorAdapter,
             seed: int | Photo, region: Region, method: str, top_k: int, params: dict, transform: api.Transform) -> None:
    result = None
    with jobs.guard(job):
        job.state, job.stage = "running", "waiting for the CPU"
        with jobs.cpu_lock, api.input_transform(gen, *transform):  # the Jacobian of the moved image
            cached = warmup.is_warm(name, gen, seed, transform)
            job.stage = (f"finding directions ({method}, Jacobian cached)" if cached else
                         f"computing the Jacobian of {subject_label(seed)}, then directions ({method})")
            # The top direction's source leak comes from the report below (the same calibration).
            dirset = api.find_directions(gen, as_seeds(seed), region, method=method, top_k=top_k, progress=False,
                                         leak_images=0, **params)
            warmup.mark(name, gen, seed, transform)
            job.stage = "measuring each direction's leak and slider range"
            report = api.direction_report(gen, dirset, as_seeds(seed), region)
            if report:
                api.record_source_leak(dirset, [report[0].detail], api.seed_labels(as_seeds(seed)))
            # An end not reached within the search is the slider's ±span (sliders.js does the same):
            # the path must run as far as the slider does, or its last stretch is the straight line.
            span = api.slider_span(gen)
            tops = [(r.ends[0] or span, r.ends[1] or span) for r in report]
            setup = api.edit_setup(gen, dirset, as_seeds(seed))
            straight = api.straight_paths(setup, setup.codes[0], tops)
            straight_leaks = api.end_leaks(setup, setup.codes[0], straight, region)
        space, layers = dirset.meta["latent_space"], dirset.meta.get("layers")
        ends = [e for r in report for e in r.ends if e is not None]
        # The local paths are walked after this answer, in the background (web/paths.py).
        walk = PathWalk(total=api.DEFAULT_STEPS * sum(1 for t in tops for x in t if x > 0), count=len(tops))
        result = Result(secrets.token_hex(8), name, gen.class_name, dirset, seed, region, space, layers,
                        max(ends, default=0.0), transform if api.supports_input_transform(gen) else None,
                        tops, [None] * len(tops), [None] * len(tops), straight, walk)
        results.add(result)
        info = dirset.meta.get("info", {})
        job.result = {"result": result.id, "k": int(dirset.vectors.shape[0]), "method": dirset.meta["method"],
                      "params": dirset.meta.get("params", {}),
                      "info": {k: v for k, v in info.items() if isinstance(v, (int, float, str, bool))},
                      **subject_json(seed), "region": region.spec, "timing_s": dirset.meta.get("timing_s", {}),
                      "directions": [{"leak": _finite(r.leak), "plus": r.ends[0], "minus": r.ends[1],
                                      "end_leaks": None,  # along the local path: /api/paths, once walked
                                      "straight_end_leaks": [None if x is None else _finite(x) for x in lk]}
                                     for r, lk in zip(report, straight_leaks)],
                      "path": "local", "path_steps": api.DEFAULT_STEPS, "paths": walk.public(result.paths, result.end_leaks),
                      "slider_target": api.SLIDER_TARGET, "warnings": result_warnings(region, dirset, top_k),
                      "translate": list(transform[0]), "rotate": transform[1]}
        job.state, job.stage = "done", "done"
    if result is not None:
        start_walk(result, gen, jobs.cpu_lock)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def result_warnings(region: Region, dirset: DirectionSet, top_k: int) -> list[str]:
    """What the page says about a result that is less than it looks."""
    out = []
    n = int(region.mask.sum())
    least = max(4, round(MIN_REGION_PIXELS * region.mask.size / 4096))
    if n < least:
        out.append(f"The region has only {n} pixel{'s' * (n != 1)}: too few to tell local directions from "
                   f"global ones, so the edits spread over the image (see each leak). Draw at least {least} pixels.")
    k = int(dirset.vectors.shape[0])
    info = dirset.meta.get("info", {})
    method_warnings = [str(w) for w in info.get("warnings", [])]  # the method's own, with its reasons
    if k < top_k and not any("asked for" in w for w in method_warnings):
        why = ""
        if "rank_region" in info and info["rank_region"] <= k:
            why = f": the region's Jacobian has numerical rank {info['rank_region']}"
        elif "null_dim" in info and info["null_dim"] <= k:
            why = f": the rest's null space has only {info['null_dim']} dimensions"
        out.append(f"Only {k} of the {top_k} directions asked for were found{why}.")
    return out + [w[0].upper() + w[1:] + "." for w in method_warnings if w]
