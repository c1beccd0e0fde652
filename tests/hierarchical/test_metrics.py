"""The rulers before the measurements: metrics on constructed inputs, the exact
degree-k projection of a network feature against quadrature, the NTK against a wide
random network, and the closed-form ridge solves against direct solves."""

import itertools
import math

import numpy as np
import pytest
import torch
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import eval_hermitenorm

from orthoviz.hierarchical import (
    degree_k_projection,
    feature_correlation,
    make_feature,
    make_target,
    relative_mse,
    stein_alignment,
)
from orthoviz.hierarchical.fit import refined_solve
from orthoviz.hierarchical.metrics import relative_mse_se
from orthoviz.hierarchical.model import ntk_relu, ridge_solve, sigma1_coeffs


def test_feature_correlation_is_sign_and_scale_invariant():
    rng = np.random.default_rng(0)
    p = rng.standard_normal(10_000)
    assert feature_correlation(p, p) == pytest.approx(1.0)
    assert feature_correlation(-3.0 * p + 7.0, p) == pytest.approx(1.0)
    # independent draws: |corr| ~ 1/sqrt(N) = 0.01; 5 SE
    assert feature_correlation(rng.standard_normal(10_000), p) < 0.05
    assert feature_correlation(np.ones(5), np.arange(5.0)) == 0.0
    noisy = p + rng.standard_normal(10_000)  # corr 1/sqrt(2) up to 1/sqrt(N) noise
    assert feature_correlation(noisy, p) == pytest.approx(1 / math.sqrt(2), abs=0.02)


def test_relative_mse_and_its_standard_error():
    y = np.array([1.0, -1.0, 2.0, 0.0])
    pred = np.zeros(4)
    assert relative_mse(pred, y) == pytest.approx(1.5)
    assert relative_mse(pred, y, second_moment=3.0) == pytest.approx(0.5)
    out = relative_mse_se(pred, y)
    assert out["test_loss"] == pytest.approx(1.5)
    assert out["test_loss_se"] == pytest.approx(np.std(y**2, ddof=1) / 2)


def _quadrature_projection(V, s, u, sigma1, feature, nodes):
    """<P_k f, p> and ||P_k f||^2 by projecting f on every product Hermite polynomial of
    total degree k with a tensor rule over all coordinates (scipy's Hermite)."""
    z, w = hermegauss(nodes)
    w = w / math.sqrt(2 * math.pi)
    d, k = V.shape[1], feature.k
    X = np.array(list(itertools.product(z, repeat=d)))
    W = np.prod(np.array(list(itertools.product(w, repeat=d))), axis=1)
    f = np.polynomial.polynomial.polyval(X @ V.T + s, sigma1) @ u
    p = feature(torch.as_tensor(X)).numpy()
    coef_f, coef_p = [], []
    for alpha in itertools.product(range(k + 1), repeat=d):
        if sum(alpha) == k:
            H = np.prod([eval_hermitenorm(a, X[:, i]) / math.sqrt(math.factorial(a))
                         for i, a in enumerate(alpha)], axis=0)
            coef_f.append(W @ (f * H))
            coef_p.append(W @ (p * H))
    coef_f, coef_p = np.array(coef_f), np.array(coef_p)
    return {"norm_sq": coef_f @ coef_f, "inner": coef_f @ coef_p}


@pytest.mark.parametrize("family,k,sigma", [("hermite", 2, "hermite"),
                                            ("hermite", 3, "monomial"),
                                            ("parity", 3, "hermite"),
                                            ("hermite", 2, "monomial")])
def test_degree_k_projection_matches_quadrature(family, k, sigma):
    """Arbitrary (non-unit) v_j and nonzero biases s_j: the integration-by-parts
    formula P_k f = sum_j u_j E[sigma1^(k)(|v_j| Z + s_j)]/k! <v_j^k, He_k> must agree
    with brute-force projection (both exact: agreement to rounding)."""
    rng = np.random.default_rng(3)
    d, m1 = 3, 7
    feature = make_feature(family, k, d, 0, "haar", rng)
    V = rng.standard_normal((m1, d)) * rng.uniform(0.5, 1.5, (m1, 1))
    s, u = 0.3 * rng.standard_normal(m1), rng.standard_normal(m1)
    sig = sigma1_coeffs(sigma, k) + np.r_[0.2, -0.1, np.zeros(k - 1)]  # extra low terms
    exact = degree_k_projection(V, s, u, sig, feature)
    ref = _quadrature_projection(V, s, u, sig, feature, nodes=k + 2)
    assert exact["norm_sq"] == pytest.approx(ref["norm_sq"], rel=1e-10)
    assert exact["inner"] == pytest.approx(ref["inner"], rel=1e-10, abs=1e-12)


