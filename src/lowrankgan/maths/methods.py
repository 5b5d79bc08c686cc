"""The direction methods and their one registry.

Every method has the signature ``fn(grams: RegionGrams, top_k=None, **params) -> Directions`` and
returns unit rows, best first, with the canonical sign of ``factorize`` (largest entry positive).
``METHODS`` describes each one — name, parameters with type, default, range and help — and the CLI
options, the page's parameter fields and validation, and ``evaluate``'s defaults are derived from it.

- ``lowrankgan``: the paper's method (``factorize.local_directions``); ``order`` ranks the directions
  of the rest's null space (default ``ratio``; ``paper`` is the paper's algorithm).
- ``resefa``: generalised eigenvectors of the region / rest Grams (Zhu et al., ICML 2022), the
  first-order optimum of the leak metric.
- ``jacobian-svd``: top right singular vectors of the whole-image Jacobian (eigenvectors of
  ``JᵀJ/n`` = ``grams.M_all``): the directions that change the image most, anywhere (Ramesh, Choi &
  LeCun 2018, arXiv 1812.01161).
- ``ganspace``: principal axes of many sampled codes in the chosen latent space (Härkönen et al.,
  NeurIPS 2020). In ``z`` the samples are N(0, I): for z-only models (the DCGANs) it is a
  near-isotropic, essentially random baseline. It is meaningful in StyleGAN's ``w``.
- ``sefa``: eigenvectors of ``AᵀA`` for the weight ``A`` of the first layer(s) acting on the code
  (Shen & Zhou, CVPR 2021), from ``GeneratorAdapter.sefa_weight``. Independent of image and region.
- ``random``: seeded orthonormal random directions (QR of a Gaussian matrix).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import LowRankGANError
from .jacobian import RegionGrams
from .factorize import (ORDERS, RANK_RTOL, RESEFA_TAU, canonical_sign, check_region_energy, generalized_directions,
                        local_directions)
from ..limits import MAX_LATENT_DIM, MAX_SEED
from ..models.base import GeneratorAdapter

GANSPACE_SAMPLES = 2000
GANSPACE_SEED_OFFSET = 1_000_000  # sample seeds far from the ones users edit
GANSPACE_MAX_SAMPLES = 100_000


@dataclass
class Directions:
    """Unit directions ``[k, d]`` best first, with what produced them."""

    vectors: torch.Tensor
    method: str
    params: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)  # ranks, iterations, ...


@dataclass(frozen=True)
class Param:
    """One parameter of a method: what the CLI, the page and ``find`` check a value against."""

    name: str
    type: type  # float, int, str or bool
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    default_text: str | None = None  # how to show a computed default (``lam``: 1/sqrt(d))

    def check(self, value: Any, method: str) -> Any:
        """``value`` converted to the parameter's type, or a one-line error naming the parameter."""
        what = f"{method} parameter {self.name}"
        if value is None and self.default is None:
            return None
        if self.type is bool:
            if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
                return value.strip().lower() in ("true", "1", "yes")
            if isinstance(value, bool):
                return value
            raise self.error(method, f"{what}: give true or false, got {str(value)[:40]!r}")
        if self.type is str:
            if not isinstance(value, str) or value not in self.choices:
                raise self.error(method, f"{what}: use one of {', '.join(self.choices)}, got {str(value)[:40]!r}")
            return value
        try:
            if isinstance(value, bool):
                raise ValueError
            number = float(value) if self.type is float else _as_int(value)
        except (TypeError, ValueError, OverflowError):
            raise self.error(method, f"{what}: give {'a number' if self.type is float else 'an integer'}, "
                                  f"got {str(value)[:40]!r}") from None
        if not math.isfinite(number):
            raise self.error(method, f"{what} must be a finite number, got {value!r}")
        if (self.low is not None and number < self.low) or (self.high is not None and number > self.high):
            raise self.error(method, f"{what} = {_num(number)} is out of range {_num(self.low)}..{_num(self.high)} ({self.help})")
        return number

    def error(self, method: str, message: str) -> LowRankGANError:
        """An error about this parameter of ``method``, which front ends name their own way."""
        return LowRankGANError(message, self.name, method)

    def describe(self) -> dict:
        return {"name": self.name, "type": self.type.__name__, "help": self.help,
                "default": self.default_text if self.default_text is not None else self.default,
                "low": self.low, "high": self.high, "choices": list(self.choices)}


