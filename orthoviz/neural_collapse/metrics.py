"""Neural-collapse metrics (spec ``neural_collapse.md`` §3) in torch, on the data's device.

Conventions: features ``H`` are (N, d) with one row per sample (the paper's H_j
transposed), labels ``y`` (N,) ints in [0, K), classifier ``W`` (K, d) -- the product
W_M...W_j paired with the layer-j features -- and an optional bias ``b`` (K,). Inputs
may be numpy arrays or tensors; everything is computed in float64 on the device of the
first tensor argument (``H``, or ``G``/``W``/``V``), whatever the input dtype: a float32
Sigma_B has noise eigenvalues about 1e-8 relative that a pseudo-inverse would invert
(pitfall 6.1), and the float64 work of a record, O(M N d (K + d)) flops, is about one
training step's worth even on a GPU.

Every metric returns a 0-d float64 tensor and never branches on a value, so a run on
CUDA computes its metrics without a host round trip until it asks for the numbers
(:func:`torch.linalg.svd` still synchronises once per call). Collapsed classes (norms
~1e-60 or exact zeros) never produce NaN (pitfall 6.7).
"""

from __future__ import annotations

import numpy as np
import torch

F64 = torch.float64
_BIG = torch.finfo(F64).max


def as_f64(a, device=None) -> torch.Tensor:
    """``a`` as a float64 tensor on ``device`` (default: a tensor's own device, or CPU)."""
    if isinstance(a, torch.Tensor):
        return a.detach().to(device=device if device is not None else a.device, dtype=F64)
    return torch.as_tensor(np.asarray(a, dtype=np.float64), device=device)


def _labels(y, device) -> torch.Tensor:
    y = y.detach() if isinstance(y, torch.Tensor) else torch.as_tensor(np.asarray(y))
    return y.to(device=device, dtype=torch.long)


def _one_hot(y, n_classes: int, device) -> torch.Tensor:
    """(K, N) float64 indicator of the labels (a matmul with it sums per class)."""
    y = _labels(y, device)
    return (y[None, :] == torch.arange(n_classes, device=device)[:, None]).to(F64)