def test_stein_alignment_of_the_target_direction():
    feature = make_feature("hermite", 2, 8, 0, "haar", np.random.default_rng(0))
    # f = c p exactly: P_k f = c p, so hermite_corr = 1 and stein_error = |c - E[g']|
    c = 0.7
    proj = {"norm_sq": c * c, "inner": c}
    out = stein_alignment(proj, 0.5)
    assert out["hermite_corr"] == pytest.approx(1.0)
    assert out["stein_error"] == pytest.approx(0.2)
    assert make_target(feature, "cubic").stein_coefficient() > 0


def test_ntk_against_a_wide_random_network():
    """The NTK is E over (w, b, a) of <grad f(x), grad f(y)>; a width-m Monte Carlo
    estimate (m = 200 000) has entrywise SE ~ K/sqrt(m) ~ 0.005: 0.03 tolerance."""
    g = torch.Generator().manual_seed(0)
    d, m = 5, 200_000
    X = torch.randn(6, d, generator=g, dtype=torch.float64)
    W = torch.randn(m, d, generator=g, dtype=torch.float64)
    b = torch.randn(m, generator=g, dtype=torch.float64)
    a = torch.randn(m, generator=g, dtype=torch.float64)
    pre = X @ W.T / math.sqrt(d) + b  # (6, m)
    act, der = torch.relu(pre), (pre > 0).double()
    # d f / d a_j = relu(pre_j); d f / d (w_j, b_j) = a_j relu'(pre_j) (x/sqrt(d), 1)
    K_mc = act @ act.T / m + ((der * a**2) @ der.T / m) * (X @ X.T / d + 1)
    K = ntk_relu(X, X)
    np.testing.assert_allclose(K.numpy(), K_mc.numpy(), atol=0.03)
    # symmetric PSD, rotation invariant
    assert torch.allclose(K, K.T) and torch.linalg.eigvalsh(K).min() > -1e-10
    Q = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))[0]
    assert torch.allclose(ntk_relu(X @ Q, X @ Q), K, atol=1e-12)


@pytest.mark.parametrize("n,m", [(50, 20), (20, 50)])
def test_ridge_solve_primal_and_dual(n, m):
    g = torch.Generator().manual_seed(1)
    Phi = torch.randn(n, m, generator=g, dtype=torch.float64)
    y = torch.randn(n, generator=g, dtype=torch.float64)
    lam = 1e-3
    w = ridge_solve(Phi, y, lam)
    # normal equations of (1/n)||Phi w - y||^2 + lam ||w||^2
    ref = torch.linalg.solve(Phi.T @ Phi / n + lam * torch.eye(m, dtype=torch.float64),
                             Phi.T @ y / n)
    assert torch.allclose(w, ref, rtol=1e-9, atol=1e-10)


def test_refined_solve_reaches_float64():
    g = torch.Generator().manual_seed(2)
    X = torch.randn(400, 8, generator=g, dtype=torch.float64)
    K = ntk_relu(X, X)
    y = torch.randn(400, generator=g, dtype=torch.float64)
    for shift in (1e-4 * 400, 1e-1 * 400):
        A = K.clone()
        A.diagonal().add_(shift)
        ref = torch.linalg.solve(A, y)
        # three refinement sweeps: float32 factor, float64 residuals -> ~1e-12
        assert (refined_solve(K, shift, y) - ref).norm() / ref.norm() < 1e-10


def test_adam_matches_torch_optim():
    """The written-out Adam (no torch._dynamo import) against torch.optim.Adam: the same
    20 steps from the same start, weight decay on; float64, agreement to rounding."""
    from orthoviz.hierarchical.fit import Adam

    g = torch.Generator().manual_seed(4)
    X = torch.randn(32, 5, generator=g, dtype=torch.float64)
    y = torch.randn(32, generator=g, dtype=torch.float64)
    nets = [torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 1))
            .double() for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    ours = Adam(nets[0].parameters(), lr=1e-2, weight_decay=1e-3)
    ref = torch.optim.Adam(nets[1].parameters(), lr=1e-2, weight_decay=1e-3)
    for _ in range(20):
        for net, opt in ((nets[0], ours), (nets[1], ref)):
            opt.zero_grad()
            torch.mean((net(X)[:, 0] - y) ** 2).backward()
            opt.step()
    for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)
