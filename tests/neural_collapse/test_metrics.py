"""Neural-collapse metrics (spec neural_collapse.md §3, pitfalls 6.1, 6.2, 6.7).

Tolerances: exact constructions are built in float64 from O(1) numbers, so shape
distances are rounding-limited at ~1e-15; 1e-12 leaves three orders of margin. Random
frames sit at O(0.1-1), so "> 0.1" separates them from collapse unambiguously.
"""

import math

import numpy as np
import pytest
import scipy.linalg

from orthoviz.neural_collapse.metrics import (
    class_means,
    collapsed,
    equiangularity,
    equinorm,
    etf_gram,
    frame_distance,
    nc1,
    nc1_quotient,
    nc2_classifier,
    nc2_features,
    nc3,
    nc4,
    nc_metrics,
    of_gram,
)
from orthoviz.neural_collapse.theory import predicted_geometry

TOL = 1e-12


def embed(V, d, seed=0):
    """Rows of V (K, K) placed in R^d through a random orthonormal basis."""
    Q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, V.shape[1])))
    return V @ Q.T


def samples(means, n, noise=0.0, seed=1):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(means)), n)
    return means[y] + noise * rng.normal(size=(len(y), means.shape[1])), y


def optimum(geo, n, d=7):
    """Exact features/classifier realising a predicted_geometry output (NC1 exactly)."""
    K = len(n)
    if geo["frame"] == "ETF":
        P = np.eye(K) - 1.0 / K
        Hb = np.sqrt(geo["feature_mean_norm_sq"][0] * K / (K - 1)) * P
        W = np.sqrt(geo["classifier_norm_sq"][0] * K / (K - 1)) * P
    else:
        Hb = np.diag(np.sqrt(geo["feature_mean_norm_sq"]))
        W = np.diag(np.sqrt(geo["classifier_norm_sq"]))
    H, y = samples(embed(Hb, d), n)
    return H, y, embed(W, d)


def test_grams_are_unit_frobenius():
    for K in (2, 3, 10):
        assert np.linalg.norm(etf_gram(K)) == pytest.approx(1.0, rel=TOL)
        assert np.linalg.norm(of_gram(K)) == pytest.approx(1.0, rel=TOL)


def test_simplex_etf_scores_zero_and_random_frame_does_not():
    K, d = 4, 9
    mu = (
        embed(3.0 * (np.eye(K) - 1.0 / K), d) + 0.7
    )  # shifted: only centred means are an ETF
    H, y = samples(mu, 5)
    means, g = class_means(H, y, K)
    W = embed(2.0 * (np.eye(K) - 1.0 / K), d)
    T = etf_gram(K)
    assert nc2_features(means, g, T, centred=True) < TOL
    assert nc2_classifier(W, T) < TOL
    assert nc3(W, means, g, T, centred=True) < TOL
    assert equinorm(means - g) < TOL and equiangularity(means - g) < TOL
    assert nc2_features(means, g, T, centred=False) > 0.1  # the shift breaks the raw Gram
    R = np.random.default_rng(5).normal(size=(K, d))
    assert nc2_classifier(R, T) > 0.1 and nc3(R, means, g, T, True) > 0.1


def test_orthogonal_frame_and_its_centred_etf():
    K, d = 3, 6
    H, y = samples(embed(1.5 * np.eye(K), d), 4)
    means, g = class_means(H, y, K)
    W = embed(0.8 * np.eye(K), d)
    assert nc2_features(means, g, of_gram(K), centred=False) < TOL
    assert nc2_classifier(W, of_gram(K)) < TOL
    assert nc3(W, means, g, of_gram(K), centred=False) < TOL
    # pitfall 6.6: centring an OF gives an ETF; the uncentred OF is not an ETF
    assert nc2_features(means, g, etf_gram(K), centred=True) < TOL
    assert nc2_features(means, g, etf_gram(K), centred=False) > 0.1
    R = np.random.default_rng(2).normal(size=(K, d))
    assert nc2_classifier(R, of_gram(K)) > 0.1


