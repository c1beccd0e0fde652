"""Neural-collapse metrics as pure functions of arrays (spec ``neural_collapse.md`` §3).

Conventions: features ``H`` are (N, d) with one row per sample (the paper's H_j
transposed), labels ``y`` (N,) ints in [0, K), classifier ``W`` (K, d) -- the product
W_M...W_j paired with the layer-j features -- and an optional bias ``b`` (K,). Everything
is computed in float64 whatever the input dtype (a float32 Sigma_B has noise eigenvalues
about 1e-8 relative that numpy's pinv would invert; pitfall 6.1). Collapsed classes
(norms ~1e-60 or exact zeros) never produce NaN (pitfall 6.7).
"""

from __future__ import annotations

import numpy as np

_F64 = np.float64


def _f64(a) -> np.ndarray:
    return np.asarray(a, dtype=_F64)


def class_means(H, y, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Class means mu_k (K, d) and the sample-weighted global mean mu_G (d,).

    A class without samples gets a zero mean (what the theory predicts for n_k = 0).
    """
    H, y = _f64(H), np.asarray(y)
    counts = np.bincount(y, minlength=n_classes).astype(_F64)
    # one-hot (N, K) product: a BLAS call, ~50x faster than np.add.at at N=400, d=64
    sums = (y[None, :] == np.arange(n_classes)[:, None]).astype(_F64) @ H  # (K, d)
    means = sums / np.maximum(counts, 1.0)[:, None]
    return means, H.mean(axis=0)


def _scatter(H, y, n_classes):
    """Centred class means (K, d) for Sigma_B and within-class residuals (N, d)."""
    H = _f64(H)
    means, mu_G = class_means(H, y, n_classes)
    return means - mu_G, H - means[np.asarray(y)]


def nc1(H, y, n_classes: int, rtol: float = 1e-6) -> float:
    """NC1 = (1/K) tr(Sigma_W Sigma_B^+) with a float64, rank-aware pseudo-inverse.

    Sigma_B = (1/K) C^T C with C the centred means (uniform 1/K weighting, spec 3.1), so
    its eigenpairs come from the SVD of C (K x d), which never squares the condition
    number. Eigenvalues below ``rtol`` times the largest, and all beyond the K-1 largest
    (rank Sigma_B <= K-1), are dropped. tr(Sigma_W u u^T)/lambda is evaluated from the
    residuals projected on u, so NC1 is a sum of non-negative terms, clamped at 0.
    """
    C, R = _scatter(H, y, n_classes)
    K, N = n_classes, R.shape[0]
    _, s, Vt = np.linalg.svd(C, full_matrices=False)
    lam = s**2 / K
    if lam.size == 0 or lam[0] <= 0.0:
        return 0.0  # Sigma_B = 0: its pseudo-inverse is 0
    keep = (lam > rtol * lam[0]) & (np.arange(lam.size) < K - 1)
    proj = R @ Vt[keep].T  # (N, r): residuals along the kept eigenvectors of Sigma_B
    var = np.einsum("ij,ij->j", proj, proj) / N  # u^T Sigma_W u
    return max(float(np.sum(var / lam[keep]) / K), 0.0)


def nc1_quotient(H, y, n_classes: int) -> float:
    """tr(Sigma_W) / tr(Sigma_B) (Tirer et al. 2023); sees variance outside span(Sigma_B).

    Returns 0 when both traces vanish and the largest float when only tr(Sigma_B) does.
    """
    C, R = _scatter(H, y, n_classes)
    tr_w = float(np.sum(R * R)) / R.shape[0]
    tr_b = float(np.sum(C * C)) / n_classes
    if tr_b > 0.0:
        return min(tr_w / tr_b, float(np.finfo(_F64).max))
    return 0.0 if tr_w == 0.0 else float(np.finfo(_F64).max)


def _unit(G) -> np.ndarray:
    """G / ||G||_F, or 0 for G = 0; pre-scaled by max|G| so tiny entries don't underflow."""
    G = _f64(G)
    m = float(np.max(np.abs(G))) if G.size else 0.0
    if not m > 0.0 or not np.isfinite(m):
        return np.zeros_like(G)
    G = G / m
    return G / np.linalg.norm(G)


def frame_distance(G, target) -> float:
    """|| G/||G||_F - T/||T||_F ||_F, a shape distance in [0, 2].

    A zero G (or T) has zero shape, so the distance is 1 to any non-zero partner and 0
    between two zeros; the result is finite for every finite input.
    """
    return float(np.linalg.norm(_unit(G) - _unit(target)))


def etf_gram(K: int) -> np.ndarray:
    """Unit-Frobenius simplex-ETF Gram E_K = (I_K - 11^T/K)/sqrt(K-1) (zero for K <= 1)."""
    return (np.eye(K) - 1.0 / max(K, 1)) / np.sqrt(max(K - 1, 1))


def of_gram(K: int) -> np.ndarray:
    """Unit-Frobenius orthogonal-frame Gram O_K = I_K/sqrt(K)."""
    return np.eye(K) / np.sqrt(max(K, 1))  # K = 0 (no survivor): the empty Gram


def _frame_means(means, global_mean, centred):
    means = _f64(means)
    return means - _f64(global_mean) if centred else means


def nc2_features(means, global_mean, target, centred: bool) -> float:
    """NC2 of the class means: frame_distance(Hbar^T Hbar, target) (spec 3.3).

    ``centred`` subtracts mu_G (ETF frames); the bias-free OF/GOF compare uncentred means.
    """
    M = _frame_means(means, global_mean, centred)
    return frame_distance(M @ M.T, target)


def nc2_classifier(W, target) -> float:
    """NC2 of the classifier rows: frame_distance(W W^T, target) (spec 3.3)."""
    W = _f64(W)
    return frame_distance(W @ W.T, target)


def nc3(W, means, global_mean, target, centred: bool) -> float:
    """NC3 (self-duality): frame_distance(W Hbar, target), W Hbar[k, l] = w_k . mu_l.

    The target is the predicted shape of W Hbar: O_K (OF), E_K (ETF, centred) or
    diag(p_k) (GOF).
    """
    M = _frame_means(means, global_mean, centred)
    return frame_distance(_f64(W) @ M.T, target)


def _norms(vectors) -> np.ndarray:
    V = _f64(vectors)
    m = float(np.max(np.abs(V))) if V.size else 0.0
    if not m > 0.0:
        return np.zeros(V.shape[0])
    return np.linalg.norm(V / m, axis=1) * m  # scaled: squares of 1e-160 don't underflow


def equinorm(vectors) -> float:
    """Papyan's equinorm: Std_k ||v_k|| / Avg_k ||v_k|| (0 when every vector is zero)."""
    r = _norms(vectors)
    avg = float(np.mean(r)) if r.size else 0.0
    return float(np.std(r) / avg) if avg > 0.0 else 0.0


def equiangularity(vectors) -> float:
    """Papyan's equiangularity: Std over k != l of cos(v_k, v_l).

    Exact-zero vectors have no direction and are left out; fewer than two left gives 0.
    """
    V = _f64(vectors)
    r = _norms(V)
    nz = r > 0.0
    if np.count_nonzero(nz) < 2:
        return 0.0
    U = V[nz] / r[nz, None]
    cos = U @ U.T
    return float(np.std(cos[~np.eye(len(U), dtype=bool)]))


def nc4(H, y, W, b=None, means=None) -> float:
    """NC4: fraction of samples where argmax_k(w_k.h + b_k) != argmin_k ||h - mu_k||.

    Ties are broken explicitly towards the smallest class index on both sides (numpy's
    argmax/argmin keep the first extremum); a collapsed class with all-zero logits
    therefore predicts class 0. ``means`` default to the class means of (H, y).
    """
    H, W = _f64(H), _f64(W)
    K = W.shape[0]
    if H.shape[0] == 0:
        return 0.0
    if means is None:
        means, _ = class_means(H, y, K)
    means = _f64(means)
    logits = H @ W.T + (0.0 if b is None else _f64(b))
    # ||h||^2 is common to every class, so it is dropped from the NCC distances
    dist = np.sum(means * means, axis=1)[None, :] - 2.0 * (H @ means.T)
    return float(np.mean(np.argmax(logits, axis=1) != np.argmin(dist, axis=1)))


def collapsed(norms, eps: float = 1e-8) -> np.ndarray:
    """Mask of collapsed classes: norm < eps * max norm (all True if every norm is 0)."""
    r = _f64(norms)
    top = float(np.max(r)) if r.size else 0.0
    return r < eps * top if top > 0.0 else np.ones(r.shape, dtype=bool)


def nc_metrics(H, y, W, b, n_classes: int, geometry: dict) -> dict[str, float]:
    """Every NC metric for one pairing (H_j, W_M...W_j) against the predicted frame.

    ``geometry`` is a ``theory.predicted_geometry`` output. OF: uncentred means vs O_K;
    ETF: centred means vs E_K; GOF: uncentred means vs the predicted diagonal Grams.
    NC2/NC3 and Papyan's ratios use the classes predicted to survive only (a collapsed
    class has no direction); with no survivor there is nothing to compare and they are 0.
    NC1, its quotient and NC4 use every class.
    """
    K = int(n_classes)
    H, W = _f64(H), _f64(W)
    means, mu_G = class_means(H, y, K)
    frame, centred = geometry["frame"], bool(geometry["centred"])
    S = np.flatnonzero(np.asarray(geometry["survives"], dtype=bool))
    k = S.size
    if frame == "OF":
        tf = tw = tz = of_gram(k)
    elif frame == "ETF":
        tf = tw = tz = etf_gram(k)
    else:  # GOF: the predicted diagonal Grams restricted to the survivors
        sub = np.ix_(S, S)
        tf = _f64(geometry["gram_features"])[sub]
        tw = _f64(geometry["gram_classifier"])[sub]
        tz = np.diag(_f64(geometry["logit_diag"])[S])
    Ms = _frame_means(means, mu_G, centred)[S]
    Ws = W[S]
    return {
        "nc1": nc1(H, y, K),
        "nc1_quotient": nc1_quotient(H, y, K),
        "nc2_features": nc2_features(Ms, np.zeros(H.shape[1]), tf, False),
        "nc2_classifier": nc2_classifier(Ws, tw),
        "nc3": nc3(Ws, Ms, np.zeros(H.shape[1]), tz, False),
        "nc4": nc4(H, y, W, b, means),
        "equinorm_features": equinorm(Ms),
        "equinorm_classifier": equinorm(Ws),
        "equiangularity_features": equiangularity(Ms),
        "equiangularity_classifier": equiangularity(Ws),
    }
