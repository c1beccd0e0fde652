"""Pressure-Poisson systems on flagged grids: assembly, right-hand sides, projection.

The discrete pressure equation of an incompressible-flow projection (Kaneda et al.,
ICML 2023, section 2; spec section 1.2), scaled so that A is an integer M-matrix: for a
FLUID cell i and each of its 2d axis neighbours j,

- j FLUID: ``A_ii += 1`` and ``A_ij = -1``;
- j AIR (Dirichlet p = 0): ``A_ii += 1`` only;
- j SOLID or outside the grid (Neumann): nothing.

Only FLUID cells are unknowns (the compressed matrix plus an index map, not the
authors' full-size matrix with zero rows). A is symmetric positive semidefinite, and
definite when the fluid touches AIR; a closed domain has the constant as null space and
needs a right-hand side of zero mean (the consistency projection).

Checked by ``tests/deep_cg/test_systems.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp
from scipy import ndimage

from orthoviz.deep_cg.flags import AIR, FLUID, SOLID, make_flags

RHS_KINDS = ("plume", "noise", "known", "smoke")


def neighbour(padded: np.ndarray, axis: int, sign: int) -> np.ndarray:
    """View of a one-cell-padded array, aligned so that entry c holds the value of the
    neighbour ``c + sign * e_axis`` of interior cell c."""
    sl = [slice(1, -1)] * padded.ndim
    sl[axis] = slice(1 + sign, padded.shape[axis] - 1 + sign)
    return padded[tuple(sl)]


def assemble(flags: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """Compressed fluid-only matrix and index map, vectorised over axes and signs.

    Returns
    -------
    A : scipy.sparse.csr_matrix, shape (n, n), float64
        n = number of FLUID cells, in C (raster) order of the grid.
    index : ndarray of int64, shape ``flags.shape``
        Unknown number of each FLUID cell, -1 elsewhere.
    """
    fluid = flags == FLUID
    n = int(fluid.sum())
    if n == 0:
        raise ValueError("the domain has no fluid cells")
    index = np.full(flags.shape, -1, np.int64)
    index[fluid] = np.arange(n)
    pflags = np.pad(flags, 1, constant_values=SOLID)  # outside the box: a wall
    pindex = np.pad(index, 1, constant_values=-1)
    diag = np.zeros(flags.shape, np.float64)
    rows, cols = [], []
    for axis in range(flags.ndim):
        for sign in (-1, 1):
            nb = neighbour(pflags, axis, sign)
            diag += nb != SOLID  # FLUID and AIR faces are open
            pair = fluid & (nb == FLUID)
            rows.append(index[pair])
            cols.append(neighbour(pindex, axis, sign)[pair])
    rows.append(np.arange(n))
    cols.append(np.arange(n))
    r, c = np.concatenate(rows), np.concatenate(cols)
    vals = np.concatenate([-np.ones(r.size - n), diag[fluid]])
    A = sp.csr_matrix((vals, (r, c)), shape=(n, n))
    A.sort_indices()
    return A, index


@dataclass(frozen=True, eq=False)
class PoissonSystem:
    """One pressure-Poisson system ``A p = b`` on a flagged grid.

    Attributes
    ----------
    flags : ndarray of int8, grid shape
        ``SOLID`` / ``FLUID`` / ``AIR`` per cell (see :mod:`orthoviz.deep_cg.flags`).
    A : scipy.sparse.csr_matrix, shape (n, n)
        Compressed matrix over the FLUID cells.
    index : ndarray of int64, grid shape
        Unknown number per FLUID cell, -1 elsewhere.
    domain, seed : str, int
        What built the flags.
    """

    flags: np.ndarray
    A: sp.csr_matrix
    index: np.ndarray
    domain: str = "custom"
    seed: int = 0

    @property
    def shape(self) -> tuple[int, ...]:
        return self.flags.shape

    @property
    def n(self) -> int:
        return self.A.shape[0]

    @cached_property
    def fluid(self) -> np.ndarray:
        return self.flags == FLUID

    @cached_property
    def closed_components(self) -> list[np.ndarray]:
        """Unknown numbers of each connected fluid region that touches no AIR: each
        one's indicator vector spans a null direction of A."""
        labels, count = ndimage.label(self.fluid)
        padded_air = np.pad(self.flags == AIR, 1)
        near_air = np.zeros(self.shape, bool)
        for axis in range(self.flags.ndim):
            for sign in (-1, 1):
                near_air |= neighbour(padded_air, axis, sign)
        out = []
        for k in range(1, count + 1):
            cells = labels == k
            if not (near_air & cells).any():
                out.append(self.index[cells])
        return out

    @property
    def singular(self) -> bool:
        return bool(self.closed_components)

    def null_space(self) -> np.ndarray:
        """Orthonormal basis (n, k) of the null space: normalised region indicators."""
        Z = np.zeros((self.n, len(self.closed_components)))
        for j, idx in enumerate(self.closed_components):
            Z[idx, j] = 1.0 / np.sqrt(idx.size)
        return Z

    def project(self, b: np.ndarray) -> np.ndarray:
        """Consistent right-hand side: the mean of ``b`` removed over every closed
        region, i.e. the orthogonal projection onto range(A)."""
        b = np.array(b, dtype=np.float64, copy=True)
        for idx in self.closed_components:
            b[idx] -= b[idx].mean()
        return b

    def scatter(self, x: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """Vector over unknowns -> grid field (``fill`` outside the fluid)."""
        g = np.full(self.shape, fill, dtype=np.result_type(x, np.float64))
        g[self.fluid] = x
        return g

    def gather(self, grid: np.ndarray) -> np.ndarray:
        """Grid field -> vector over unknowns."""
        return np.asarray(grid)[self.fluid]

    # -- right-hand sides ---------------------------------------------------------
    def known_solution(self, seed: int = 0) -> np.ndarray:
        """A smooth random pressure field (Gaussian-filtered noise, unit RMS)."""
        rng = np.random.default_rng(seed)
        field = ndimage.gaussian_filter(rng.standard_normal(self.shape),
                                        sigma=max(1.0, min(self.shape) / 12))
        x = self.gather(field)
        return x / (np.sqrt(np.mean(x**2)) + 1e-300)

    def rhs(self, kind: str = "plume", seed: int = 0) -> np.ndarray:
        """A consistent right-hand side over the unknowns.

        ``plume``: three signed Gaussian blobs (widths 0.03-0.08 of the box) in the lower
        third plus 5 % white noise (spec 1.4, 3a), the divergence of a rising plume.
        ``noise``: white noise. ``known``: ``A @ known_solution(seed)``. ``smoke``
        (2-D): ``-div u*`` of the 8th frame of a small smoke simulation in this domain
        (:mod:`orthoviz.deep_cg.smoke`). Every kind is projected onto range(A) (zero mean
        per closed region); the scale is irrelevant for relative-tolerance stopping.
        """
        rng = np.random.default_rng(seed)
        if kind == "known":
            return self.A @ self.known_solution(seed)
        if kind == "smoke":
            from orthoviz.deep_cg.smoke import smoke_frames

            *_, b = smoke_frames(self, frames=8, seed=seed)
            return b
        if kind == "noise":
            return self.project(rng.standard_normal(self.n))
        if kind != "plume":
            raise ValueError(f"kind must be one of {', '.join(RHS_KINDS)}, got {kind!r}")
        d = self.flags.ndim
        centres = [(c + 0.5) / s for c, s in zip(np.indices(self.shape), self.shape,
                                                   strict=True)]
        field = np.zeros(self.shape)
        for _ in range(3):
            mu = np.concatenate([[rng.uniform(0.05, 0.33)], rng.uniform(0.2, 0.8, d - 1)])
            width = rng.uniform(0.03, 0.08)
            r2 = sum((c - m) ** 2 for c, m in zip(centres, mu, strict=True))
            field += rng.choice([-1.0, 1.0]) * np.exp(-r2 / (2 * width**2))
        field += 0.05 * np.abs(field).max() * rng.standard_normal(self.shape)
        return self.project(self.gather(field))

    # -- torch ----------------------------------------------------------------------
    def stencil(self, device: str = "cpu", dtype=None):
        """The matrix-free operator on full grids (see :class:`StencilOperator`)."""
        from orthoviz.deep_cg.stencil import StencilOperator

        return StencilOperator(self.flags, device=device, dtype=dtype)


def poisson_system(shape: tuple[int, ...], domain: str = "box", seed: int = 0) -> PoissonSystem:
    """The pressure-Poisson system of a test domain.

    Parameters
    ----------
    shape : tuple of int
        ``(N, N)`` or ``(N, N, N)`` (any sizes); axis 0 is the height.
    domain : str
        One of :data:`orthoviz.deep_cg.flags.DOMAINS`.
    seed : int
        Seed of the random domains.

    Examples
    --------
    >>> s = poisson_system((16, 16), "box")
    >>> s.n, s.singular, float(abs(s.A @ np.ones(s.n)).max())
    (256, True, 0.0)
    """
    flags = make_flags(shape, domain, seed)
    A, index = assemble(flags)
    return PoissonSystem(flags=flags, A=A, index=index, domain=domain, seed=seed)


def from_flags(flags: np.ndarray) -> PoissonSystem:
    """A system for hand-made flags (e.g. from a simulation frame)."""
    flags = np.asarray(flags, np.int8)
    A, index = assemble(flags)
    return PoissonSystem(flags=flags, A=A, index=index)
