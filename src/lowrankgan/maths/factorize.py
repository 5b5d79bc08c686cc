"""Low-rank factorisation of region Gram matrices: the linear algebra of the paper (robust PCA,
principal subspace of the region, null space of the rest, the projection) and of ReSeFa.

``robust_pca`` splits a symmetric PSD ``M`` into low-rank ``L`` plus sparse ``S`` by the inexact
augmented Lagrangian method (Lin, Chen & Ma 2010). Every iterate stays symmetric, so singular value
thresholding is a symmetric eigendecomposition. ``rpca_admm`` is the authors' plain ADMM (fixed
``μ``, full SVD), kept for parity checks and benchmarks.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from ..errors import LowRankGANError


# Scale-free sparsity weight: λ = LAMBDA_SCALE / sqrt(d). The authors' λ = 1/60 at d = 512 is
# 0.377/sqrt(512); on dcgan-faces (d = 100) the leak is flat for scales 1..4 and worse below 1
# (README, "Choosing the defaults").
LAMBDA_SCALE = 1.0
RANK_RTOL = 1e-2
RHO_FAST = 3.0  # robust_pca: μ growth once the relative residual is below RHO_SWITCH
RHO_SWITCH = 1e-4
RESEFA_TAU = 1e-3
DEGENERATE_RTOL = 1e-2  # eigenvalues closer than this (relative) count as one near-degenerate run
RPCA_MAX_ITER = 1000  # robust PCA iterations before it reports that it did not converge
INDEPENDENT_RTOL = 1e-6  # order="paper": a projection within this (relative) of the earlier ones' span adds nothing


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
    # For symmetric X the singular values are |eigenvalues| with the same vectors. eigh reads only
    # the lower triangle, so X needs no explicit symmetrisation.
    evals, evecs = torch.linalg.eigh(X)
    keep = evals.abs() > tau  # only the surviving eigenpairs enter the product
    V = evecs[:, keep]
    e = evals[keep]
    return (V * (e - torch.sign(e) * tau)) @ V.T


def _shrink_fast(X: torch.Tensor, tau: float) -> torch.Tensor:
    """``_shrink`` in two tensor ops instead of four (these matrices are small: op count is time)."""
    return X - X.clamp(-tau, tau)


def _svt(X: torch.Tensor, tau: float) -> torch.Tensor:
    U, s, Vh = torch.linalg.svd(X, full_matrices=False)
    return (U * torch.clamp(s - tau, min=0)) @ Vh


@contextmanager
def _few_threads(d: int):
    """Small eigendecompositions run faster on one thread, and OpenMP workers spinning on a busy
    machine slow them down many times over; large ones keep the threads."""
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
               max_iter: int | None = None, rho: float = 1.2, rho_fast: float = RHO_FAST,
               switch: float = RHO_SWITCH) -> RPCAResult:
    """Inexact ALM robust PCA of a symmetric ``M`` (float64 inside).

    ``μ`` grows by ``rho`` per iteration while the relative residual is above ``switch``, by
    ``rho_fast`` after. A fast schedule from the start meets the constraint before ``L`` and ``S``
    are optimal, and an early switch turns subspaces whose singular values are close at the rank
    cut; switching at ``1e-4`` keeps the objective and the principal subspaces of the authors' ADMM
    in fewer iterations (README, "Benchmarks"). Stops after ``max_iter`` (default
    ``RPCA_MAX_ITER``) with ``converged`` false.
    """
    M = M.double()
    if M.dim() != 2 or M.shape[0] != M.shape[1]:
        raise LowRankGANError(f"robust PCA needs a square matrix, got {list(M.shape)}")
    with _few_threads(M.shape[0]):
        return _robust_pca(M, lam, tol, RPCA_MAX_ITER if max_iter is None else max_iter, rho, rho_fast, switch)


def robust_pca_many(mats: list[torch.Tensor], lam: float | None = None, **kwargs) -> list[RPCAResult]:
    """``robust_pca`` of several matrices, side by side on worker threads when they are small and
    cores are idle (each solve is single-threaded, and a region's and its rest's Grams are
    independent); the results are the same either way."""
    mats = [M.double() for M in mats]
    for M in mats:
        if M.dim() != 2 or M.shape[0] != M.shape[1]:
            raise LowRankGANError(f"robust PCA needs a square matrix, got {list(M.shape)}")
    d = max((M.shape[0] for M in mats), default=0)
    workers = min(len(mats), _idle_cores())
    if d > 256 or workers < 2:
        return [robust_pca(M, lam, **kwargs) for M in mats]
    args = [kwargs.get(k, v) for k, v in (("tol", 1e-6), ("max_iter", RPCA_MAX_ITER), ("rho", 1.2),
                                         ("rho_fast", RHO_FAST), ("switch", RHO_SWITCH))]
    with _few_threads(d), ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda M: _robust_pca(M, lam, *args), mats))


def _idle_cores() -> int:
    """Cores that no other runnable thread is using right now: threads on a machine already
    oversubscribed made the pair slower than one after the other (README, "Benchmarks"). Linux's
    instantaneous run-queue length (/proc/loadavg, this thread included) is used rather than the
    1-minute average, which counts this process's own Jacobian work just before."""
    cores = os.cpu_count() or 1
    try:
        with open("/proc/loadavg") as f:
            running = int(f.read().split()[3].split("/")[0]) - 1
    except (OSError, ValueError, IndexError):
        try:
            running = int(os.getloadavg()[0] + 0.5)
        except (AttributeError, OSError):  # no load average on this platform
            return cores
    return max(1, cores - running)


