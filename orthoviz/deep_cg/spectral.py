"""Lanczos Ritz vectors and the paper's Ritz-weighted training right-hand sides.

Kaneda et al. (ICML 2023, section 3.1 of the spec) train on unit vectors
``b = sum_j c_j y_j`` over the Ritz vectors ``y_j`` of m Lanczos steps on the training
matrix, with ``c_j = 9 xi_j`` for the lowest ``m/2 + theta`` Ritz values and ``xi_j``
otherwise: A^{-1} amplifies the low end of the spectrum, exactly the smooth modes CG is
slow on, and white noise would be dominated by the high ones.

Hand-written rather than ``scipy.sparse.linalg.eigsh``: ARPACK restarts implicitly and
returns k converged eigenpairs, while the training data are *all* m Ritz pairs of one
m-step Krylov space (the paper's construction). Full re-orthogonalisation (two
classical Gram-Schmidt passes against every earlier Lanczos vector) prevents the ghost
copies of converged Ritz values that plain Lanczos produces.

Checked by ``tests/deep_cg/test_spectral.py``.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import eigh_tridiagonal


def lanczos(A, m: int, v0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """m steps of Lanczos with full re-orthogonalisation.

    Parameters
    ----------
    A : sparse matrix or LinearOperator, (n, n), symmetric
    m : int
        Steps (at most n); stops early on an invariant subspace (beta ~ 0).
    v0 : ndarray (n,)
        Start vector.

    Returns
    -------
    alpha : (k,), beta : (k - 1,)
        The tridiagonal T_k (k <= m steps taken).
    V : (k, n)
        Orthonormal Lanczos vectors (rows).
    """
    n = v0.shape[0]
    m = min(int(m), n)
    V = np.zeros((m, n))
    alpha, beta = np.zeros(m), np.zeros(m)
    v = v0 / np.linalg.norm(v0)
    scale = 0.0
    for j in range(m):
        V[j] = v
        w = A @ v
        alpha[j] = v @ w
        w -= alpha[j] * v
        if j > 0:
            w -= beta[j - 1] * V[j - 1]
        for _ in range(2):  # full re-orthogonalisation, twice
            w -= V[: j + 1].T @ (V[: j + 1] @ w)
        beta[j] = np.linalg.norm(w)
        scale = max(scale, abs(alpha[j]), beta[j])
        if beta[j] <= 1e-10 * scale:  # Krylov space is invariant: T_j is exact
            return alpha[: j + 1], beta[:j], V[: j + 1]
        v = w / beta[j]
    return alpha, beta[: m - 1], V


def ritz_pairs(A, m: int, rng: np.random.Generator,
               null_tol: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """Ritz values (ascending) and vectors (n, k) of m Lanczos steps from ``A g``.

    Starting from ``A g`` (g Gaussian) puts the Krylov space in range(A), away from a
    closed domain's constant null vector; Ritz values below ``null_tol`` times the
    largest are dropped (spec 3.1, step 4).
    """
    v0 = A @ rng.standard_normal(A.shape[0])
    alpha, beta, V = lanczos(A, m, v0)
    theta, S = eigh_tridiagonal(alpha, beta)
    keep = theta > null_tol * theta.max()
    return theta[keep], V.T @ S[:, keep]


def ritz_coefficients(k: int, size: int, rng: np.random.Generator, weight: float = 9.0,
                      low_fraction: float = 0.55) -> np.ndarray:
    """Coefficients (size, k): ``weight * N(0, 1)`` on the lowest ``low_fraction * k``
    Ritz vectors, ``N(0, 1)`` on the rest (the paper: m/2 + 500 of m = 10,000)."""
    c = rng.standard_normal((size, k))
    c[:, : int(round(low_fraction * k))] *= weight
    return c


def ritz_rhs(Y: np.ndarray, size: int, rng: np.random.Generator, weight: float = 9.0,
             low_fraction: float = 0.55) -> np.ndarray:
    """``size`` unit right-hand sides (size, n) from Ritz vectors Y (n, k), ascending."""
    B = ritz_coefficients(Y.shape[1], size, rng, weight, low_fraction) @ Y.T
    return B / np.linalg.norm(B, axis=1, keepdims=True)
