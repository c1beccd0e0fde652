"""Exact Hermite algebra for Gaussian targets (probabilists' convention, normalised).

``h_j = He_j / sqrt(j!)`` with ``He_{j+1} = z He_j - j He_{j-1}``, so that
``E[h_i(Z) h_j(Z)] = delta_ij`` for ``Z ~ N(0, 1)`` (spec §1.1, pitfall §7.1). Gaussian
expectations of polynomials are computed with Gauss-Hermite quadrature
(``numpy.polynomial.hermite_e.hermegauss``), which is exact for polynomials of degree
``<= 2 * nodes - 1`` in each coordinate: every constant here is exact up to float64
rounding, never a Monte Carlo estimate.

A *block atom* is the building piece ``psi`` of a feature ``p = sum_b lam_b psi(z_{B_b})``
(spec §1.3): ``h_k(z)`` on one coordinate (orthogonally decomposable tensors, k = 2 is
the quadratic form ``x^T A x - tr A``) or ``z_1 ... z_k`` on k coordinates (sparse
parities). Checked by ``tests/hierarchical/test_hermite.py``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.polynomial import hermite_e as He


def hermite_coeffs(j: int) -> np.ndarray:
    """Monomial coefficients (increasing powers) of the normalised ``h_j``."""
    c = np.zeros(j + 1)
    c[j] = 1.0 / math.sqrt(math.factorial(j))
    return He.herme2poly(c)


def hermite(j: int, z):
    """``h_j(z)`` for an array ``z`` (numpy or torch; Horner in monomials)."""
    return polyval(hermite_coeffs(j), z)


def polyval(coeffs, z):
    """Evaluate ``sum_i coeffs[i] z^i`` (Horner, zero coefficients skipped: h_2 and z^3
    cost three passes over z); numpy arrays and torch tensors (autograd-safe: the
    in-place additions act on products whose backward does not need them)."""
    c = [float(x) for x in coeffs]
    while len(c) > 1 and c[-1] == 0.0:
        c.pop()
    if len(c) == 1:
        return z * 0.0 + c[0]
    out = z * c[-1]
    for j in range(len(c) - 2, -1, -1):
        if c[j] != 0.0:
            out += c[j]
        if j:
            out = out * z
    return out


@lru_cache(maxsize=64)
def gauss_rule(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of ``E[f(Z)] = sum_i w_i f(z_i)``, ``Z ~ N(0, 1)`` (weights sum
    to 1; ``hermegauss`` weights are for ``exp(-z^2/2)`` and sum to ``sqrt(2 pi)``)."""
    z, w = He.hermegauss(nodes)
    return z, w / math.sqrt(2.0 * math.pi)


