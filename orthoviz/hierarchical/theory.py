"""What the theory predicts for ``h = g(p)`` (Wang, Nichani, Lee, ICLR 2024), exactly.

- **Approximate Stein lemma** (spec §4.4): the degree-k Hermite part of h is close to
  ``E[g'(Z)] p``. Here the degree-j energies ``||P_j h||^2`` (j <= k) and the overlap
  ``<P_k h, p>`` are computed *exactly* for the block-separable features of
  :mod:`orthoviz.hierarchical.data`: conditioning on one block, ``E[h | z_B]`` is a
  polynomial in ``psi(z_B)`` whose coefficients are moments of the other blocks (from
  cumulants), and the degree-j energy of ``psi^m`` is a fixed Gram matrix.
  Cross-block terms of degree <= k vanish by parity (a block contributes degree >= 2 to
  any nonzero mixed term, except ``h_3^m z`` which needs ``m >= 3`` and so
  ``deg g >= 5``; see :func:`exact_projection_ok`), so the sum over blocks is exact.
- **Layerwise limits**: stage 1 is ridge regression on ``sigma1(<v_j, x>)`` features; with
  enough samples and units it returns the projection of h on the Hermite degrees of
  ``sigma1``. Hence the cap on ``feature_corr``, the stage-1 loss floor and, for any
  method limited to degree <= k (a kernel with ``n << d^{k+1}``), the kernel plateau.
- **Scales**: ``d^k`` samples for the three-layer network, ``d^{kq}`` for kernels.

Checked by ``tests/hierarchical/test_theory.py`` (against full-dimensional quadrature,
Monte Carlo and the spec's tables).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.polynomial import polynomial as P

from orthoviz.hierarchical.data import Target
from orthoviz.hierarchical.hermite import (
    cumulants_from_moments,
    gauss_expect_shifted,
    hermite_coeffs,
    moments_from_cumulants,
)


def exact_projection_ok(kind: str, k: int, q: int) -> bool:
    """True when mixed-block Hermite terms of degree <= k vanish, so that
    :func:`degree_energies` is exact: always for k = 2 and for parities; for
    ``h_3`` atoms when ``deg g <= 4``."""
    return not (kind == "hermite" and k >= 3 and q > 4)


def degree_energies(target: Target) -> dict:
    """Exact ``||P_j h||^2`` for ``j = 0..k`` and ``<P_k h, p>``.

    Returns
    -------
    dict
        ``energy`` (k+1,) with ``energy[0] = E[h]^2 = 0``; ``inner`` = ``<P_k h, p>``;
        ``norm_p`` = ``||p||`` (1 by construction).
    """
    feat, G = target.feature, target.link
    atom, q = feat.atom, len(G) - 1
    if not exact_projection_ok(atom.kind, atom.k, q):
        raise ValueError(f"degree_energies is exact only for deg g <= 4 with {atom.kind} "
                         f"k = {atom.k} (got {q})")
    kappa_p = feat.cumulants(q)
    kappa_psi = cumulants_from_moments(atom.moments(q))
    grams = atom.projection_grams(q)  # (k+1, q+1, q+1)
    m_psi = atom.moments(q + 1)
    r = np.arange(q + 1)
    binom = np.array([[math.comb(n, m) for n in range(q + 1)] for m in range(q + 1)])
    energy, inner = np.zeros(atom.k + 1), 0.0
    values, counts = np.unique(feat.lam, return_counts=True)
    for lam, count in zip(values, counts, strict=True):
        # R = p - lam psi: independent of the block; its moments from cumulants
        m_R = moments_from_cumulants(kappa_p - lam**r * kappa_psi)
        # E[G(lam psi + R) | psi] = sum_m beta_m psi^m
        beta = np.array([lam**m * sum(G[n] * binom[m, n] * m_R[n - m]
                                      for n in range(m, q + 1)) for m in range(q + 1)])
        for j in range(1, atom.k + 1):
            energy[j] += count * beta @ grams[j] @ beta
        inner += count * lam * beta @ m_psi[1: q + 2]
    norm_p = math.sqrt(float(feat.moments(2)[2]))
    return {"energy": energy, "inner": float(inner), "norm_p": norm_p}


def sigma1_degrees(sigma1: np.ndarray, k: int) -> list[int]:
    """Hermite degrees (1..k) present in ``sigma1(Z)``: the degrees that layerwise
    stage 1 (unit-norm ``v_j``, ``s = 0``) can fit."""
    out = []
    for j in range(1, k + 1):
        c = gauss_expect_shifted(P.polymul(sigma1, hermite_coeffs(j)), 1.0, 0.0)
        if abs(c) > 1e-12:
            out.append(j)
    return out


def layerwise_limits(target: Target, sigma1: np.ndarray) -> dict:
    """Large-n limits of Algorithm 1's stage 1 (f -> projection of h on the degrees of
    sigma1) and the Stein quantities; keys are run metric names.

    - ``feature_corr``: ``corr(f, p) -> <P_k h, p> / ||P_D h||`` (D: degrees of sigma1);
    - ``hermite_corr``: ``<P_k h, p> / ||P_k h||`` (the Stein cap, spec §7.3);
    - ``stein_error``: ``||P_k h - E[g'(Z)] p||`` (relative to ``||h|| = 1``);
    - ``stage1_test_loss``: ``1 - ||P_D h||^2``.
    """
    k = target.feature.k
    E = degree_energies(target)
    D = sigma1_degrees(sigma1, k)
    tiny = 1e-12  # energies below this are float64 rounding of an exact zero
    fit = sum(E["energy"][j] for j in D)
    c = target.stein_coefficient()
    ek = E["energy"][k]
    bias_sq = max(ek - 2 * c * E["inner"] + c * c, 0.0)
    return {
        "feature_corr": abs(E["inner"]) / math.sqrt(fit) if fit > tiny else 0.0,
        "hermite_corr": abs(E["inner"]) / math.sqrt(ek) if ek > tiny else 0.0,
        "stein_error": math.sqrt(bias_sq),
        "stage1_test_loss": float(1.0 - fit),
    }


def kernel_plateau(target: Target) -> float:
    """``1 - ||P_{<=k} h||^2``: the test loss no method limited to Hermite degree <= k
    can beat (a rotation-invariant kernel for ``d^k << n << d^{k+1}``; spec §4.3)."""
    return 1.0 - float(np.sum(degree_energies(target)["energy"]))


def scales(d: int, k: int, q: int) -> dict:
    """Sample-size scales: ``d^k`` (three-layer, Theorem 1) and ``d^{kq}`` (kernels)."""
    return {"three_layer": float(d) ** k, "kernel": float(d) ** (k * q)}


def fourth_moment(target: Target) -> float:
    """``E[h^4]`` exactly (moments of p up to ``4 deg g``): the heavy-tail factor."""
    G = target.link
    G4 = P.polymul(P.polymul(G, G), P.polymul(G, G))
    return float(G4 @ target.feature.moments(len(G4) - 1))


def test_mse_relative_se(target: Target, test_size: int) -> float:
    """Relative standard error of a test MSE on ``test_size`` fresh points for the null
    predictor: ``sqrt((E[h^4] - E[h^2]^2) / N)`` (residuals of a good model are lighter)."""
    return math.sqrt(max(fourth_moment(target) - 1.0, 0.0) / test_size)


def theory_curves(n_values, d: int, k: int, q: int, plateau: float,
                  span: tuple[float, float] = (0.03, 1.5), reach: float = 30.0) -> dict:
    """Curve columns for the test-loss plot: the kernel plateau across the sweep (as
    ``model = "kernel"``) and vertical marks (segments over ``span``) at ``n = d^k`` and
    at ``n = d^{kq}`` when it lies within ``reach`` times the largest n (it is usually
    far beyond: ``d^6 = 1.7e7`` at d = 16)."""
    n_values = np.asarray(n_values, dtype=float)
    sc = scales(d, k, q)
    lo, hi = float(n_values.min()), float(n_values.max())
    n, model, loss = [lo, hi], ["kernel", "kernel"], [plateau, plateau]
    for key, power in (("three_layer", k), ("kernel", k * q)):
        if sc[key] <= reach * hi:
            n += [sc[key]] * 2
            model += [f"n = d^{power}"] * 2
            loss += list(span)
    return {"n": np.asarray(n), "model": np.asarray(model), "test_loss": np.asarray(loss)}