def _robust_pca(M: torch.Tensor, lam: float | None, tol: float, max_iter: int, rho: float,
                rho_fast: float = RHO_FAST, switch: float = RHO_SWITCH) -> RPCAResult:
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
        A = M + Y / mu  # shared by both updates
        S = _shrink_fast(A - L, lam / mu)
        L = _svt_symmetric(A - S, 1 / mu)
        Z = M - L - S
        Y = Y + mu * Z
        residual = float(torch.linalg.vector_norm(Z)) / norm_fro
        mu = min(mu * (rho if residual > switch else rho_fast), mu_max)
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
                    rank_rtol: float = RANK_RTOL, fit: RPCAResult | None = None) -> tuple[torch.Tensor, int, RPCAResult]:
    """Orthonormal columns ``[d, n]`` spanning the null space of the rest's low-rank part: the right
    singular vectors of ``L_b`` past ``rank(L_b) - relax``. Also the rank and the fit (``fit``:
    robust PCA of ``M_b`` already computed). Where that rank is ``d`` (no null space) the one column
    is the rest's weakest direction; ``null_space_warning`` says so."""
    d = M_b.shape[0]
    if fit is None:
        fit = robust_pca(M_b, default_lambda(d) if lam is None else lam)
    s_b, V_b = spectrum(fit.L)
    rank_b = numerical_rank(s_b, rank_rtol)
    return V_b[:, min(max(rank_b - relax, 0), d - 1):], rank_b, fit


def null_space_warning(rank_b: int, relax: int, d: int) -> str | None:
    """The warning for a rest whose low-rank part fills the whole latent space, else None."""
    if rank_b - relax < d:
        return None
    return (f"the rest's low-rank part has full rank {rank_b} of {d}, so it has no null space: the one "
            "direction returned is the rest's weakest, not one that leaves the rest unchanged (a larger "
            "relax or rank_rtol gives the null space some room)")


def check_region_energy(M_f: torch.Tensor) -> None:
    """Refuse a region Gram without energy: no latent direction changes the region at all."""
    if not float(torch.trace(M_f.double())) > 0:
        raise LowRankGANError("the region's Gram is zero: no latent direction changes the region's pixels "
                              "(is the region where the model draws nothing, or smaller than one pixel at "
                              "the analysis size?); draw another region or use a larger analysis_size")


def fit_warnings(fits: dict[str, RPCAResult]) -> list[str]:
    """A warning for each robust PCA fit that stopped before converging."""
    return [f"robust PCA of the {name}'s Gram did not converge in {fit.iterations} iterations (relative "
            f"residual {fit.residual:.1e}): its rank and subspace are approximate"
            for name, fit in fits.items() if not fit.converged]


ORDERS = ("ratio", "energy", "paper")


