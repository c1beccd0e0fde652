"""Pure measurement functions for random-feature regression (no state, no plotting).

- running statistics and theory-vs-experiment errors;
- the finite-population correction ``E_off = (N E_te - n E_tr)/(N - n)`` (spec §4.3);
- exponents of a kernel (spec §4.4): ``alpha`` from ``kappa_hat(n) = 1/Tr K_n^{-1}``
  (``kappa_hat ~ n^-alpha``) and ``beta`` from the ridgeless learning curve
  (test MSE ``~ n^-(beta-1)``), each with its fit range reported.
"""

from __future__ import annotations

import numpy as np


def mean_se(total: np.ndarray, total_sq: np.ndarray, count: np.ndarray):
    """Mean and standard error from running sums; SE is 0 with fewer than 2 samples
    and NaN where nothing was observed."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        var = np.maximum(total_sq / count - mean**2, 0.0) * count / np.maximum(count - 1, 1)
        se = np.where(count > 1, np.sqrt(var / count), 0.0)
    return mean, np.where(count > 0, se, np.nan)


def relative_error(measured, theory) -> np.ndarray:
    """``|measured - theory| / theory``; NaN where the theory is not finite."""
    m, t = np.asarray(measured, dtype=float), np.asarray(theory, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.isfinite(t) & (t > 0), np.abs(m - t) / t, np.nan)


def within_tolerance(measured, se, theory, rel: float = 0.03, n_se: float = 3.0):
    """The checklist's rule (spec §4.7 L1): ``|exp - th| <= max(rel th, n_se SE)``."""
    m, s, t = (np.asarray(a, dtype=float) for a in (measured, se, theory))
    return np.abs(m - t) <= np.maximum(rel * np.abs(t), n_se * s)


def is_monotone_nonincreasing(values, se=None, n_se: float = 2.0) -> bool:
    """True if each step up is within ``n_se`` combined standard errors (Theorem 1's
    optimal-ridge curve, measured; spec §4.7 L2)."""
    v = np.asarray(values, dtype=float)
    s = np.zeros_like(v) if se is None else np.nan_to_num(np.asarray(se, dtype=float))
    ok = np.isfinite(v)
    v, s = v[ok], s[ok]
    if v.size < 2:
        return True
    slack = n_se * np.sqrt(s[1:] ** 2 + s[:-1] ** 2) + 1e-12 * np.abs(v[:-1])
    return bool(np.all(np.diff(v) <= slack))


def finite_population_correction(test, train, population: int, n):
    """Off-sample test risk when the "population" is the N points whose Gram matrix
    defined the spectrum and test points are disjoint from training (pitfall 9)."""
    n = np.asarray(n, dtype=float)
    return (population * np.asarray(test) - n * np.asarray(train)) / (population - n)


def fit_slope(x, y, lo: float, hi: float) -> float:
    """Least-squares slope of log y against log x over ``lo <= x <= hi``."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    sel = (x >= lo) & (x <= hi) & (y > 0)
    return float(np.polyfit(np.log(x[sel]), np.log(y[sel]), 1)[0])


def kappa_hat(K: np.ndarray, ns) -> np.ndarray:
    """``1 / Tr pinv(K_n)`` on nested leading blocks (spec §2.1, §4.4)."""
    out = []
    for n in ns:
        ev = np.linalg.eigvalsh(K[:n, :n])
        keep = ev > ev[-1] * n * 1e-13  # pseudo-inverse cutoff
        out.append(1.0 / np.sum(1.0 / ev[keep]))
    return np.asarray(out)


def ridgeless_learning_curve(K: np.ndarray, y: np.ndarray, ns, n_test: int, trials: int,
                             rng: np.random.Generator) -> np.ndarray:
    """Mean test MSE of (near-)ridgeless KRR on random subsets of the N points
    (``delta = 1e-10 * trace/N``, as the authors' 1e-10 on a unit-scale kernel)."""
    N = K.shape[0]
    reg = 1e-10 * np.trace(K) / N
    out = np.zeros(len(ns))
    for _ in range(trials):
        perm = rng.permutation(N)
        te = perm[-n_test:]
        for j, n in enumerate(ns):
            tr = perm[:n]
            # solve, not lstsq: SPD after the tiny ridge, and ~10x cheaper
            a = np.linalg.solve(K[np.ix_(tr, tr)] + reg * np.eye(n), y[tr])
            out[j] += np.mean((y[te] - K[np.ix_(te, tr)] @ a) ** 2) / trials
    return out


def estimate_exponents(K: np.ndarray, y: np.ndarray, n_max: int | None = None,
                       n_test: int = 200, trials: int = 3, seed: int = 0) -> dict:
    """Measure the powerlaw exponents (alpha, beta) of a kernel task (spec §4.4).

    Fits over the upper half (in log n) of the sizes; returns the curves and the fit
    ranges so a plot can show them.
    """
    N = K.shape[0]
    n_max = min(n_max or N - n_test, N - n_test)
    ns = np.unique(np.round(np.logspace(1, np.log10(n_max), 12)).astype(int))
    lo = int(ns[len(ns) // 2])
    kap = kappa_hat(K, ns)
    curve = ridgeless_learning_curve(K, y, ns, n_test, trials, np.random.default_rng(seed))
    return {"ns": ns, "kappa_hat": kap, "learning_curve": curve,
            "alpha": -fit_slope(ns, kap, lo, n_max),
            "beta": 1.0 - fit_slope(ns, curve, lo, n_max), "fit_range": (lo, n_max)}
