"""The comparison methods, registered next to ``lowrankgan`` and ``resefa`` (``factorize.METHODS``).

Importing this module registers ``jacobian-svd``, ``ganspace``, ``sefa`` and ``random``. All share the
one signature ``fn(grams: RegionGrams, top_k=None, **params) -> Directions`` and return unit rows,
best first, with the canonical sign of ``factorize`` (largest entry positive).

- ``jacobian-svd``: top right singular vectors of the whole-image Jacobian (eigenvectors of
  ``JᵀJ/n`` = ``grams.M_all``): the directions that change the image most, anywhere (Ramesh, Choi &
  LeCun 2018, "A spectral regularizer for unsupervised disentanglement", arXiv 1812.01161).
- ``ganspace``: principal axes of many sampled codes in the chosen latent space (Härkönen et al.,
  NeurIPS 2020, arXiv 2004.02546). In ``z`` the samples are N(0, I): the axes are those of sampling
  noise, so for z-only models (the DCGANs) ``ganspace`` is a near-isotropic, essentially random
  baseline. It is meaningful in StyleGAN's ``w``.
- ``sefa``: eigenvectors of ``AᵀA`` for the weight ``A`` of the first layer(s) acting on the code
  (Shen & Zhou, CVPR 2021, arXiv 2007.06600): the DCGAN's first ConvTranspose2d, StyleGAN2's style
  affine layers of the chosen W+ rows, BigGAN's ``gen_z`` projection (z columns). Independent of
  image and region.
- ``random``: seeded orthonormal random directions (QR of a Gaussian matrix).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .errors import LowRankGANError
from .factorize import Directions, RegionGrams, canonical_sign, register_method

GANSPACE_SAMPLES = 2000
GANSPACE_SEED_OFFSET = 1_000_000  # sample seeds far from the ones users edit

_ganspace_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def _top_k(d: int, top_k: int | None) -> int:
    return d if top_k is None else max(0, min(int(top_k), d))


def _eig_desc(M: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (descending) and eigenvectors as rows of a symmetric ``M`` (float64)."""
    M = M.double()
    evals, evecs = torch.linalg.eigh((M + M.T) / 2)
    order = torch.argsort(evals, descending=True)
    return evals[order], evecs[:, order].T


@register_method("jacobian-svd")
def jacobian_svd(grams: RegionGrams, top_k: int | None = None) -> Directions:
    """Top right singular vectors of the whole-image Jacobian (largest image change first)."""
    evals, vecs = _eig_desc(grams.M_all)
    k = _top_k(vecs.shape[0], top_k)
    return Directions(canonical_sign(vecs[:k]).float(), "jacobian-svd", {},
                      {"singular_values": [float(v) for v in evals[:k].clamp(min=0).sqrt()]})


def _require_gen(grams: RegionGrams, method: str):
    if grams.gen is None:
        raise LowRankGANError(f"method {method} needs the model; pass grams made by region_gram_pair")
    return grams.gen


@register_method("ganspace")
def ganspace(grams: RegionGrams, top_k: int | None = None, samples: int = GANSPACE_SAMPLES,
             seed_offset: int = GANSPACE_SEED_OFFSET) -> Directions:
    """Principal axes of ``samples`` codes sampled in the chosen space (most variance first)."""
    gen = _require_gen(grams, "ganspace")
    if samples < 2:
        raise LowRankGANError(f"ganspace needs at least 2 samples, got {samples}")
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


@register_method("sefa")
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


@register_method("random")
def random_directions(grams: RegionGrams, top_k: int | None = None, seed: int = 0) -> Directions:
    """Orthonormal random directions (QR of a seeded Gaussian ``[d, d]``); order carries no meaning."""
    d = int(grams.M_f.shape[0])
    G = torch.randn(d, d, generator=torch.Generator().manual_seed(int(seed)), dtype=torch.float64)
    Q, R = torch.linalg.qr(G)
    Q = Q * torch.sign(torch.diagonal(R))[None]  # the unique QR with positive diagonal: Haar-uniform
    k = _top_k(d, top_k)
    return Directions(canonical_sign(Q.T[:k]).float(), "random", {"seed": seed}, {})


ALL_METHODS = ("lowrankgan", "resefa", "jacobian-svd", "ganspace", "sefa", "random")
