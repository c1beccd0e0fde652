"""Hierarchical targets ``h = g(p(x))``, ``x ~ N(0, I_d)`` (Wang, Nichani, Lee, ICLR 2024).

- The feature ``p(x) = sum_{b=1}^{L} lam_b psi(z_{B_b})`` with ``z = Q^T x`` (Q orthogonal:
  Haar-random or the identity) and disjoint coordinate blocks ``B_b``; the pieces are
  independent, which is what makes ``p`` nearly Gaussian (spec §1.3). ``psi = h_k``
  gives ``sum_i lam_i h_k(<q_i, x>)``: for k = 2 the quadratic form ``x^T A x - tr A``
  with ``A = sum_i lam_i q_i q_i^T / sqrt(2)``, spectrum ``+-1/sqrt(2L)`` (spread:
  ``||A||_op = O(1/sqrt d)``); for k = 3 the paper's experiment. ``psi = z_1 ... z_k`` gives
  a sum of sparse parities.
- Weights: random signs with equal counts, ``lam_b = +-1/sqrt(L)``, so ``E[p] = 0``,
  ``E[p^2] = 1`` and ``sum lam_b^3 = 0`` (even L): ``h`` stays centred and every exact
  constant is the same for every draw (the theory does not depend on the seed).
- The link ``g``: a polynomial, centred and scaled *exactly* so that ``E[h] = 0`` and
  ``E[h^2] = 1`` (cumulants of p, :mod:`orthoviz.hierarchical.hermite`; spec §1.5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from numpy.polynomial import polynomial as P
from scipy.stats import ortho_group

from orthoviz.hierarchical.hermite import Atom, moments_from_cumulants, polyval

#: link families: name -> (monomial coefficients, increasing powers; a label)
LINKS = {
    "cubic": ((0.0, 0.0, 0.0, 1.0), "z^3"),
    "linear_square": ((0.0, 1.0, 1.0), "z + z^2"),
    "square": ((-1.0, 0.0, 1.0), "z^2 - 1"),
    "he3": ((0.0, -3.0, 0.0, 1.0), "z^3 - 3z"),
    "linear": ((0.0, 1.0), "z"),
}


@dataclass(frozen=True)
class Feature:
    """``p(x) = sum_b lam_b psi(z_{B_b})``, ``z = x Q`` (rows of x are samples).

    Parameters
    ----------
    atom : Atom
        ``psi`` and the degree k.
    Q : ndarray, shape (d, d)
        Orthogonal; column ``i`` is the direction ``q_i``.
    blocks : ndarray of int, shape (L, s)
        Columns of Q each block uses (disjoint).
    lam : ndarray, shape (L,)
        Weights ``lam_b``.
    """

    atom: Atom
    Q: np.ndarray
    blocks: np.ndarray
    lam: np.ndarray

    @property
    def d(self) -> int:
        return self.Q.shape[0]

    @property
    def k(self) -> int:
        return self.atom.k

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        """p on rows of X (n, d) -> (n,), in X's dtype and device."""
        Qb = torch.as_tensor(self.Q[:, self.blocks.ravel()], dtype=X.dtype, device=X.device)
        Z = (X @ Qb).reshape(X.shape[0], *self.blocks.shape)  # (n, L, s)
        lam = torch.as_tensor(self.lam, dtype=X.dtype, device=X.device)
        return self.atom(Z) @ lam

    def cumulants(self, order: int) -> np.ndarray:
        """Exact cumulants ``kappa_r(p) = sum_b lam_b^r kappa_r(psi)``, ``r = 0..order``."""
        from orthoviz.hierarchical.hermite import cumulants_from_moments

        k_psi = cumulants_from_moments(self.atom.moments(order))
        r = np.arange(order + 1)
        return k_psi * np.sum(self.lam[:, None] ** r[None, :], axis=0)

    def moments(self, order: int) -> np.ndarray:
        """Exact ``E[p^r]``, ``r = 0..order``."""
        return moments_from_cumulants(self.cumulants(order))

    def pairing(self, V: np.ndarray) -> np.ndarray:
        """``E[p(x) <v_j^{(x)k}, He_k(x)>]`` for rows ``v_j`` of V (m, d) -> (m,): the
        degree-k overlap of ``sigma(<v_j, x>)``-type units with p (exact)."""
        W = (V @ self.Q[:, self.blocks.ravel()]).reshape(V.shape[0], *self.blocks.shape)
        return self.atom.tensor_weight(W) @ self.lam


