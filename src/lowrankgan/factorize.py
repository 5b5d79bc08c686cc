"""Low-rank factorisation of region Gram matrices: the linear algebra of the paper (robust PCA,
principal subspace of the region, null space of the rest, the projection) and of ReSeFa.

``robust_pca`` splits a symmetric PSD ``M`` into low-rank ``L`` plus sparse ``S`` by the inexact
augmented Lagrangian method (Lin, Chen & Ma 2010). Every iterate stays symmetric, so singular value
thresholding is a symmetric eigendecomposition. ``rpca_admm`` is the authors' plain ADMM (fixed
``μ``, full SVD), kept for parity checks and benchmarks.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from .errors import LowRankGANError


# Scale-free sparsity weight: λ = LAMBDA_SCALE / sqrt(d). The authors' λ = 1/60 at d = 512 is
# 0.377/sqrt(512); on dcgan-faces (d = 100) the leak is flat for scales 1..4 and worse below 1
# (README, "Choosing the defaults").
LAMBDA_SCALE = 1.0
RANK_RTOL = 1e-2
RESEFA_TAU = 1e-3


@dataclass
class RPCAResult:
    L: torch.Tensor
    S: torch.Tensor
    iterations: int
    converged: bool
    residual: float  # ||M - L - S||_F / ||M||_F

    def objective(self, lam: float) -> float:
        return nuclear_norm(self.L) + lam * float(self.S.abs().sum())


def default_lambda(d: int) -> float:
    return LAMBDA_SCALE / math.sqrt(d)


def nuclear_norm(X: torch.Tensor) -> float:
    return float(torch.linalg.svdvals(X.double()).sum())


def _shrink(X: torch.Tensor, tau: float) -> torch.Tensor:
    return torch.sign(X) * torch.clamp(X.abs() - tau, min=0)


def _svt_symmetric(X: torch.Tensor, tau: float) -> torch.Tensor:
    # For symmetric X the singular values are |eigenvalues| with the same vectors.
    X = (X + X.T) / 2
    evals, evecs = torch.linalg.eigh(X)
    shrunk = torch.sign(evals) * torch.clamp(evals.abs() - tau, min=0)
    return (evecs * shrunk) @ evecs.T


def _svt(X: torch.Tensor, tau: float) -> torch.Tensor:
    U, s, Vh = torch.linalg.svd(X, full_matrices=False)
    return (U * torch.clamp(s - tau, min=0)) @ Vh


@contextmanager
def _few_threads(d: int):
    """Small eigendecompositions run faster on one thread, and OpenMP workers spinning on a busy
    machine made them up to 100x slower; large ones keep the threads."""
    if d > 256:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def robust_pca(M: torch.Tensor, lam: float | None = None, tol: float = 1e-6,
               max_iter: int = 1000, rho: float = 1.2) -> RPCAResult:
    """Inexact ALM robust PCA of a symmetric ``M`` (float64 inside).

    ``μ`` grows by ``rho`` per iteration. The textbook 1.5 meets the constraint before ``L`` and
    ``S`` are optimal (objective 2e-3 above ADMM's optimum on a test matrix), and so does 1.3 on some
    dcgan-faces Grams at λ = 1/60; 1.2 with ``tol`` 1e-6 stays within 1.3e-4 of it on all twelve
    Grams we checked (eyes/mouth/nose, region and rest, λ = 0.1 and 1/60), in 38-65 iterations.
    """
    M = M.double()
    if M.dim() != 2 or M.shape[0] != M.shape[1]:
        raise LowRankGANError(f"robust PCA needs a square matrix, got {list(M.shape)}")
    with _few_threads(M.shape[0]):
        return _robust_pca(M, lam, tol, max_iter, rho)


def _robust_pca(M: torch.Tensor, lam: float | None, tol: float, max_iter: int, rho: float) -> RPCAResult:
    M = (M + M.T) / 2
    lam = default_lambda(M.shape[0]) if lam is None else lam
    norm_fro = float(torch.linalg.matrix_norm(M))
    if norm_fro == 0:
        z = torch.zeros_like(M)
        return RPCAResult(z, z.clone(), 0, True, 0.0)
    norm_two = float(torch.linalg.matrix_norm(M, ord=2))
    Y = M / max(norm_two, float(M.abs().max()) / lam)
    mu, mu_max = 1.25 / norm_two, 1.25e7 / norm_two
    L = torch.zeros_like(M)
    S = torch.zeros_like(M)
    residual = 1.0
    for it in range(1, max_iter + 1):
        S = _shrink(M - L + Y / mu, lam / mu)
        L = _svt_symmetric(M - S + Y / mu, 1 / mu)
        Z = M - L - S
        Y = Y + mu * Z
        mu = min(mu * rho, mu_max)
        residual = float(torch.linalg.matrix_norm(Z)) / norm_fro
        if residual < tol:
            return RPCAResult(L, S, it, True, residual)
    return RPCAResult(L, S, max_iter, False, residual)


def rpca_admm(M: torch.Tensor, lam: float = 1 / 60, mu: float | None = None, tol: float = 1e-7,
              max_iter: int = 10000) -> RPCAResult:
    """The authors' solver: ADMM with fixed ``μ = n²/(4‖M‖₁)``, full SVD each iteration."""
    M = M.double()
    with _few_threads(M.shape[0]):  # the same threading as robust_pca, for a fair comparison
        return _rpca_admm(M, lam, mu, tol, max_iter)


def _rpca_admm(M: torch.Tensor, lam: float, mu: float | None, tol: float, max_iter: int) -> RPCAResult:
    mu = M.numel() / (4 * float(M.abs().sum())) if mu is None else mu
    norm_fro = float(torch.linalg.matrix_norm(M))
    L = torch.zeros_like(M)
    S = torch.zeros_like(M)
    Y = torch.zeros_like(M)
    residual = 1.0
    for it in range(1, max_iter + 1):
        L = _svt(M - S + Y / mu, 1 / mu)
        S = _shrink(M - L + Y / mu, lam / mu)
        Z = M - L - S
        Y = Y + mu * Z
        residual = float(torch.linalg.matrix_norm(Z)) / max(norm_fro, 1e-300)
        if residual < tol:
            return RPCAResult(L, S, it, True, residual)
    return RPCAResult(L, S, max_iter, False, residual)


def spectrum(L: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Singular values (descending) and right singular vectors (columns) of a symmetric ``L``."""
    evals, evecs = torch.linalg.eigh((L + L.T) / 2)
    order = torch.argsort(evals.abs(), descending=True)
    return evals.abs()[order], evecs[:, order]


def numerical_rank(singular_values: torch.Tensor, rtol: float = RANK_RTOL) -> int:
    if singular_values.numel() == 0 or float(singular_values[0]) == 0:
        return 0
    return int((singular_values > rtol * singular_values[0]).sum())


def rest_null_space(M_b: torch.Tensor, lam: float | None = None, relax: int = 0,
                    rank_rtol: float = RANK_RTOL) -> tuple[torch.Tensor, int, RPCAResult]:
    """Orthonormal columns ``[d, n]`` spanning the null space of the rest's low-rank part: the right
    singular vectors of ``L_b`` past ``rank(L_b) - relax`` (never empty). Also the rank and the fit."""
    d = M_b.shape[0]
    fit = robust_pca(M_b, default_lambda(d) if lam is None else lam)
    s_b, V_b = spectrum(fit.L)
    rank_b = numerical_rank(s_b, rank_rtol)
    return V_b[:, min(max(rank_b - relax, 0), d - 1):], rank_b, fit


ORDERS = ("ratio", "energy", "paper")


def local_directions(M_f: torch.Tensor, M_b: torch.Tensor, lam: float | None = None,
                     relax: int = 0, rank_rtol: float = RANK_RTOL, max_rank: int | None = None,
                     order: str = "ratio", tau: float = RESEFA_TAU) -> tuple[torch.Tensor, dict]:
    """Region directions in the null space of the rest's low-rank part (paper §3): unit rows
    ``[k, d]`` best first (canonical sign), ``k = min(rank(L_f), dim N)``, and ranks / iterations.

    ``order="paper"`` returns ``p' = N Nᵀ p`` for each principal ``p`` of ``L_f`` in principal
    order, as the paper does. ``order="energy"`` returns an orthonormal basis of that projected
    subspace ordered by region energy (top eigenvectors of ``Nᵀ L_f N``). ``order="ratio"``
    (default) ranks the directions of ``N`` by region energy over rest energy: generalised
    eigenvectors of ``(Nᵀ L_f N, Nᵀ M_b N + τ tr(Nᵀ M_b N) I)``. Inside ``N`` the rest's low-rank
    part is gone, so ``Nᵀ M_b N`` is what remains of the rest: its sparse part, which the paper's
    projection ignores and which is most of what the energy order leaks (README, "Locality").
    """
    if order not in ORDERS:
        raise LowRankGANError(f"unknown order '{order}'; use {', '.join(ORDERS)}")
    d = M_f.shape[0]
    lam = default_lambda(d) if lam is None else lam
    fg = robust_pca(M_f, lam)
    s_f, V_f = spectrum(fg.L)
    rank_f = numerical_rank(s_f, rank_rtol)
    if max_rank is not None:
        rank_f = min(rank_f, max_rank)
    rank_f = max(rank_f, 1)
    N, rank_b, bg = rest_null_space(M_b, lam, relax, rank_rtol)
    k = min(rank_f, N.shape[1])
    if order == "paper":
        projected = N @ (N.T @ V_f[:, :rank_f])
        norms = projected.norm(dim=0)
        keep = norms > 1e-8 * max(1.0, float(norms.max()))
        vectors = (projected[:, keep] / norms[keep]).T
    elif order == "energy":
        evals, evecs = torch.linalg.eigh(N.T @ fg.L @ N)
        vectors = (N @ evecs[:, torch.argsort(evals, descending=True)[:k]]).T
    else:
        vectors = _pencil_top(N.T @ fg.L @ N, N.T @ M_b.double() @ N, tau, k, N)
    info = {"rank_region": rank_f, "rank_rest": rank_b, "null_dim": N.shape[1], "lambda": lam,
            "iterations": [fg.iterations, bg.iterations], "converged": fg.converged and bg.converged}
    return canonical_sign(vectors), info


def _pencil_top(A: torch.Tensor, B: torch.Tensor, tau: float, k: int, basis: torch.Tensor) -> torch.Tensor:
    """Top ``k`` generalised eigenvectors of ``(A, B + τ tr(B) I)``, mapped by ``basis`` and
    normalised to unit rows ``[k, d]``. With no rest energy left (``B`` = 0) every direction of
    the basis is equally clean, and region energy alone orders them."""
    if not float(torch.trace(B)) > 1e-12 * max(float(torch.trace(A)), 1e-300):
        evals, V = torch.linalg.eigh((A + A.T) / 2)
        V = V[:, torch.argsort(evals, descending=True)]
    else:
        V, _ = _generalized_eig(A, B, tau)
    V = basis @ V[:, :k]
    return (V / V.norm(dim=0, keepdim=True)).T


def _generalized_eig(A: torch.Tensor, B: torch.Tensor, tau: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised eigenvectors (columns, largest σ first) and σ of ``A v = σ (B + τ tr(B) I) v``."""
    A, B = A.double(), B.double()
    n = A.shape[0]
    eye = torch.eye(n, dtype=B.dtype, device=B.device)
    B = B + tau * float(torch.trace(B)) * eye
    # Whitening by the Cholesky factor turns the pencil into a symmetric eigenproblem.
    C = torch.linalg.cholesky(B)
    Ci = torch.linalg.solve_triangular(C, eye, upper=False)
    W = Ci @ A @ Ci.T
    evals, evecs = torch.linalg.eigh((W + W.T) / 2)
    order = torch.argsort(evals, descending=True)
    return Ci.T @ evecs[:, order], evals[order]


def generalized_directions(M_f: torch.Tensor, M_b: torch.Tensor, tau: float = RESEFA_TAU) -> tuple[torch.Tensor, torch.Tensor]:
    """ReSeFa: unit generalised eigenvectors ``[d, d]`` (rows) of ``M_f v = σ (M_b + τ tr(M_b) I) v``,
    largest σ first, and the σ."""
    V, evals = _generalized_eig(M_f, M_b, tau)
    V = V / V.norm(dim=0, keepdim=True)
    return canonical_sign(V.T), evals


def canonical_sign(vectors: torch.Tensor) -> torch.Tensor:
    """Eigenvectors have no sign; fix one (largest entry positive) so results are reproducible."""
    if vectors.numel() == 0:
        return vectors
    idx = vectors.abs().argmax(dim=1)
    signs = torch.sign(vectors.gather(1, idx[:, None]))
    signs[signs == 0] = 1
    return vectors * signs
