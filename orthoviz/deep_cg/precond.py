"""Classical preconditioners for the CG baselines: Jacobi, IC(0), smoothed-aggregation AMG.

Each factory does its setup now (so a solver's first wall-time lap includes it) and
returns a function ``r -> M^{-1} r``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

Apply = Callable[[np.ndarray], np.ndarray]


def jacobi(A) -> Apply:
    """Diagonal scaling; a zero diagonal entry (an isolated unknown) is left alone."""
    d = A.diagonal()
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d > 0)
    return lambda r: inv * r


def wavefronts(L: sp.csr_matrix) -> np.ndarray:
    """Level of every row of a strictly lower-triangular pattern: 0 without lower
    neighbours, else 1 + the largest level among them. Rows of one level do not depend
    on each other, so the IC(0) recurrence runs one vectorised step per level.

    Generic but O(depth * nnz); callers that know the grid pass its levels instead (in
    raster order the sum of a cell's grid coordinates is a valid level).
    """
    P = (L != 0).astype(np.float64).tocsr()
    level = np.zeros(L.shape[0])
    while True:
        # max over lower neighbours of (level + 1), via a max-plus product on the pattern
        rows = np.repeat(np.arange(P.shape[0]), np.diff(P.indptr))
        cand = np.zeros(P.shape[0])
        np.maximum.at(cand, rows, level[P.indices] + 1)
        if np.array_equal(cand, level):
            return level.astype(np.int64)
        level = cand


class IC0:
    """Incomplete Cholesky with zero fill, ``M = (D + L) D^{-1} (D + L^T)``.

    L is the strictly lower part of A. For matrices whose graph has no triangles (the
    5- and 7-point stencils here: grid graphs are bipartite) the no-fill factor keeps
    A's off-diagonal entries and only the pivots change,
    ``d_i = a_ii - sum_{k < i, a_ik != 0} a_ik^2 / d_k`` (Bridson, *Fluid Simulation for
    Computer Graphics*, section 5.2; Meijerink and van der Vorst 1977); for other
    matrices this is the diagonal-IC (DIC) variant of the same formula.

    Hand-written because neither SciPy nor pyamg ships an incomplete Cholesky. The
    pivot recurrence runs by wavefronts (vectorised per level); the two triangular
    solves of every application use pyamg's compiled Gauss-Seidel sweep, which on a
    triangular matrix from a zero start *is* forward (backward) substitution.
    """

    def __init__(self, A, levels: np.ndarray | None = None):
        from pyamg.relaxation.relaxation import gauss_seidel

        self._gs = gauss_seidel
        A = sp.csr_matrix(A)
        L = sp.tril(A, k=-1, format="csr")
        levels = wavefronts(L) if levels is None else np.asarray(levels, np.int64)
        diag = A.diagonal().astype(np.float64)
        order = np.argsort(levels, kind="stable")
        bounds = np.searchsorted(levels[order], np.arange(levels.max() + 2))
        L2 = L.multiply(L).tocsr()[order]
        inv_d = np.zeros_like(diag)
        d = np.empty_like(diag)
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            rows = order[lo:hi]
            piv = diag[rows] - L2[lo:hi] @ inv_d
            # a singular (closed-domain) matrix can leave a ~0 last pivot: keep it positive
            piv = np.maximum(piv, 1e-12 * np.maximum(diag[rows], 1.0))
            d[rows] = piv
            inv_d[rows] = 1.0 / piv
        self.d = d
        D = sp.diags(d, format="csr")
        self.lower = (D + L).tocsr()
        self.upper = (D + L.T).tocsr()
        self.lower.sort_indices()
        self.upper.sort_indices()

    def __call__(self, r: np.ndarray) -> np.ndarray:
        w = np.zeros_like(r)
        self._gs(self.lower, w, r, iterations=1, sweep="forward")     # (D + L) w = r
        z = np.zeros_like(r)
        self._gs(self.upper, z, self.d * w, iterations=1, sweep="backward")  # (D+L^T) z = D w
        return z


def ic0(A, levels: np.ndarray | None = None) -> Apply:
    """IC(0) preconditioner (see :class:`IC0`)."""
    return IC0(A, levels)


#: pyamg's defaults except the prolongation smoother's weight: pyamg's default estimates
#: a spectral radius from ``np.random.rand`` (the global RNG: runs would not repeat, and
#: the global state would move); the row-wise Gershgorin weight is deterministic
AMG_OPTIONS = {"smooth": ("jacobi", {"omega": 4.0 / 3.0, "weighting": "local"})}


def amg_hierarchy(A, **options):
    """pyamg's smoothed-aggregation hierarchy with :data:`AMG_OPTIONS` (overridable)."""
    import pyamg

    return pyamg.smoothed_aggregation_solver(A, **{**AMG_OPTIONS, **options})


def amg(A, **options) -> Apply:
    """One V-cycle of the smoothed-aggregation hierarchy (built now) per application.

    ``options`` go to :func:`pyamg.smoothed_aggregation_solver`; the near-null space
    defaults to the constant, which is also the null space of a closed domain.
    """
    ml = amg_hierarchy(A, **options)
    M = ml.aspreconditioner(cycle="V")
    return M.matvec
