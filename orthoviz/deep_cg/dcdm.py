"""The deep conjugate-direction method (Kaneda et al., ICML 2023, Algorithm 1).

At step k (numbers refer to the spec's section 4 listing):

1. ``q = f(r / ||r||)``: the network's direction, restricted to the fluid cells;
2. ``q -= sum_j p_j (q . A p_j) / (p_j . A p_j)`` over the last ``depth`` directions
   (two passes of modified Gram-Schmidt in the A-inner product: "twice is enough");
3. ``alpha = (q . r) / (q . A q)``, the exact line search in the energy norm;
4. ``x += alpha q``, ``r -= alpha A q`` (the paper recomputes ``r = b - A x``; in float64
   the update agrees to ~1e-13, and the true residual is checked as for every solver).

``depth=2`` is the paper's; ``depth=None`` keeps every direction (GCR / flexible-CG-like:
x_k minimises the A-norm error over their span, so it terminates within n steps);
``depth=0`` is steepest descent along the network's direction. With q = r and depth >= 1
the iterates are CG's (the A-orthogonalised residual is CG's direction).

Safeguard: every direction with ``q . r != 0`` lowers the A-norm error by
``(q . r)^2 / (q . A q)``; a network direction that lowers it by less than ``safeguard``
times what the (equally orthogonalised) residual direction would, or that is not finite,
is replaced by the latter: a CG step.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

import numpy as np
import torch

from orthoviz.deep_cg.model import flag_channels, network_input
from orthoviz.deep_cg.solvers import Clock, Iterate, Monitor, begin

Direction = Callable[[np.ndarray], np.ndarray]


def identity_direction(r: np.ndarray) -> np.ndarray:
    """The "identity network": q = r (DCDM then reproduces CG)."""
    return r.copy()


class NetworkDirection:
    """A trained network as a direction generator on one system's grid.

    Scatters ``r / ||r||`` onto the full grid (zeros outside the fluid), adds the flag
    channels for a geometry-aware network, runs the network in float32 (or ``dtype``)
    without gradients, and gathers the fluid cells back in float64.
    """

    def __init__(self, model: torch.nn.Module, system, device: str = "cpu",
                 dtype: torch.dtype = torch.float32):
        self.model = model.to(device=device, dtype=dtype).eval()
        self.system, self.device, self.dtype = system, device, dtype
        self._fluid = torch.as_tensor(system.fluid, device=device)
        self._geometry = None
        if getattr(model, "in_channels", 1) == 3:
            self._geometry = flag_channels(system.flags).to(device=device, dtype=dtype)
        self.calls = 0

    @torch.no_grad()
    def __call__(self, r: np.ndarray) -> np.ndarray:
        self.calls += 1
        grid = torch.zeros(self.system.shape, device=self.device, dtype=self.dtype)
        grid[self._fluid] = torch.as_tensor(r / np.linalg.norm(r), device=self.device,
                                            dtype=self.dtype)
        out = self.model(network_input(grid[None, None], self._geometry))[0, 0]
        return out[self._fluid].double().cpu().numpy()


def _orthogonalise(q: np.ndarray, window, passes: int = 2) -> np.ndarray:
    for _ in range(passes):
        for p, Ap, pAp in window:
            q -= ((q @ Ap) / pAp) * p
    return q


def _gain(q: np.ndarray, Aq: np.ndarray, r: np.ndarray) -> float:
    """Drop of the squared A-norm error along q with the exact step: (q.r)^2 / q.Aq."""
    qAq = float(q @ Aq)
    return float(q @ r) ** 2 / qAq if qAq > 0 and np.isfinite(qAq) else -1.0


def dcdm(A, b, direction: Direction | None = None, system=None, depth: int | None = 2,
         safeguard: float = 1e-3, x0=None, tol: float = 1e-4, maxiter: int | None = None,
         x_true=None, check_every: int = 10, clock: Clock | None = None,
         device: str = "cpu", network: str = "packaged:dcdm2d") -> Iterator[Iterate]:
    """DCDM as a generator of :class:`~orthoviz.deep_cg.solvers.Iterate`.

    Parameters
    ----------
    A, b : sparse matrix (n, n), ndarray (n,)
    direction : callable r -> q, optional
        Default: the network ``network`` (a packaged name or a weights path, see
        :func:`orthoviz.deep_cg.weights.load_network`) on ``system``'s grid.
    system : PoissonSystem, optional
        Needed for the default direction (the grid and flags).
    depth : int or None
        Directions kept for A-orthogonalisation (None: all).
    safeguard : float
        Fallback threshold on the error drop relative to the residual direction
        (0 turns the check, and its extra mat-vec, off).
    """
    clock = clock or Clock()
    if direction is None:
        if system is None:
            raise ValueError("dcdm needs a direction callable or a system for its network")
        from orthoviz.deep_cg.weights import load_network

        direction = NetworkDirection(load_network(network, dim=len(system.shape)), system,
                                     device=device)
    begun = yield from begin(Monitor(A, b, tol, x_true, check_every, clock), x0, maxiter)
    if begun is None:
        return
    mon, x, r, maxiter = begun
    window: deque = deque(maxlen=depth)  # (p, A p, p.A p) of the kept directions
    for k in range(1, maxiter + 1):
        q = _orthogonalise(np.asarray(direction(r), dtype=np.float64), window)  # 1-2
        Aq = A @ q
        fallback = False
        if safeguard > 0 or not np.isfinite(q).all():
            s = _orthogonalise(r.copy(), window)
            As = A @ s
            if not _gain(q, Aq, r) >= safeguard * _gain(s, As, r):
                q, Aq, fallback = s, As, True
        qAq = float(q @ Aq)
        if not (qAq > 0 and np.isfinite(qAq)):
            return                                               # breakdown
        alpha = float(q @ r) / qAq                               # 3
        x += alpha * q                                           # 4
        r -= alpha * Aq
        if depth != 0:
            window.append((q, Aq, qAq))
        r, it = mon.step(k, x, r, q, Aq, fallback, last=k == maxiter)
        yield it
        if it.converged:
            return
        mon.clock.resume()
