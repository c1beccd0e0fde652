"""Closed-form predicted geometry of the deep linear unconstrained-features model (UFM).

Dang, Tran, Osher, Tran-The, Ho, Nguyen, "Neural Collapse in Deep Linear Networks: From
Balanced to Imbalanced Data", ICML 2023 (arXiv 2301.00437); spec ``neural_collapse.md`` §2.

Model: free features H_1 (d_1 x N), layers W_1..W_M (classifier W_M last), objective

    1/(2N) ||W_M...W_1 H_1 (+ b 1^T) - Y||_F^2 + sum_j lambda_Wj/2 ||W_j||_F^2
        + lambda_H/2 ||H_1||_F^2                  (CE: (1/N) sum_i CE(z_i, y_i) + penalties)

At every critical point lambda_Wj s_j^2 = lambda_H a_H^2 =: tau on every mode (layer
balancedness), and for MSE the problem splits into one scalar problem per class:
phi_k(x) = 1/(1 + x^M) + beta_k x, beta_k = kappa/n_k. Everything is float64 and pure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.optimize import brentq

LOSSES = ("mse", "mse_bias", "ce")
CE_WARNING = (
    "predicted for shallow heads / few classes: deeper heads can reach lower-rank "
    "solutions with lower objective (Garrod & Keating 2024); compare the GD objective"
)
_EPS = np.finfo(np.float64).eps
_BIG = float(np.finfo(np.float64).max)  # stands in for beta_k = inf (n_k = 0), stays finite


def _check_depth(depth) -> int:
    if int(depth) != depth or depth < 1:
        raise ValueError(f"depth must be an integer >= 1, got {depth!r}")
    return int(depth)


def _root(f, lo: float, hi: float) -> float:
    """Brent root on [lo, hi], widening hi by doubling until f changes sign."""
    while f(hi) > 0.0:
        lo, hi = hi, 2.0 * hi
    return brentq(f, lo, hi, xtol=1e-300, rtol=4 * _EPS, maxiter=500)


def beta_star(depth: int) -> float:
    """Collapse threshold beta*(M) = (M-1)^((M-1)/M) / M of the scalar problem (1 for M=1).

    Class k survives iff beta_k < beta*; for M >= 2 the transition is first order.
    """
    M = _check_depth(depth)
    return 1.0 if M == 1 else (M - 1) ** ((M - 1) / M) / M


def solve_x(beta: float, depth: int) -> float:
    """Global minimiser x* >= 0 of phi(x) = 1/(1 + x^M) + beta x (spec 2.1).

    Parameters
    ----------
    beta : float
        beta_k = kappa / n_k > 0.
    depth : int
        M, the number of linear layers.

    Returns
    -------
    float
        M = 1: max(0, 1/sqrt(beta) - 1). M >= 2: the largest root of the stationarity
        equation M x^(M-1)/(1 + x^M)^2 = beta if phi(root) < phi(0) = 1, else 0. (The
        authors' code keeps that root also inside (beta*, g_max], where it is only a
        *local* minimiser; here the global one is returned.)
    """
    M = _check_depth(depth)
    beta = float(beta)
    if not beta > 0.0:
        raise ValueError(f"beta must be > 0 (a positive decay), got {beta!r}")
    if M == 1:
        return max(0.0, 1.0 / math.sqrt(beta) - 1.0)
    x0 = ((M - 1) / (M + 1)) ** (1.0 / M)  # argmax of g, g decreasing beyond it

    def excess(x):  # g(x) - beta, decreasing on [x0, inf)
        return M * x ** (M - 1) / (1.0 + x**M) ** 2 - beta

    if excess(x0) < 0.0:
        return 0.0  # no positive stationary point: 0 is the only minimiser
    x = _root(excess, x0, max(1.0, 2.0 * x0))
    # phi(x) - phi(0) = beta x - x^M/(1+x^M), written without the cancelling 1's
    return x if beta * x - x**M / (1.0 + x**M) < 0.0 else 0.0


def critical_decay(n_k, n_total, depth) -> float:
    """Equal decay lambda_W = lambda_H above which class k collapses (bias-free MSE).

    lambda_crit = (beta* n_k / (M N^(1 + 1/M)))^(M/(M+1)), from beta_k = beta* (spec 2.1).
    """
    M = _check_depth(depth)
    return float(
        (beta_star(M) * n_k / (M * float(n_total) ** (1.0 + 1.0 / M))) ** (M / (M + 1))
    )


def _ce_loss(a: float, K: int, M: int, cn: float) -> float:
    """L(a) of spec 2.4 (ETF ansatz, margin a): CE term plus the Schatten penalty."""
    return math.log1p((K - 1) * math.exp(-a)) + (K - 1) * (M + 1) / 2 * (cn * a * a) ** (
        1.0 / (M + 1)
    )


def _ce_peak(K: int, M: int) -> float:
    """argmax of q(a) = a^alpha/(e^a + K - 1), alpha = (M-1)/(M+1) (unique, M >= 2)."""
    al = (M - 1) / (M + 1)
    return _root(lambda a: al * (1.0 + (K - 1) * math.exp(-a)) - a, 1e-300, 1.0)


def _ce_margin(K: int, M: int, cn: float) -> float:
    """Global minimiser a* >= 0 of L(a); cn = c n = lambda_H prod_j lambda_Wj * n.

    dL/da = 0  <=>  q(a) = a^alpha/(e^a + K - 1) = r := (c n)^(1/(M+1)). q rises then
    falls, so the only candidate minimiser is the root on the falling side (the same
    structure as the MSE problem); it is kept only if L(root) < L(0) = log K.
    """
    log_r = math.log(cn) / (M + 1)
    if M == 1:  # convex: closed form
        e = math.exp(-log_r) - (K - 1)
        return math.log(e) if e > 1.0 else 0.0
    al = (M - 1) / (M + 1)

    def excess(a):  # log q(a) - log r, decreasing beyond the peak
        return al * math.log(a) - np.logaddexp(a, math.log(K - 1)) - log_r

    ap = _ce_peak(K, M)
    if excess(ap) < 0.0:
        return 0.0
    a = _root(excess, ap, 2.0 * ap)
    return a if _ce_loss(a, K, M, cn) < math.log(K) else 0.0


def _ce_critical_decay(n: float, K: int, M: int) -> float:
    """Equal decay above which the CE ETF loses to the zero solution.

    M = 1: sqrt(c n) = lambda sqrt(n) = 1/K. M >= 2: at the transition L(a) = log K and
    q(a) = r hold together; eliminating r leaves D(a) = 0 below, then
    lambda = q(a) n^(-1/(M+1)).
    """
    if M == 1:
        return 1.0 / (K * math.sqrt(n))

    def D(a):
        den = math.exp(a) + K - 1
        return math.log(den / K) - a + (K - 1) * (M + 1) * a / (2.0 * den)

    ap = _ce_peak(K, M)
    a = _root(D, ap, max(4.0, 2.0 * ap))
    q = a ** ((M - 1) / (M + 1)) / (math.exp(a) + K - 1)
    return q * n ** (-1.0 / (M + 1))


def _layer_decays(weight_decay, M: int) -> np.ndarray:
    lam = np.atleast_1d(np.asarray(weight_decay, dtype=np.float64))
    if lam.size == 1:
        lam = np.full(M, lam[0])
    if lam.shape != (M,) or not np.all(np.isfinite(lam)) or not np.all(lam > 0):
        raise ValueError(
            f"weight_decay must be one positive number or {M} (one per layer W_1..W_M), "
            f"got {weight_decay!r}"
        )
    return lam


def predicted_geometry(
    class_sizes: Sequence[int],
    depth: int,
    weight_decay: float | Sequence[float],
    feature_decay: float,
    loss: str = "mse",
    widths: Sequence[int] | None = None,
) -> dict:
    """Global minimiser of the deep linear UFM in closed form (spec 2.1-2.6).

    Parameters
    ----------
    class_sizes : sequence of int
        n_k, k = 1..K (K >= 2; n_k = 0 allowed for bias-free MSE: that class gets zeros).
    depth : int
        M, number of linear layers W_1..W_M.
    weight_decay : float or sequence of M floats
        lambda_Wj; only their geometric mean lambda_bar enters kappa.
    feature_decay : float
        lambda_H on the free features H_1.
    loss : {"mse", "mse_bias", "ce"}
        mse_bias has an unregularised last-layer bias; mse_bias and ce need equal n_k.
    widths : sequence of int, optional
        d_1..d_M; at most min(widths) modes survive (largest n_k first).

    Returns
    -------
    dict
        ``x``, ``survives``, ``beta`` (K,); ``kappa``, ``beta_star``, ``objective`` (F*);
        ``classifier_norm_sq`` ||w_k||^2 (rows of W = W_M..W_1); ``feature_mean_norm_sq``
        ||hbar_k||^2 (H_1); ``layer_singular_values_sq`` s_{k,j}^2, ``layer_feature_mean_
        norm_sq`` ||hbar_k^(j)||^2 and ``partial_classifier_norm_sq`` (rows of W_M..W_j),
        all (M, K) with row j-1 for layer j; ``logit_diag`` p_k = (W hbar_k)_k;
        ``gram_features`` Hbar^T Hbar, ``gram_classifier`` W W^T, ``gram_logits`` W Hbar
        (K, K; centred ETF forms for mse_bias/ce); ``critical_decay`` (K,); ``frame`` in
        {OF, GOF, ETF}; ``bias`` (K,); ``warning`` str; ``centred`` bool. Arrays are
        float64 with class k in column k. For bias-free MSE column k of
        ``layer_singular_values_sq`` is class k's mode (sort it to compare with an SVD);
        for the ETF frames (mse_bias, ce) the K-1 equal non-zero values come first and
        the last column is 0. For ce, ``x`` holds the logit margin a* and ``kappa``,
        ``beta``, ``beta_star`` are the MSE scalar-problem values (informational only).
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    M = _check_depth(depth)
    n = np.asarray(class_sizes, dtype=np.float64)
    if (
        n.ndim != 1
        or n.size < 2
        or np.any(n < 0)
        or not np.all(np.isfinite(n))
        or n.sum() <= 0
    ):
        raise ValueError(f"class_sizes must list K >= 2 sizes >= 0, got {class_sizes!r}")
    K, N = n.size, float(n.sum())
    lam_W = _layer_decays(weight_decay, M)
    lam_H = float(feature_decay)
    if not (math.isfinite(lam_H) and lam_H > 0):
        raise ValueError(f"feature_decay must be > 0, got {feature_decay!r}")
    balanced = bool(np.all(n == n[0]))
    if loss != "mse" and not balanced:
        raise ValueError(
            f"loss={loss!r} is predicted for equal class_sizes only, got {class_sizes!r}"
        )
    rank_cap = None if widths is None else int(min(widths))
    if loss != "mse" and rank_cap is not None and rank_cap < K - 1:
        raise ValueError(
            f"widths {widths!r}: the {loss} ETF needs min(widths) >= K-1 = {K - 1}"
        )

    lam_bar = float(np.exp(np.mean(np.log(lam_W))))  # geometric mean of lambda_Wj
    kappa = M * N * lam_bar * (N * lam_H) ** (1.0 / M)
    pos = n > 0
    beta = np.full(K, _BIG)
    beta[pos] = kappa / n[pos]
    crit = np.array([critical_decay(nk, N, M) for nk in n])
    f = 1.0 if loss == "mse" else (K - 1) / K  # centring: a class mean sees (K-1)/K of it
    P = np.eye(K) - 1.0 / K  # centring projector I - 11^T/K

    if loss == "ce":
        cn = lam_H * float(np.prod(lam_W)) * n[0]  # c n
        a = _ce_margin(K, M, cn)
        x = np.full(K, a)
        tau = np.full(K, (cn * a * a) ** (1.0 / (M + 1)))  # = lambda_Wj s_j^2
        p_mode = np.full(K, a)  # W Hbar = a P
        objective = _ce_loss(a, K, M, cn)
        crit = np.full(K, _ce_critical_decay(n[0], K, M))
    else:
        x = np.array(
            [solve_x(b, M) if ok else 0.0 for b, ok in zip(beta, pos, strict=True)]
        )
        if loss == "mse" and rank_cap is not None and np.count_nonzero(x) > rank_cap:
            # rank(Z) <= min d_j: keep the modes with the largest gain, i.e. largest n_k
            order = np.argsort(-n, kind="stable")
            alive = [k for k in order if x[k] > 0][:rank_cap]
            x[np.setdiff1d(np.arange(K), alive)] = 0.0
        xM = x**M
        tau = lam_bar * (N * lam_H) ** (1.0 / M) * x  # lambda_bar t_k
        p_mode = xM / (1.0 + xM)
        phi = 1.0 / (1.0 + xM) + np.where(x > 0, beta * x, 0.0)
        objective = (
            float(np.sum(n / (2 * N) * phi)) if loss == "mse" else f / 2 * float(phi[0])
        )

    survives = x > 0
    s2 = tau[None, :] / lam_W[:, None]  # (M, K) s_{k,j}^2
    n_safe = np.where(pos, n, 1.0)
    h2 = np.where(pos, f * tau / (lam_H * n_safe), 0.0)  # ||hbar_k||^2 of H_1
    # H_j = W_{j-1}..W_1 H_1 multiplies mode k by prod_{l<j} s_{k,l}
    layer_h2 = h2[None, :] * np.vstack([np.ones(K), np.cumprod(s2, axis=0)[:-1]])
    # rows of W_M..W_j: prod_{l>=j} s_{k,l}^2 (times (K-1)/K after centring)
    part_w2 = f * np.cumprod(s2[::-1], axis=0)[::-1]
    w2 = part_w2[0].copy()
    logit_diag = f * p_mode
    if loss == "mse":
        gram_h, gram_w, gram_z = np.diag(h2), np.diag(w2), np.diag(p_mode)
        frame = "OF" if balanced and (survives.all() or not survives.any()) else "GOF"
        bias = np.zeros(K)
        sv2 = s2
    else:
        gram_h, gram_w, gram_z = h2[0] / f * P, w2[0] / f * P, p_mode[0] * P
        frame = "ETF"
        bias = np.full(K, 1.0 / K) if loss == "mse_bias" else np.zeros(K)
        sv2 = s2.copy()
        sv2[:, -1] = 0.0  # the centred target has rank K-1
    return {
        "x": x,
        "survives": survives,
        "kappa": float(kappa),
        "beta": beta,
        "beta_star": beta_star(M),
        "classifier_norm_sq": w2,
        "feature_mean_norm_sq": h2,
        "layer_singular_values_sq": sv2,
        "layer_feature_mean_norm_sq": layer_h2,
        "partial_classifier_norm_sq": part_w2,
        "logit_diag": logit_diag,
        "objective": float(objective),
        "gram_features": gram_h,
        "gram_classifier": gram_w,
        "gram_logits": gram_z,
        "critical_decay": crit,
        "frame": frame,
        "bias": bias,
        "warning": CE_WARNING if loss == "ce" else "",
        "centred": frame == "ETF",
    }