def local_directions(M_f: torch.Tensor, M_b: torch.Tensor, lam: float | None = None,
                     relax: int = 0, rank_rtol: float = RANK_RTOL, max_rank: int | None = None,
                     order: str = "ratio", tau: float = RESEFA_TAU) -> tuple[torch.Tensor, dict]:
    """Region directions in the null space of the rest's low-rank part (paper §3): unit rows
    ``[k, d]`` best first (canonical sign), ``k <= min(rank(L_f), dim N)``, and ranks / iterations
    and ``warnings`` (what went wrong without making the result meaningless).

    ``order="paper"`` returns ``p' = N Nᵀ p`` for each principal ``p`` of ``L_f`` in principal
    order, as the paper does, leaving out each ``p'`` in the span of those before it (the
    projections of more than ``dim N`` principals cannot all be independent). ``order="energy"``
    returns an orthonormal basis of that projected subspace ordered by region energy (top
    eigenvectors of ``Nᵀ L_f N``). ``order="ratio"`` (default) ranks the directions of ``N`` by
    region energy over rest energy: generalised eigenvectors of ``(Nᵀ L_f N, Nᵀ M_b N + τ tr(Nᵀ M_b N) I)``.
    Inside ``N`` the rest's low-rank part is gone, so ``Nᵀ M_b N`` is what remains of the rest: its
    sparse part, which the paper's projection ignores and which is most of what the energy order
    leaks (README, "Locality"). A zero region Gram, or a region fit with no low-rank part, is an
    error: no direction would mean anything.
    """
    if order not in ORDERS:
        raise LowRankGANError(f"unknown order '{order}'; use {', '.join(ORDERS)}")
    check_region_energy(M_f)
    d = M_f.shape[0]
    lam = default_lambda(d) if lam is None else lam
    fg, bg_fit = robust_pca_many([M_f, M_b], lam)  # independent: solved side by side
    s_f, V_f = spectrum(fg.L)
    rank_f = numerical_rank(s_f, rank_rtol)
    if rank_f == 0:
        raise LowRankGANError(f"robust PCA put all of the region's Gram into its sparse part (lam = {lam:.3g}): "
                              "the region has no low-rank part to take directions from; use a larger lam")
    if max_rank is not None:
        rank_f = max(1, min(rank_f, max_rank))
    N, rank_b, bg = rest_null_space(M_b, lam, relax, rank_rtol, fit=bg_fit)
    warnings = fit_warnings({"region": fg, "rest": bg})
    full = null_space_warning(rank_b, relax, d)
    warnings += [full] if full else []
    k = min(rank_f, N.shape[1])
    if order == "paper":
        vectors = independent_rows((N @ (N.T @ V_f[:, :rank_f])).T)
    elif order == "energy":
        evals, evecs = torch.linalg.eigh(N.T @ fg.L @ N)
        vectors = (N @ evecs[:, torch.argsort(evals, descending=True)[:k]]).T
    else:
        vectors = _pencil_top(N.T @ fg.L @ N, N.T @ M_b.double() @ N, tau, k, N)
    info = {"rank_region": rank_f, "rank_rest": rank_b, "null_dim": N.shape[1], "lambda": lam,
            "iterations": [fg.iterations, bg.iterations], "converged": fg.converged and bg.converged}
    if warnings:
        info["warnings"] = warnings
    return canonical_sign(vectors), info


def independent_rows(rows: torch.Tensor, rtol: float = INDEPENDENT_RTOL) -> torch.Tensor:
    """Unit rows ``[m, d]``: each row of ``rows`` (in order) that has a part outside the span of the
    rows kept before it larger than ``rtol`` of its own norm; the others add no direction."""
    rows = rows.double()
    scale = float(rows.norm(dim=1).max()) if rows.numel() else 0.0
    basis: list[torch.Tensor] = []  # orthonormal span of the kept rows
    kept = []
    for row in rows:
        norm = float(row.norm())
        if not norm > 1e-8 * max(scale, 1e-300):
            continue  # projected to nothing
        rest = row
        for _ in range(2):  # Gram-Schmidt twice: once loses orthogonality in near-dependent runs
            for q in basis:
                rest = rest - (q @ rest) * q
        if float(rest.norm()) > rtol * norm:
            basis.append(rest / rest.norm())
            kept.append(row / norm)
    return torch.stack(kept) if kept else rows.new_zeros(0, rows.shape[1])


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


def degenerate_groups(values: torch.Tensor, rtol: float = DEGENERATE_RTOL) -> list[list[int]]:
    """Runs of consecutive indices (``values`` sorted descending) whose neighbours differ by less
    than ``rtol`` of the largest |value|: inside a run the vectors are any rotation of each other,
    and a perturbation as small as TF32's turns them one by one while their span stays."""
    vals = [float(v) for v in values]
    scale = max((abs(v) for v in vals), default=0.0)
    groups: list[list[int]] = []
    for i, v in enumerate(vals):
        if groups and abs(vals[groups[-1][-1]] - v) <= rtol * scale:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def stable_order(vectors: torch.Tensor, values: torch.Tensor, secondary: torch.Tensor,
                 rtol: float = DEGENERATE_RTOL) -> tuple[torch.Tensor, list[list[int]]]:
    """Rows ``[k, d]`` (best first, ``values`` descending) with each near-degenerate run replaced by
    the basis of the same span that ``secondary`` orders (ascending ``v·secondary·v``, e.g. the rest's
    Gram: least leak first). The result depends only on the runs' spans, so directions found in
    strict float32 and in TF32 agree one by one wherever the spans do. Also the runs (size > 1)."""
    V = vectors.double().clone()
    B = secondary.double().to(V.device)
    runs = [g for g in degenerate_groups(values, rtol) if len(g) > 1]
    for g in runs:
        Q = V[g]  # [m, d], orthonormal rows spanning the run
        evals, evecs = torch.linalg.eigh(Q @ B @ Q.T)
        V[g] = (evecs[:, torch.argsort(evals)].T @ Q)
    return canonical_sign(V).to(vectors.dtype), runs


def canonical_sign(vectors: torch.Tensor) -> torch.Tensor:
    """Eigenvectors have no sign; fix one (largest entry positive) so results are reproducible."""
    if vectors.numel() == 0:
        return vectors
    idx = vectors.abs().argmax(dim=1)
    signs = torch.sign(vectors.gather(1, idx[:, None]))
    signs[signs == 0] = 1
    return vectors * signs