@dataclass(frozen=True)
class Target:
    """``h(x) = C (G(p(x)) - E[G(p)])``: ``link`` holds the normalised monomial
    coefficients of ``g = C (G - E G(p))``; ``raw`` those of G."""

    feature: Feature
    raw: np.ndarray
    link: np.ndarray
    name: str

    def __call__(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(p(X), h(X)), each (n,)."""
        p = self.feature(X)
        return p, polyval(self.link, p)

    @property
    def q(self) -> int:
        """Degree of g (the target has degree k q)."""
        return len(self.raw) - 1

    def stein_coefficient(self) -> float:
        """``E[g'(Z)]``, ``Z ~ N(0, 1)``, for the normalised g (the Stein factor: the
        degree-k part of h is about ``E[g'(Z)] p``; spec §1.2)."""
        from orthoviz.hierarchical.hermite import gauss_expect_shifted

        return float(gauss_expect_shifted(P.polyder(self.link), 1.0, 0.0))


def normalise_link(raw, feature: Feature) -> np.ndarray:
    """Coefficients of ``C (G - E[G(p)])`` with ``E[(G(p) - E G(p))^2] C^2 = 1``, from the
    exact moments of p up to ``2 deg G`` (spec §1.5: never Monte Carlo)."""
    raw = np.asarray(raw, dtype=float)
    m = feature.moments(2 * (len(raw) - 1))
    mean = float(raw @ m[: len(raw)])
    G = raw.copy()
    G[0] -= mean
    var = float(P.polymul(G, G) @ m[: 2 * len(raw) - 1])
    if not var > 0:
        raise ValueError("the link is constant on p")
    return G / math.sqrt(var)


def make_feature(family: str, k: int, d: int, terms: int, basis: str,
                 rng: np.random.Generator) -> Feature:
    """Draw a feature: the basis Q (Haar or identity) and the balanced signs.

    ``terms = 0`` uses as many blocks as fit (``d // s``).
    """
    atom = Atom("hermite" if family == "hermite" else "parity", k)
    L = terms or d // atom.s
    if L * atom.s > d or L < 1:
        raise ValueError(f"{L} blocks of {atom.s} coordinates do not fit in d = {d}")
    Q = ortho_group.rvs(d, random_state=rng) if basis == "haar" and d > 1 else np.eye(d)
    blocks = np.arange(L * atom.s).reshape(L, atom.s)
    signs = np.where(np.arange(L) < (L + 1) // 2, 1.0, -1.0)
    lam = rng.permutation(signs) / math.sqrt(L)
    return Feature(atom, np.asarray(Q, dtype=float), blocks, lam)


def canonical_feature(family: str, k: int, d: int, terms: int) -> Feature:
    """The seed-free representative (identity basis, signs + - + - ...): every exact
    constant of the theory is the same as for any draw of :func:`make_feature`."""
    atom = Atom("hermite" if family == "hermite" else "parity", k)
    L = terms or d // atom.s
    signs = np.where(np.arange(L) < (L + 1) // 2, 1.0, -1.0) / math.sqrt(L)
    return Feature(atom, np.eye(d), np.arange(L * atom.s).reshape(L, atom.s), signs)


def make_target(feature: Feature, g: str) -> Target:
    raw = np.asarray(LINKS[g][0], dtype=float)
    return Target(feature, raw, normalise_link(raw, feature), LINKS[g][1])


def gaussian_inputs(n: int, d: int, generator: torch.Generator, device: str,
                    dtype=torch.float32) -> torch.Tensor:
    """``x ~ N(0, I_d)``, (n, d), drawn from a CPU generator and moved to ``device`` (the
    same seed gives the same sample on the CPU and on CUDA)."""
    return torch.randn(n, d, generator=generator, dtype=dtype).to(device)