def norms_vs_class_size(
    class_size_grid, n_total: int, depth: int, weight_decay, feature_decay: float
) -> dict:
    """Bias-free MSE norms of a class of size n inside a dataset of n_total samples.

    The minority-collapse curve: for each n of the grid, x* solves the scalar problem
    with beta = kappa / n (spec 2.1), giving ``classifier_norm_sq`` = N lambda_H x^M and
    ``feature_mean_norm_sq`` = x^M / (N lambda_H (1 + x^M)^2); both are 0 below the
    critical size. Arrays of the grid's shape.
    """
    M = _check_depth(depth)
    lam_W = _layer_decays(weight_decay, M)
    N, lam_H = float(n_total), float(feature_decay)
    lam_bar = float(np.exp(np.mean(np.log(lam_W))))
    kappa = M * N * lam_bar * (N * lam_H) ** (1.0 / M)
    grid = np.asarray(class_size_grid, dtype=np.float64)
    x = np.array([solve_x(kappa / n, M) if n > 0 else 0.0 for n in grid.ravel()])
    xM = x.reshape(grid.shape) ** M
    return {
        "classifier_norm_sq": N * lam_H * xM,
        "feature_mean_norm_sq": xM / (N * lam_H * (1.0 + xM) ** 2),
    }


def gap_tolerance(objective: float) -> float:
    """Tolerance on F_GD - F*: 1e-6 relative (the float64 agreement of converged GD
    with the closed form is ~1e-9; training cut short sits well above 1e-6)."""
    return 1e-6 * max(1e-3, abs(objective)) + 1e-12