def _num(value: float | int | None) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def _as_int(value: Any) -> int:
    """An integer exactly (a float would round seeds near 2**63), or a float with no fraction ("3.0")."""
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        value = value.strip()
        if len(value) > 20:
            raise ValueError
        try:
            return int(value)
        except ValueError:
            pass
    f = float(value)
    if not f.is_integer():
        raise ValueError
    return int(f)


@dataclass(frozen=True)
class Method:
    name: str
    fn: Callable[..., Directions]
    summary: str
    params: tuple[Param, ...] = ()
    uses_region: bool = True  # False: the same directions whatever region is drawn
    uses_image: bool = True  # False: the same directions for every image (model-level methods)
    needs_model: bool = False  # reads the model's weights or samples it

    def check_params(self, params: dict) -> dict:
        known = {p.name: p for p in self.params}
        unknown = sorted(set(params) - set(known))
        if unknown:
            allowed = ", ".join(known) or "none"
            raise LowRankGANError(f"unknown parameter {', '.join(unknown)} for method {self.name} (its parameters: {allowed})")
        return {k: known[k].check(v, self.name) for k, v in params.items()}

    def describe(self) -> dict:
        return {"name": self.name, "summary": self.summary, "uses_region": self.uses_region, "uses_image": self.uses_image,
                "params": [p.describe() for p in self.params]}


# ---------------------------------------------------------------------------------------------
# the methods

def _top_k(d: int, top_k: int | None) -> int:
    return d if top_k is None else max(0, min(int(top_k), d))