def test_general_orthogonal_frame_with_unequal_lengths():
    n = [200, 100, 50, 50]
    geo = predicted_geometry(n, 3, 5e-4, 5e-4)
    assert geo["frame"] == "GOF"
    H, y, W = optimum(geo, n)
    means, g = class_means(H, y, 4)
    assert nc2_features(means, g, geo["gram_features"], False) < TOL
    assert nc2_classifier(W, geo["gram_classifier"]) < TOL
    assert nc3(W, means, g, np.diag(geo["logit_diag"]), False) < TOL
    assert nc2_classifier(W, of_gram(4)) > 1e-3  # unequal lengths are not an OF
    assert equinorm(W) > 0.1 and equiangularity(W) < TOL  # orthogonal, unequal norms
    out = nc_metrics(H, y, W, None, 4, geo)
    assert out["equinorm_features"] > 0.1 and out["equinorm_classifier"] > 0.1  # by design
    assert all(v < TOL for k, v in out.items() if not k.startswith("equinorm")), out


@pytest.mark.parametrize(
    "loss,n", [("mse", [30] * 4), ("mse_bias", [30] * 4), ("ce", [30] * 4)]
)
def test_nc_metrics_zero_at_the_predicted_optimum(loss, n):
    geo = predicted_geometry(n, 2, 1e-3, 1e-3, loss)
    H, y, W = optimum(geo, n)
    out = nc_metrics(H, y, W, geo["bias"], len(n), geo)
    assert set(out) == {
        "nc1",
        "nc1_quotient",
        "nc2_features",
        "nc2_classifier",
        "nc3",
        "nc4",
        "equinorm_features",
        "equinorm_classifier",
        "equiangularity_features",
        "equiangularity_classifier",
    }
    assert all(v < TOL for v in out.values()), out


def test_collapsed_classes_stay_finite():
    n = [200, 100, 50, 50]
    geo = predicted_geometry(n, 1, 0.02, 0.02)  # minority collapse: classes 2, 3 die
    assert geo["survives"].tolist() == [True, True, False, False]
    H, y, W = optimum(geo, n)
    H[y == 2] = 1e-60  # what GD leaves behind (pitfall 6.7) ...
    W[2] = 1e-60
    out = nc_metrics(H, y, W, None, 4, geo)
    assert all(math.isfinite(float(v)) for v in out.values()), out
    assert out["nc2_features"] < TOL and out["nc2_classifier"] < TOL and out["nc3"] < TOL
    assert collapsed(np.linalg.norm(W, axis=1)).tolist() == [False, False, True, True]
    # everything collapsed: prediction and data both zero
    dead = predicted_geometry([50] * 3, 3, 1.0, 1.0)
    for frame_geo in (dead, predicted_geometry([50] * 3, 3, 1.0, 1.0, "mse_bias")):
        out = nc_metrics(
            np.zeros((150, 5)),
            np.repeat(np.arange(3), 50),
            np.zeros((3, 5)),
            None,
            3,
            frame_geo,
        )
        assert all(math.isfinite(float(v)) for v in out.values()), out
    assert frame_distance(np.zeros((3, 3)), of_gram(3)) == 1.0
    assert frame_distance(np.zeros((3, 3)), np.zeros((3, 3))) == 0.0
    tiny = 1e-170 * of_gram(3)  # squares underflow: normalisation must rescale first
    assert frame_distance(tiny, of_gram(3)) < TOL
    assert equinorm(np.zeros((3, 4))) == 0.0 and equiangularity(np.zeros((3, 4))) == 0.0
    assert collapsed(np.zeros(3)).all()


def sigma_w_b(H, y, K):
    """Spec 3.1 written out with explicit loops: Sigma_W (1/N), Sigma_B (uniform 1/K)."""
    N, d = H.shape
    mu_G = H.sum(0) / N
    Sw, Sb = np.zeros((d, d)), np.zeros((d, d))
    for k in range(K):
        Hk = H[y == k]
        mu = Hk.mean(0)
        Sw += (Hk - mu).T @ (Hk - mu) / N
        Sb += np.outer(mu - mu_G, mu - mu_G) / K
    return Sw, Sb


