"""Iterative solvers as generators of per-iteration records, behind a SciPy-style
``solve(A, b, method=..., tol=..., maxiter=...) -> (x, info)``.

Methods: ``cg`` (plain CG), ``jacobi`` / ``ic`` / ``amg`` (CG preconditioned by the
diagonal, by IC(0), by a pyamg smoothed-aggregation V-cycle) and ``dcdm`` (Kaneda et al.,
ICML 2023, Algorithm 1: network directions, A-orthogonalised against the last ``depth``
directions; see :mod:`orthoviz.deep_cg.dcdm`).

Why hand-written and not ``scipy.sparse.linalg.cg`` / ``pyamg.krylov.cg``: those return
only at the end (a callback sees x, not r, the direction or the timing), while the live
race and the tests need every iteration's true residual, A-norm error, search direction
and own wall time as a stream. The preconditioners themselves come from libraries
(pyamg) or are vectorised (IC(0), see :mod:`orthoviz.deep_cg.precond`);
``tests/deep_cg/test_solvers.py`` checks the iteration counts against SciPy and pyamg.

One stopping rule for every method: the **true** relative residual
``||b - A x_k|| / ||b|| <= tol``. The recursively updated residual is used between
checks (it agrees with the true one to ~1e-13 in float64); the true one is computed
every ``check_every`` iterations and whenever the recursive one reaches ``tol``, and if
they disagree the true residual replaces the recursive one and iteration goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

METHODS = ("cg", "jacobi", "ic", "amg", "dcdm")


@dataclass
class Iterate:
    """One iteration of a solver (arrays are live references: copy what you keep).

    ``residual`` is the relative residual ``||r_k|| / ||b||`` (``true_residual`` says
    whether it was recomputed as ``b - A x_k`` this iteration); ``error_a`` the relative
    A-norm error ``||x_k - x*||_A / ||x_0 - x*||_A`` when ``x*`` is known, else NaN;
    ``wall`` the solver's own seconds so far, setup included (generators of several
    solvers may interleave; each counts only its own time).
    """

    iteration: int
    residual: float
    true_residual: bool
    error_a: float
    wall: float
    x: np.ndarray
    r: np.ndarray
    p: np.ndarray | None = None
    Ap: np.ndarray | None = None
    fallback: bool = False
    converged: bool = False


@dataclass
class SolveInfo:
    """What :func:`solve` returns beside x (``residuals`` starts with iteration 0)."""

    iterations: int
    converged: bool
    residuals: list[float] = field(default_factory=list)
    wall: float = 0.0
    fallbacks: int = 0


class Clock:
    """Own-time stopwatch of one generator: counts from construction (so setup is
    included) and pauses while the generator is suspended at a ``yield``."""

    def __init__(self) -> None:
        self.total = 0.0
        self._t = time.perf_counter()

    def lap(self) -> float:
        now = time.perf_counter()
        self.total += now - self._t
        self._t = now
        return self.total

    def resume(self) -> None:
        self._t = time.perf_counter()


class Monitor:
    """Residual bookkeeping shared by every method: norms, true-residual checks with
    replacement, the A-norm error and the own-time clock."""

    def __init__(self, A, b, tol: float, x_true: np.ndarray | None, check_every: int,
                 clock: Clock | None = None):
        self.A, self.b, self.tol = A, b, float(tol)
        self.bnorm = float(np.linalg.norm(b))
        self.x_true, self.check_every = x_true, max(1, int(check_every))
        self.clock = clock or Clock()
        self.err0 = None

    def _error(self, x: np.ndarray) -> float:
        if self.x_true is None:
            return float("nan")
        e = x - self.x_true
        err = float(np.sqrt(max(e @ (self.A @ e), 0.0)))
        if self.err0 is None:
            self.err0 = err
        return err / self.err0 if self.err0 > 0 else 0.0

    def start(self, x0, maxiter: int | None) -> tuple[np.ndarray, np.ndarray, Iterate, int]:
        """(x, r, the iteration-0 record, maxiter) from the initial guess (default 0).

        ``b = 0`` has the solution 0 (SciPy's convention), whatever ``x0``.
        """
        n = self.b.shape[0]
        maxiter = 10 * n if maxiter is None else int(maxiter)  # SciPy's default
        x = np.zeros(n) if x0 is None else np.array(x0, dtype=np.float64, copy=True)
        if self.bnorm == 0.0:
            x[:] = 0.0
            return x, np.zeros(n), Iterate(0, 0.0, True, 0.0, self.clock.lap(), x,
                                           np.zeros(n), converged=True), maxiter
        r = self.b - self.A @ x
        res = float(np.linalg.norm(r)) / self.bnorm
        wall = self.clock.lap()
        it = Iterate(0, res, True, self._error(x), wall, x, r, converged=res <= self.tol)
        return x, r, it, maxiter

    def step(self, k: int, x, r, p=None, Ap=None, fallback=False,
             last: bool = False) -> tuple[np.ndarray, Iterate]:
        """The record of iteration k (``last``: the final one allowed, so the true
        residual is computed); may replace ``r`` by the true residual."""
        res = float(np.linalg.norm(r)) / self.bnorm
        true = False
        if res <= self.tol or last or k % self.check_every == 0:
            rt = self.b - self.A @ x
            res_t = float(np.linalg.norm(rt)) / self.bnorm
            if res <= self.tol < res_t:  # drift: continue from the true residual
                r[:] = rt
            res, true = res_t, True
        wall = self.clock.lap()
        it = Iterate(k, res, true, self._error(x), wall, x, r, p, Ap, fallback,
                     converged=true and res <= self.tol)
        return r, it



def begin(mon: Monitor, x0, maxiter: int | None):
    """The start every solver shares: yield iteration 0 (the initial guess), then return
    ``(mon, x, r, maxiter)`` with the solver's clock running, or None when the initial
    guess has already converged. Use as ``begun = yield from begin(...)``."""
    x, r, it, maxiter = mon.start(x0, maxiter)
    yield it
    if it.converged:
        return None
    mon.clock.resume()
    return mon, x, r, maxiter

def pcg(A, b, M: Callable[[np.ndarray], np.ndarray] | None = None, x0=None,
        tol: float = 1e-4, maxiter: int | None = None, x_true=None,
        check_every: int = 10, clock: Clock | None = None) -> Iterator[Iterate]:
    """Preconditioned CG (Saad, Iterative Methods, Algorithm 9.1) as a generator.

    ``M`` applies the inverse preconditioner (SPD), identity when None. Yields
    iteration 0 (the initial guess) and then one :class:`Iterate` per step; stops at
    convergence, at ``maxiter`` (default ``10 n``) or when ``p.Ap <= 0``
    (an indefinite matrix or an inconsistent singular system).
    """
    begun = yield from begin(Monitor(A, b, tol, x_true, check_every, clock), x0, maxiter)
    if begun is None:
        return
    mon, x, r, maxiter = begun
    z = r.copy() if M is None else M(r)
    p = z.copy()
    rz = float(r @ z)
    for k in range(1, maxiter + 1):
        Ap = A @ p                                   # 9.1 line 3
        pAp = float(p @ Ap)
        if not pAp > 0:
            return                                   # breakdown: not SPD / inconsistent
        alpha = rz / pAp
        x += alpha * p                               # line 4
        r -= alpha * Ap                              # line 5
        r, it = mon.step(k, x, r, p, Ap, last=k == maxiter)
        yield it
        if it.converged:
            return
        mon.clock.resume()
        z = r.copy() if M is None else M(r)          # line 6
        rz_new = float(r @ z)
        p = z + (rz_new / rz) * p                    # lines 7-8
        rz = rz_new


def iterate(A, b, method: str = "cg", *, x0=None, tol: float = 1e-4,
            maxiter: int | None = None, x_true=None, check_every: int = 10,
            **options) -> Iterator[Iterate]:
    """The per-iteration stream of ``method`` on ``A x = b`` (setup inside the first
    step's wall time). ``options`` go to the method: ``amg`` takes pyamg's
    ``smoothed_aggregation_solver`` keywords; ``dcdm`` takes ``direction`` (callable
    r -> q; default the packaged network for ``system``), ``system``, ``depth``,
    ``safeguard`` (see :func:`orthoviz.deep_cg.dcdm.dcdm`); ``ic`` takes ``levels``
    (wavefronts, see :class:`orthoviz.deep_cg.precond.IC0`)."""
    clock = Clock()
    A = A.tocsr() if hasattr(A, "tocsr") else A
    b = np.asarray(b, dtype=np.float64)
    common = dict(x0=x0, tol=tol, maxiter=maxiter, x_true=x_true, check_every=check_every,
                  clock=clock)
    if method == "dcdm":
        from orthoviz.deep_cg.dcdm import dcdm

        return dcdm(A, b, **options, **common)
    from orthoviz.deep_cg import precond

    if method == "cg":
        M = None
    elif method == "jacobi":
        M = precond.jacobi(A)
    elif method == "ic":
        M = precond.ic0(A, **options)
    elif method == "amg":
        M = precond.amg(A, **options)
    else:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    return pcg(A, b, M, **common)


def solve(A, b, method: str = "cg", *, x0=None, tol: float = 1e-4,
          maxiter: int | None = None, **options) -> tuple[np.ndarray, SolveInfo]:
    """Solve ``A x = b`` to a true relative residual ``tol`` (SciPy-style).

    Returns
    -------
    x : ndarray, float64
    info : SolveInfo
        ``iterations``, ``converged``, ``residuals`` (relative, from iteration 0),
        ``wall`` (seconds, setup included), ``fallbacks`` (DCDM safeguard steps).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> A = sp.diags([[-1.0] * 9, [2.0] * 10, [-1.0] * 9], [-1, 0, 1]).tocsr()
    >>> x, info = solve(A, np.ones(10), "cg", tol=1e-10)
    >>> info.converged, info.iterations <= 10, bool(np.allclose(A @ x, 1))
    (True, True, True)
    """
    from orthoviz.runtime.threads import thread_budget

    last, residuals, fallbacks = None, [], 0
    # one thread for small problems, as in a run (two were measured up to 10x slower
    # on a shared 2-core machine); vectors are on the host whatever the network's device
    with thread_budget(int(np.shape(b)[0]), "cpu"):
        for last in iterate(A, b, method, x0=x0, tol=tol, maxiter=maxiter, **options):
            residuals.append(last.residual)
            fallbacks += last.fallback
    info = SolveInfo(last.iteration, last.converged, residuals, last.wall, fallbacks)
    return last.x, info