def _eig_desc(M: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (descending) and eigenvectors as rows of a symmetric ``M`` (float64)."""
    M = M.double()
    evals, evecs = torch.linalg.eigh((M + M.T) / 2)
    order = torch.argsort(evals, descending=True)
    return evals[order], evecs[:, order].T


def lowrankgan_directions(M_f: torch.Tensor, M_b: torch.Tensor, lam: float | None = None, relax: int = 0,
                          rank_rtol: float = RANK_RTOL, top_k: int | None = None, max_rank: int | None = None,
                          order: str = "ratio") -> Directions:
    """The paper's directions from the two Grams (see ``factorize.local_directions``); ``info``'s
    ``warnings`` say why there are fewer than ``top_k``."""
    vectors, info = local_directions(M_f, M_b, lam, relax, rank_rtol, max_rank, order)
    lam = info.pop("lambda")
    if vectors.shape[0] == 0:
        raise LowRankGANError("order paper: every principal direction of the region lies in the rest's low-rank "
                              "span, so none is left after the projection; use order ratio or energy, or a larger relax")
    k = _top_k(vectors.shape[0], top_k)
    if top_k is not None and k < top_k:
        info.setdefault("warnings", []).append(_fewer_reason(k, top_k, info, max_rank))
    return Directions(vectors[:k].float(), "lowrankgan",
                      {"lambda": lam, "relax": relax, "rank_rtol": rank_rtol, "order": order}, info)


def _fewer_reason(k: int, top_k: int, info: dict, max_rank: int | None) -> str:
    rank_f, null_dim = info["rank_region"], info["null_dim"]
    if k < min(rank_f, null_dim):  # only order paper loses rows this way: dependent projections
        why = (f"the projections of the region's {rank_f} principal directions into the rest's null space "
               f"span only {k} dimensions")
    elif null_dim < rank_f:
        why = f"the rest's null space has {null_dim} dimensions (rest rank {info['rank_rest']})"
    elif max_rank is not None and rank_f == max_rank:
        why = f"max_rank is {max_rank}"
    else:
        why = f"the region's low-rank part has rank {rank_f} (a smaller rank_rtol or a larger lam keeps more)"
    return f"{k} directions, fewer than the {top_k} asked for: {why}"


def resefa_directions(M_f: torch.Tensor, M_b: torch.Tensor, tau: float = RESEFA_TAU,
                      top_k: int | None = None) -> Directions:
    """ReSeFa: generalised eigenvectors of ``M_f v = σ (M_b + τ tr(M_b) I) v``, largest σ first."""
    check_region_energy(M_f)
    try:
        V, ratios = generalized_directions(M_f, M_b, tau)
    except torch.linalg.LinAlgError:
        raise LowRankGANError("resefa: the rest's Gram is singular or not finite; raise tau "
                              "(or check the model's weights for NaN/Inf)", "tau", "resefa") from None
    k = _top_k(V.shape[0], top_k)
    return Directions(V[:k].float(), "resefa", {"tau": tau}, {"ratios": [float(x) for x in ratios[:k]]})


def _lowrankgan(grams: RegionGrams, top_k: int | None = None, **params) -> Directions:
    return lowrankgan_directions(grams.M_f, grams.M_b, top_k=top_k, **params)


def _resefa(grams: RegionGrams, top_k: int | None = None, **params) -> Directions:
    return resefa_directions(grams.M_f, grams.M_b, top_k=top_k, **params)


def jacobian_svd(grams: RegionGrams, top_k: int | None = None) -> Directions:
    """Top right singular vectors of the whole-image Jacobian (largest image change first)."""
    evals, vecs = _eig_desc(grams.M_all)
    k = _top_k(vecs.shape[0], top_k)
    return Directions(canonical_sign(vecs[:k]).float(), "jacobian-svd", {},
                      {"singular_values": [float(v) for v in evals[:k].clamp(min=0).sqrt()]})


def _require_gen(grams: RegionGrams, method: str) -> GeneratorAdapter:
    if grams.gen is None:
        raise LowRankGANError(f"method {method} needs the model; pass grams made by region_gram_pair")
    return grams.gen


_ganspace_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def ganspace(grams: RegionGrams, top_k: int | None = None, samples: int = GANSPACE_SAMPLES,
             seed_offset: int = GANSPACE_SEED_OFFSET) -> Directions:
    """Principal axes of ``samples`` codes sampled in the chosen space (most variance first)."""
    gen = _require_gen(grams, "ganspace")
    layers = tuple(grams.layers or ())
    key = (gen.cache_key(), grams.space, layers, int(samples), int(seed_offset), str(gen.device))
    if key not in _ganspace_cache:
        codes = gen.sample(range(seed_offset, seed_offset + samples), grams.space).detach().double().cpu()
        if codes.dim() == 3:  # w+: rows of the chosen layers are samples of the same space
            rows = list(layers) if layers else list(range(codes.shape[1]))
            codes = codes[:, rows].reshape(-1, codes.shape[-1])
        centred = codes - codes.mean(0, keepdim=True)
        _ganspace_cache[key] = _eig_desc(centred.T @ centred / (codes.shape[0] - 1))
    evals, vecs = _ganspace_cache[key]
    k = _top_k(vecs.shape[0], top_k)
    return Directions(canonical_sign(vecs[:k]).float(), "ganspace",
                      {"samples": samples, "seed_offset": seed_offset},
                      {"variances": [float(v) for v in evals[:k]]})


def sefa(grams: RegionGrams, top_k: int | None = None, normalize: bool = True) -> Directions:
    """Eigenvectors of ``AᵀA`` (largest first); ``normalize`` scales each output unit's row of ``A``
    to unit norm first, as the SeFa reference implementation does."""
    gen = _require_gen(grams, "sefa")
    A = gen.sefa_weight(grams.space, grams.layers).double().cpu()
    if normalize:
        A = A / A.norm(dim=1, keepdim=True).clamp(min=1e-12)
    evals, vecs = _eig_desc(A.T @ A)
    d = int(grams.M_f.shape[0])
    if vecs.shape[1] != d:
        raise LowRankGANError(f"sefa: the model's first-layer weights act on {vecs.shape[1]} dims, codes have {d}")
    k = _top_k(d, top_k)
    return Directions(canonical_sign(vecs[:k]).float(), "sefa", {"normalize": normalize},
                      {"eigenvalues": [float(v) for v in evals[:k]]})


def random_directions(grams: RegionGrams, top_k: int | None = None, seed: int = 0) -> Directions:
    """Orthonormal random directions (QR of a seeded Gaussian ``[d, d]``); order carries no meaning."""
    d = int(grams.M_f.shape[0])
    G = torch.randn(d, d, generator=torch.Generator().manual_seed(int(seed)), dtype=torch.float64)
    Q, R = torch.linalg.qr(G)
    Q = Q * torch.sign(torch.diagonal(R))[None]  # the unique QR with positive diagonal: Haar-uniform
    k = _top_k(d, top_k)
    return Directions(canonical_sign(Q.T[:k]).float(), "random", {"seed": seed}, {})


# ---------------------------------------------------------------------------------------------
# the registry

_LOWRANKGAN_PARAMS = (
    Param("lam", float, None, "robust PCA sparsity weight", 1e-6, 10.0, default_text="1/sqrt(d)"),
    Param("relax", int, 0, "null-space relaxation: rest directions given back to the edit", 0, MAX_LATENT_DIM),
    Param("rank_rtol", float, RANK_RTOL, "relative singular-value tolerance for the ranks", 1e-8, 0.999),
    Param("order", str, "ratio", "ratio: most region change per rest change first, within the rest's null "
          "space; energy: most region change first; paper: p' = N N^T p (the paper's algorithm)", choices=ORDERS),
)

METHODS: dict[str, Method] = {m.name: m for m in (
    Method("lowrankgan", _lowrankgan, "principal subspace of the region projected into the rest's null space "
           "(Zhu et al., NeurIPS 2021)", _LOWRANKGAN_PARAMS),
    Method("resefa", _resefa, "region energy over rest energy, generalised eigenvectors (ReSeFa, ICML 2022)",
           (Param("tau", float, RESEFA_TAU, "regulariser of the rest's Gram (fraction of its trace)", 1e-9, 1.0),)),
    Method("jacobian-svd", jacobian_svd, "largest change of the whole image (baseline)", uses_region=False),
    Method("ganspace", ganspace, "principal axes of sampled codes (GANSpace, baseline)",
           (Param("samples", int, GANSPACE_SAMPLES, "codes sampled", 2, GANSPACE_MAX_SAMPLES),
            Param("seed_offset", int, GANSPACE_SEED_OFFSET, "first seed sampled", 0, MAX_SEED - GANSPACE_MAX_SAMPLES)),
           uses_region=False, uses_image=False, needs_model=True),
    Method("sefa", sefa, "eigenvectors of the first layer's weights (SeFa, baseline)",
           (Param("normalize", bool, True, "unit-normalise each output unit's weights first"),),
           uses_region=False, uses_image=False, needs_model=True),
    Method("random", random_directions, "seeded orthonormal random directions (baseline)",
           (Param("seed", int, 0, "random seed", 0, MAX_SEED),),
           uses_region=False, uses_image=False),
)}
DEFAULT_METHOD = "lowrankgan"


def get_method(name: str) -> Method:
    """The registry entry, or the one error for an unknown method name."""
    method = METHODS.get(name)
    if method is None:
        raise LowRankGANError(f"unknown method '{str(name)[:40]}'; use one of: {', '.join(METHODS)}")
    return method


def find(grams: RegionGrams, method: str = DEFAULT_METHOD, top_k: int | None = None, **params) -> Directions:
    """One signature for every method; ``params`` are checked against the registry first."""
    entry = get_method(method)
    params = entry.check_params(params)
    if not (bool(torch.isfinite(grams.M_f).all()) and bool(torch.isfinite(grams.M_b).all())):
        raise LowRankGANError("the model's Jacobian holds NaN or infinite values (broken or overflowing "
                              "weights); no directions can be computed from it")
    return entry.fn(grams, top_k=top_k, **params)
