"""Pure measurements for the hierarchical experiment (no state, no plotting).

- :func:`relative_mse`: test MSE divided by the exact ``E[h^2] = 1`` (never by the
  sample variance, which heavy tails bias low; spec §7.2).
- :func:`feature_correlation`: ``|corr(f, p)|`` on fresh points, sign-invariant
  (``E[g'] < 0`` or ``u -> -u`` flip the learned feature; spec §4.5, §7.10).
- :func:`degree_k_projection`: the exact degree-k Hermite part of a bottleneck feature
  ``f(x) = sum_j u_j sigma1(<v_j, x> + s_j)`` from its weights, through
  ``P_k f = sum_j u_j E[sigma1^(k)(|v_j| Z + s_j)] / k! <v_j^{(x)k}, He_k(x)>`` (Gaussian
  integration by parts), and its comparison with the Stein prediction ``E[g'(Z)] p``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.polynomial import polynomial as P

from orthoviz.hierarchical.data import Feature
from orthoviz.hierarchical.hermite import gauss_expect_shifted


def relative_mse(pred, y, second_moment: float = 1.0) -> float:
    """``mean((pred - y)^2) / E[h^2]`` in float64."""
    pred = np.asarray(pred, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return float(np.mean((pred - y) ** 2) / second_moment)


def relative_mse_se(pred, y, second_moment: float = 1.0) -> dict:
    """``test_loss`` (:func:`relative_mse`) and ``test_loss_se``, its standard error
    over the test points, ``std((pred - y)^2) / sqrt(N) / E[h^2]`` (heavy tails show
    up here first)."""
    e2 = (np.asarray(pred, dtype=np.float64) - np.asarray(y, dtype=np.float64)) ** 2
    return {"test_loss": float(e2.mean() / second_moment),
            "test_loss_se": float(e2.std(ddof=1) / math.sqrt(e2.size) / second_moment)}


def feature_correlation(f, p) -> float:
    """``|Pearson corr(f, p)|``; 0 for a constant feature."""
    f = np.asarray(f, dtype=np.float64) - np.mean(f, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64) - np.mean(p, dtype=np.float64)
    nf, npp = np.linalg.norm(f), np.linalg.norm(p)
    if nf == 0 or npp == 0:
        return 0.0
    return float(abs(f @ p) / (nf * npp))


def degree_k_projection(V, s, u, sigma1, feature: Feature) -> dict:
    """Exact ``||P_k f||^2`` and ``<P_k f, p>`` of ``f = sum_j u_j sigma1(<v_j,x> + s_j)``.

    Parameters
    ----------
    V : ndarray, shape (m1, d)
    s, u : ndarray, shape (m1,)
    sigma1 : ndarray
        Monomial coefficients of the polynomial activation.
    feature : Feature
        p (its degree k sets the projection).

    Returns
    -------
    dict
        ``norm_sq`` and ``inner`` (float64).
    """
    V, s, u = (np.asarray(a, dtype=np.float64) for a in (V, s, u))
    k = feature.k
    dk = P.polyder(np.asarray(sigma1, dtype=np.float64), k)
    if dk.size == 0 or not np.any(dk):
        return {"norm_sq": 0.0, "inner": 0.0}
    w = u * gauss_expect_shifted(dk, np.linalg.norm(V, axis=1), s) / math.factorial(k)
    gram = (V @ V.T) ** k  # (m1, m1): <v_j, v_l>^k
    return {"norm_sq": float(math.factorial(k) * w @ gram @ w),
            "inner": float(w @ feature.pairing(V))}


def stein_alignment(projection: dict, stein_coefficient: float) -> dict:
    """``hermite_corr = |<P_k f, p>| / ||P_k f||`` (scale-free) and
    ``stein_error = ||P_k f - E[g'(Z)] p||`` (``||p|| = 1``, ``E[h^2] = 1``)."""
    nsq, inner, c = projection["norm_sq"], projection["inner"], stein_coefficient
    return {"hermite_corr": abs(inner) / math.sqrt(nsq) if nsq > 0 else 0.0,
            "stein_error": math.sqrt(max(nsq - 2 * c * inner + c * c, 0.0))}


def mean_se(values) -> tuple[float, float]:
    """Mean and standard error (0 for a single value; NaN for none)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return math.nan, math.nan
    if v.size < 2:
        return float(v.mean()), 0.0
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(v.size))