def class_means(H, y, n_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class means mu_k (K, d) and the sample-weighted global mean mu_G (d,).

    A class without samples gets a zero mean (what the theory predicts for n_k = 0).
    The sums are one (K, N) x (N, d) product; the counts are the indicator's row sums
    (``bincount`` would synchronise a CUDA device to size its output).
    """
    H = as_f64(H)
    Y = _one_hot(y, n_classes, H.device)
    means = (Y @ H) / Y.sum(1).clamp_min(1.0)[:, None]
    return means, H.mean(0)


def _scatter(H, y, n_classes, means=None, mu_G=None):
    """Centred class means (K, d) for Sigma_B and within-class residuals (N, d)."""
    H = as_f64(H)
    if means is None:
        means, mu_G = class_means(H, y, n_classes)
    return means - mu_G, H - means[_labels(y, H.device)]


def nc1(H, y, n_classes: int, rtol: float = 1e-6) -> torch.Tensor:
    """NC1 = (1/K) tr(Sigma_W Sigma_B^+) with a float64, rank-aware pseudo-inverse.

    Sigma_B = (1/K) C^T C with C the centred means (uniform 1/K weighting, spec 3.1), so
    its eigenpairs come from the SVD of C (K x d), which never squares the condition
    number. Eigenvalues below ``rtol`` times the largest, and all beyond the K-1 largest
    (rank Sigma_B <= K-1), get weight 0 (Sigma_B = 0 has pseudo-inverse 0). The term
    u^T Sigma_W u / lambda comes from the residuals projected on u, so NC1 is a sum of
    non-negative terms, clamped at 0.
    """
    return _nc1(*_scatter(H, y, n_classes), n_classes, rtol)


def _nc1(C, R, K: int, rtol: float = 1e-6) -> torch.Tensor:
    N = R.shape[0]
    _, s, Vh = torch.linalg.svd(C, full_matrices=False)
    lam = s * s / K  # descending
    keep = (lam > rtol * lam[0]) & (torch.arange(lam.numel(), device=lam.device) < K - 1)
    proj = R @ Vh.T  # (N, r): residuals along the eigenvectors of Sigma_B
    var = (proj * proj).sum(0) / N  # u^T Sigma_W u
    inv = torch.where(keep, 1.0 / torch.where(keep, lam, 1.0), 0.0)
    return ((var * inv).sum() / K).clamp_min(0.0)


def nc1_quotient(H, y, n_classes: int) -> torch.Tensor:
    """tr(Sigma_W) / tr(Sigma_B) (Tirer et al. 2023); sees variance outside span(Sigma_B).

    0 when both traces vanish and the largest float when only tr(Sigma_B) does.
    """
    return _quotient(*_scatter(H, y, n_classes), n_classes)


def _quotient(C, R, K: int) -> torch.Tensor:
    tr_w = (R * R).sum() / R.shape[0]
    tr_b = (C * C).sum() / K
    big = tr_w.new_tensor(_BIG)
    ratio = torch.minimum(tr_w / torch.where(tr_b > 0, tr_b, 1.0), big)
    return torch.where(tr_b > 0, ratio, torch.where(tr_w == 0, 0.0, big))


def _unit(G, device=None) -> torch.Tensor:
    """G / ||G||_F, or 0 for G = 0 (or non-finite); pre-scaled by max|G| so tiny entries
    don't underflow."""
    G = as_f64(G, device)
    if G.numel() == 0:
        return G
    m = G.abs().amax()
    ok = (m > 0) & torch.isfinite(m)
    G = G / torch.where(ok, m, 1.0)
    return torch.where(ok, G / torch.linalg.norm(G), 0.0)


def frame_distance(G, target) -> torch.Tensor:
    """|| G/||G||_F - T/||T||_F ||_F, a shape distance in [0, 2].

    A zero G (or T) has zero shape, so the distance is 1 to any non-zero partner and 0
    between two zeros; the result is finite for every finite input.
    """
    U = _unit(G)
    return torch.linalg.norm(U - _unit(target, U.device))


def etf_gram(K: int, device=None) -> torch.Tensor:
    """Unit-Frobenius simplex-ETF Gram E_K = (I_K - 11^T/K)/sqrt(K-1) (zero for K <= 1)."""
    eye = torch.eye(K, dtype=F64, device=device)
    return (eye - 1.0 / max(K, 1)) / np.sqrt(max(K - 1, 1))


def of_gram(K: int, device=None) -> torch.Tensor:
    """Unit-Frobenius orthogonal-frame Gram O_K = I_K/sqrt(K) (K = 0: the empty Gram)."""
    return torch.eye(K, dtype=F64, device=device) / np.sqrt(max(K, 1))


def _frame_means(means, global_mean, centred):
    means = as_f64(means)
    return means - as_f64(global_mean, means.device) if centred else means


def nc2_features(means, global_mean, target, centred: bool) -> torch.Tensor:
    """NC2 of the class means: frame_distance(Hbar^T Hbar, target) (spec 3.3).

    ``centred`` subtracts mu_G (ETF frames); the bias-free OF/GOF compare uncentred means.
    """
    M = _frame_means(means, global_mean, centred)
    return frame_distance(M @ M.T, target)


def nc2_classifier(W, target) -> torch.Tensor:
    """NC2 of the classifier rows: frame_distance(W W^T, target) (spec 3.3)."""
    W = as_f64(W)
    return frame_distance(W @ W.T, target)


def nc3(W, means, global_mean, target, centred: bool) -> torch.Tensor:
    """NC3 (self-duality): frame_distance(W Hbar, target), W Hbar[k, l] = w_k . mu_l.

    The target is the predicted shape of W Hbar: O_K (OF), E_K (ETF, centred) or
    diag(p_k) (GOF).
    """
    W = as_f64(W)
    M = _frame_means(as_f64(means, W.device), global_mean, centred)
    return frame_distance(W @ M.T, target)


def row_norms(vectors) -> torch.Tensor:
    """||v_k|| per row, scaled by max|V| first so squares of 1e-160 don't underflow."""
    V = as_f64(vectors)
    if V.numel() == 0:
        return V.new_zeros(V.shape[0])
    m = V.abs().amax()
    ok = m > 0
    s = torch.where(ok, m, 1.0)
    return torch.where(ok, torch.linalg.norm(V / s, dim=1) * s, 0.0)


def equinorm(vectors) -> torch.Tensor:
    """Papyan's equinorm: Std_k ||v_k|| / Avg_k ||v_k|| (0 when every vector is zero)."""
    r = row_norms(vectors)
    if r.numel() == 0:
        return r.new_zeros(())
    avg = r.mean()
    std = (r - avg).square().mean().sqrt()  # population std, as numpy's default
    return torch.where(avg > 0, std / torch.where(avg > 0, avg, 1.0), 0.0)


def equiangularity(vectors) -> torch.Tensor:
    """Papyan's equiangularity: Std over k != l of cos(v_k, v_l).

    Exact-zero vectors have no direction and are left out; fewer than two left gives 0.
    """
    V = as_f64(vectors)
    r = row_norms(V)
    nz = r > 0
    U = V / torch.where(nz, r, 1.0)[:, None]
    cos = U @ U.T
    eye = torch.eye(V.shape[0], dtype=torch.bool, device=V.device)
    pair = (nz[:, None] & nz[None, :] & ~eye).to(F64)
    n = pair.sum().clamp_min(1.0)
    mean = (cos * pair).sum() / n
    std = ((cos - mean).square() * pair).sum().div(n).sqrt()
    return torch.where(nz.sum() >= 2, std, 0.0)


def nc4(H, y, W, b=None, means=None) -> torch.Tensor:
    """NC4: fraction of samples where argmax_k(w_k.h + b_k) != argmin_k ||h - mu_k||.

    Ties go to the smallest class index on both sides (torch's argmax/argmin return the
    first extremum); a collapsed class with all-zero logits therefore predicts class 0.
    ``means`` default to the class means of (H, y).
    """
    H = as_f64(H)
    W = as_f64(W, H.device)
    if H.shape[0] == 0:
        return H.new_zeros(())
    means = class_means(H, y, W.shape[0])[0] if means is None else as_f64(means, H.device)
    logits = H @ W.T
    if b is not None:
        logits = logits + as_f64(b, H.device)
    # ||h||^2 is common to every class, so it is dropped from the NCC distances
    dist = (means * means).sum(1)[None, :] - 2.0 * (H @ means.T)
    return (logits.argmax(1) != dist.argmin(1)).to(F64).mean()


def collapsed(norms, eps: float = 1e-8) -> torch.Tensor:
    """Mask of collapsed classes: norm < eps * max norm (all True if every norm is 0)."""
    r = as_f64(norms)
    if r.numel() == 0:
        return r.bool()
    top = r.amax()
    return torch.where(top > 0, r < eps * top, True)


def frame_targets(geometry: dict, device=None) -> dict:
    """The predicted frame of a ``theory.predicted_geometry`` output, as device tensors.

    OF: uncentred means vs O_K; ETF: centred means vs E_K; GOF: uncentred means vs the
    predicted diagonal Grams. Restricted to the classes predicted to survive (a
    collapsed class has no direction). Build once per run and pass to
    :func:`nc_metrics`: moving them every record would cost host -> device copies.
    """
    S = np.flatnonzero(np.asarray(geometry["survives"], dtype=bool))
    k, frame = S.size, geometry["frame"]
    if frame == "OF":
        tf = tw = tz = of_gram(k, device)
    elif frame == "ETF":
        tf = tw = tz = etf_gram(k, device)
    else:  # GOF: the predicted diagonal Grams restricted to the survivors
        sub = np.ix_(S, S)
        tf = as_f64(np.asarray(geometry["gram_features"], float)[sub], device)
        tw = as_f64(np.asarray(geometry["gram_classifier"], float)[sub], device)
        tz = torch.diag(as_f64(np.asarray(geometry["logit_diag"], float)[S], device))
    return {"survivors": torch.as_tensor(S, dtype=torch.long, device=device),
            "centred": bool(geometry["centred"]), "features": tf, "classifier": tw,
            "logits": tz}


LAYER_KEYS = ("nc1", "nc2_features", "nc2_classifier", "nc3")
ALL_KEYS = (*LAYER_KEYS[:1], "nc1_quotient", *LAYER_KEYS[1:], "nc4", "equinorm_features",
            "equinorm_classifier", "equiangularity_features", "equiangularity_classifier")


def nc_metrics(H, y, W, b, n_classes: int, geometry: dict, keys=ALL_KEYS
               ) -> dict[str, torch.Tensor]:
    """The NC metrics ``keys`` for one pairing (H_j, W_M...W_j) against the predicted
    frame; ``geometry`` is a ``predicted_geometry`` output or its :func:`frame_targets`.

    NC2/NC3 and Papyan's ratios use the classes predicted to survive only; with no
    survivor there is nothing to compare and they are 0. NC1, its quotient and NC4 use
    every class. Values are 0-d tensors on H's device.
    """
    H = as_f64(H)
    W = as_f64(W, H.device)
    t = geometry if "survivors" in geometry else frame_targets(geometry, H.device)
    K = int(n_classes)
    means, mu_G = class_means(H, y, K)
    C, R = _scatter(H, y, K, means, mu_G)
    Ms = _frame_means(means, mu_G, t["centred"])[t["survivors"]]
    Ws = W[t["survivors"]]
    fns = {
        "nc1": lambda: _nc1(C, R, K),
        "nc1_quotient": lambda: _quotient(C, R, K),
        "nc2_features": lambda: nc2_features(Ms, None, t["features"], False),
        "nc2_classifier": lambda: nc2_classifier(Ws, t["classifier"]),
        "nc3": lambda: nc3(Ws, Ms, None, t["logits"], False),
        "nc4": lambda: nc4(H, y, W, b, means),
        "equinorm_features": lambda: equinorm(Ms),
        "equinorm_classifier": lambda: equinorm(Ws),
        "equiangularity_features": lambda: equiangularity(Ms),
        "equiangularity_classifier": lambda: equiangularity(Ws),
    }
    return {k: fns[k]() for k in keys}