@pytest.mark.parametrize("seed", range(4))
def test_nc1_matches_independent_computations(seed):
    rng = np.random.default_rng(seed)
    K, d = 5, 12
    n = rng.integers(
        3, 20, size=K
    )  # imbalanced: sample-weighted mu_G, uniform 1/K in Sigma_B
    H, y = samples(rng.normal(size=(K, d)), n, noise=0.5, seed=seed)
    Sw, Sb = sigma_w_b(H, y, K)
    # scipy.linalg.pinv with an explicit cutoff far above rounding (~1e-16) and far below
    # the K-1 genuine eigenvalues (O(1) here)
    ref = np.trace(Sw @ scipy.linalg.pinv(Sb, atol=0.0, rtol=1e-8)) / K
    # whitening: Sigma_B^+ = B B^T with B = U_r Lambda_r^(-1/2) over the top K-1 eigenpairs
    lam, U = np.linalg.eigh(Sb)
    B = U[:, -(K - 1) :] / np.sqrt(lam[-(K - 1) :])
    white = np.trace(B.T @ Sw @ B) / K
    got = nc1(H, y, K)
    assert got == pytest.approx(ref, rel=1e-10) and got == pytest.approx(white, rel=1e-10)
    assert nc1_quotient(H, y, K) == pytest.approx(np.trace(Sw) / np.trace(Sb), rel=1e-12)


def test_nc1_float32_collapsed_configuration():
    """Pitfall 6.1: near collapse, float32 Sigma_B has noise eigenvalues ~1e-8 relative."""
    K, d = 4, 64
    mu = embed(np.eye(K), d) * 3.0
    H, y = samples(mu, 100, noise=1e-3, seed=3)
    H32 = H.astype(np.float32)
    Sw, Sb = sigma_w_b(
        H32.astype(np.float64), y, K
    )  # the same numbers, exact float64 algebra
    lam, U = np.linalg.eigh(Sb)
    B = U[:, -(K - 1) :] / np.sqrt(lam[-(K - 1) :])
    truth = np.trace(B.T @ Sw @ B) / K  # ~ 1e-7
    # the float32 data are exact in float64, so the only error is float64 rounding
    assert nc1(H32, y, K) == pytest.approx(truth, rel=1e-9)
    m32, g32 = H32.reshape(K, 100, d).mean(1), H32.mean(0)
    Sb32 = ((m32 - g32).T @ (m32 - g32) / K).astype(np.float32)
    Sw32 = Sw.astype(np.float32)
    naive = np.trace(Sw32 @ np.linalg.pinv(Sb32)) / K  # numpy's default rcond on float32
    assert abs(naive - truth) > 10 * truth  # the pitfall is real for this configuration
    # exact within-class collapse: Sigma_W is rounding only (~1e-33 here), never negative
    assert 0.0 <= nc1(np.tile(mu, (3, 1)), np.tile(np.arange(K), 3), K) < 1e-28


def test_nc4_with_explicit_ties():
    # classes 0, 1 alive on e_0, e_1; classes 2, 3 collapsed: zero features, zero rows
    H = np.array([[2.0, 0.0], [0.0, 3.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    y = np.array([0, 1, 2, 3, 3])
    W = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0], [0.0, 0.0]])
    # collapsed samples: all-zero logits -> class 0 (smallest index); NCC: mu_2 = mu_3 = 0
    # tie -> class 2. Mismatch on all three collapsed samples, none on the live ones.
    assert nc4(H, y, W) == pytest.approx(3 / 5, rel=TOL)
    # a bias breaking the logit tie towards class 2: class-2 samples now agree, and so do
    # class-3 samples, whose NCC tie (mu_2 = mu_3) also resolves to class 2
    assert nc4(H, y, W, b=np.array([0.0, 0.0, 0.5, 0.0])) == 0.0
    assert nc4(H, y, W, b=np.array([0.0, 0.0, 0.0, 0.5])) == pytest.approx(3 / 5, rel=TOL)
    Hs, ys = samples(embed(np.eye(3), 5), 4, noise=0.05)
    assert nc4(Hs, ys, embed(np.eye(3), 5)) == 0.0
