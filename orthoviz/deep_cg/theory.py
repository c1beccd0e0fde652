"""What is known before any solve: spectra and the CG convergence bound.

- The closed box is the Neumann Laplacian, whose eigenvalues are known in closed form:
  ``sum_a 4 sin^2(pi i_a / (2 N_a))`` over the grid axes (the cosine transform
  diagonalises it). Its smallest nonzero one is ~2.4e-3 at 64^2 (spec 5.3, step 2).
- CG's A-norm error obeys ``||e_k||_A <= 2 ((sqrt(kappa) - 1)/(sqrt(kappa) + 1))^k
  ||e_0||_A`` (Saad, Iterative Methods, Theorem 6.29), kappa the ratio of the extreme
  nonzero eigenvalues (on range(A) for a closed domain), so CG needs about
  ``sqrt(kappa)/2 ln(2/tol)`` iterations: O(N) on an N^d grid, since kappa ~ N^2.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse.linalg as spla


def box_spectrum(shape: tuple[int, ...]) -> np.ndarray:
    """Eigenvalues (ascending) of the closed box's matrix on a grid ``shape``."""
    total = np.zeros(())
    for n in shape:
        k = 4 * np.sin(np.pi * np.arange(n) / (2 * n)) ** 2
        total = np.add.outer(total, k)
    return np.sort(total.ravel())


def extreme_eigenvalues(system) -> tuple[float, float]:
    """(smallest nonzero, largest) eigenvalue of a system's matrix.

    Dense below 1,500 unknowns. Above, the low end by LOBPCG preconditioned with a
    smoothed-aggregation V-cycle and constrained to range(A) (seconds at 512^2, where
    shift-invert ARPACK took 20 s), the high end by Gershgorin's bound ``2 max A_ii``
    (within 1e-3 of the truth on these grids, e.g. 7.9988 vs 8 at 256^2).
    """
    A = system.A
    if system.n <= 1500:
        lam = np.linalg.eigvalsh(A.toarray())
        return float(lam[len(system.closed_components)]), float(lam[-1])
    from orthoviz.deep_cg.precond import amg_hierarchy

    M = amg_hierarchy(A).aspreconditioner()
    X = np.random.default_rng(0).standard_normal((system.n, 1))
    Y = system.null_space() if system.singular else None
    lam = spla.lobpcg(A, X, M=M, Y=Y, largest=False, tol=1e-5, maxiter=60)[0]
    return float(lam[0]), float(2 * A.diagonal().max())


def cg_error_bound(kappa: float, iterations: np.ndarray) -> np.ndarray:
    """``2 rho^k`` with ``rho = (sqrt(kappa) - 1)/(sqrt(kappa) + 1)``, capped at 1."""
    s = np.sqrt(kappa)
    rho = (s - 1) / (s + 1)
    return np.minimum(1.0, 2.0 * rho ** np.asarray(iterations, dtype=np.float64))


def cg_iterations_bound(kappa: float, tol: float) -> int:
    """Iterations after which the bound guarantees an A-norm error reduction ``tol``."""
    s = np.sqrt(kappa)
    return int(np.ceil(np.log(2.0 / tol) / -np.log((s - 1) / (s + 1))))