def gauss_grid(dims: int, degree: int) -> tuple[np.ndarray, np.ndarray]:
    """Tensor-product rule on ``N(0, I_dims)`` exact for polynomials of degree
    ``<= degree`` in each coordinate: points (N, dims) and weights (N,)."""
    z, w = gauss_rule(degree // 2 + 1)
    pts = np.stack(np.meshgrid(*([z] * dims), indexing="ij"), -1).reshape(-1, dims)
    wts = np.prod(np.stack(np.meshgrid(*([w] * dims), indexing="ij"), -1).reshape(-1, dims),
                  axis=1)
    return pts, wts


def gauss_expect_shifted(coeffs, scale, shift) -> np.ndarray:
    """``E[q(scale Z + shift)]`` for a polynomial ``q``, vectorised over (scale, shift)."""
    z, w = gauss_rule(max(len(coeffs) // 2 + 1, 1))
    scale, shift = np.asarray(scale, dtype=float), np.asarray(shift, dtype=float)
    return polyval(coeffs, scale[..., None] * z + shift[..., None]) @ w


def cumulants_from_moments(m: np.ndarray) -> np.ndarray:
    """``kappa_n = m_n - sum_{j<n} C(n-1, j-1) kappa_j m_{n-j}``; ``m[0] = 1``."""
    kappa = np.zeros_like(m, dtype=float)
    for n in range(1, len(m)):
        kappa[n] = m[n] - sum(math.comb(n - 1, j - 1) * kappa[j] * m[n - j]
                              for j in range(1, n))
    return kappa


def moments_from_cumulants(kappa: np.ndarray) -> np.ndarray:
    """Inverse of :func:`cumulants_from_moments` (``kappa[0]`` is ignored)."""
    m = np.zeros_like(kappa, dtype=float)
    m[0] = 1.0
    for n in range(1, len(kappa)):
        m[n] = sum(math.comb(n - 1, j - 1) * kappa[j] * m[n - j] for j in range(1, n + 1))
    return m


def multi_indices(dims: int, degree: int) -> list[tuple[int, ...]]:
    """All multi-indices ``alpha`` in ``dims`` variables with ``|alpha| = degree``."""
    return [a for a in itertools.product(range(degree + 1), repeat=dims) if sum(a) == degree]


def hermite_product(alpha: tuple[int, ...], Z: np.ndarray) -> np.ndarray:
    """``prod_l h_{alpha_l}(Z[:, l])``: the orthonormal Hermite basis of ``N(0, I)``."""
    out = np.ones(Z.shape[0])
    for col, a in enumerate(alpha):
        if a:
            out = out * hermite(a, Z[:, col])
    return out


@dataclass(frozen=True)
class Atom:
    """The block function ``psi``: ``"hermite"`` is ``h_k(z_1)`` (s = 1 coordinate),
    ``"parity"`` is ``z_1 ... z_k`` (s = k coordinates). Both have mean 0, variance 1
    and are homogeneous of Hermite degree k."""

    kind: str
    k: int

    @property
    def s(self) -> int:
        """Coordinates a block uses."""
        return 1 if self.kind == "hermite" else self.k

    @property
    def coord_degree(self) -> int:
        """Polynomial degree of ``psi`` in each of its coordinates."""
        return self.k if self.kind == "hermite" else 1

    def __call__(self, Z):
        """``psi`` on block coordinates ``Z`` (..., s); numpy or torch."""
        if self.kind == "hermite":
            return hermite(self.k, Z[..., 0])
        out = Z[..., 0]
        for col in range(1, self.s):
            out = out * Z[..., col]
        return out

    def _grid(self, power: int):
        return gauss_grid(self.s, power * self.coord_degree + self.k)

    def moments(self, order: int) -> np.ndarray:
        """``E[psi^r]`` for ``r = 0..order`` (exact)."""
        return _atom_moments(self, order)

    def projection_grams(self, q: int) -> np.ndarray:
        """``G[j, m, m'] = <P_j psi^m, P_j psi^m'>`` for Hermite degrees ``j = 0..k`` and
        powers ``m, m' = 0..q`` (exact): the degree-j energy of any polynomial in psi."""
        return _atom_grams(self, q)

    def tensor_weight(self, W):
        """``E[psi(z_B) <v^{(x)k}, He_k(x)>]`` from the block projections ``W[..., l] =
        <v, q_{B,l}>`` (numpy or torch): ``sqrt(k!) W^k`` for ``h_k``, ``k! prod W`` for a
        parity (the degree-k Hermite tensor pairing, ``E[<T,He_k><S,He_k>] = k! <T,S>``)."""
        if self.kind == "hermite":
            return math.sqrt(math.factorial(self.k)) * W[..., 0] ** self.k
        return math.factorial(self.k) * self(W)


@lru_cache(maxsize=32)
def _atom_moments(atom: Atom, order: int) -> np.ndarray:
    pts, wts = atom._grid(order)
    vals = atom(pts)
    return np.array([wts @ vals**r for r in range(order + 1)])


@lru_cache(maxsize=32)
def _atom_grams(atom: Atom, q: int) -> np.ndarray:
    pts, wts = atom._grid(q)
    vals = atom(pts)
    powers = np.stack([vals**m for m in range(q + 1)])  # (q+1, N)
    G = np.zeros((atom.k + 1, q + 1, q + 1))
    for j in range(atom.k + 1):
        # coefficients of every power of psi on the degree-j basis: (q+1, n_alpha)
        C = np.stack([powers @ (wts * hermite_product(a, pts))
                      for a in multi_indices(atom.s, j)], axis=1)
        G[j] = C @ C.T
    return G
