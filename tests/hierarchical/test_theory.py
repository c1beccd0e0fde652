"""Exact constants of the target class (spec §1.5, R0-R1) against independent
computations: full-dimensional Gauss-Hermite quadrature over x (small d), closed forms
derived by hand, the spec's tables and Monte Carlo within its confidence interval."""

import itertools
import math

import numpy as np
import pytest
import torch
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import eval_hermitenorm

from orthoviz.hierarchical import (
    LINKS,
    degree_energies,
    kernel_plateau,
    layerwise_limits,
    make_feature,
    make_target,
    scales,
)
from orthoviz.hierarchical.data import canonical_feature
from orthoviz.hierarchical.model import sigma1_coeffs
from orthoviz.hierarchical.theory import fourth_moment, theory_curves


def _h(j, z):
    """Normalised probabilists' Hermite from scipy (independent of the package)."""
    return eval_hermitenorm(j, z) / math.sqrt(math.factorial(j))


def _grid(d, nodes):
    z, w = hermegauss(nodes)
    w = w / math.sqrt(2 * math.pi)
    X = np.array(list(itertools.product(z, repeat=d)))
    W = np.prod(np.array(list(itertools.product(w, repeat=d))), axis=1)
    return X, W


def _p_direct(feature, X):
    """p from its definition: sum_b lam_b psi(z_B), z = x Q."""
    Z = X @ feature.Q
    out = np.zeros(X.shape[0])
    for lam, block in zip(feature.lam, feature.blocks, strict=True):
        if feature.atom.kind == "hermite":
            out += lam * _h(feature.k, Z[:, block[0]])
        else:
            out += lam * np.prod(Z[:, block], axis=1)
    return out


def _oracle(target, nodes):
    """Energies of h in every total Hermite degree <= k, <h, p>, and the moments, by a
    tensor-product rule over all d coordinates (exact: the integrands are polynomials
    of degree <= 2 nodes - 1 in each coordinate)."""
    f = target.feature
    X, W = _grid(f.d, nodes)
    p = _p_direct(f, X)
    h = np.polynomial.polynomial.polyval(p, target.link)
    energy = np.zeros(f.k + 1)
    for alpha in itertools.product(range(f.k + 1), repeat=f.d):
        j = sum(alpha)
        if j <= f.k:
            H = np.prod([_h(a, X[:, i]) for i, a in enumerate(alpha)], axis=0)
            energy[j] += (W @ (h * H)) ** 2
    X4, W4 = _grid(f.d, 2 * nodes - 1)  # h^4 has twice the degree of h^2
    h4 = W4 @ np.polynomial.polynomial.polyval(_p_direct(f, X4), target.link) ** 4
    return {"energy": energy, "inner": W @ (h * p), "mean_h": W @ h, "h2": W @ h**2,
            "h4": h4, "p1": W @ p, "p2": W @ p**2}


CASES = [  # (family, k, d, basis, nodes): nodes >= (degree of h^2 per coordinate)/2 + 1
    ("hermite", 2, 4, "haar", 7),
    ("hermite", 3, 4, "haar", 10),
    ("parity", 3, 6, "coordinate", 4),
    ("parity", 2, 4, "haar", 7),
]


@pytest.mark.parametrize("family,k,d,basis,nodes", CASES)
def test_exact_constants_match_full_quadrature(family, k, d, basis, nodes):
    feature = make_feature(family, k, d, 0, basis, np.random.default_rng(7))
    for g in LINKS:
        target = make_target(feature, g)
        ref = _oracle(target, nodes)
        E = degree_energies(target)
        # both exact: agreement to float64 rounding of sums over 10^4 nodes
        assert ref["p1"] == pytest.approx(0, abs=1e-12) and ref["p2"] == pytest.approx(1)
        assert ref["mean_h"] == pytest.approx(0, abs=1e-10)  # E[h] = 0
        assert ref["h2"] == pytest.approx(1, rel=1e-10)  # E[h^2] = 1
        np.testing.assert_allclose(E["energy"][1:], ref["energy"][1:], atol=1e-10)
        assert E["inner"] == pytest.approx(ref["inner"], abs=1e-10)
        assert fourth_moment(target) == pytest.approx(ref["h4"], rel=1e-9)


@pytest.mark.parametrize("d", [8, 16, 24, 32, 40])
def test_spec_plateau_table(d):
    """§1.5: with balanced signs (K_3 = 0) and g = z^3, P_k h = C (3 + kappa_4/d) p
    exactly, so the degree-k fraction is (3 + kappa_4/d)^2 / E[p^6] with
    E[p^6] = 15 + 15 kappa_4/d + kappa_6/d^2."""
    table = {"hermite2": {8: (4.50, 0.45), 16: (3.75, 0.50), 24: (3.50, 0.53),
                          32: (3.38, 0.54), 40: (3.30, 0.55)},
             "hermite3": {8: (14.25, 0.20), 16: (8.63, 0.25), 24: (6.75, 0.28),
                          32: (5.81, 0.31), 40: (5.25, 0.34)}}
    for k, k4, k6 in ((2, 12.0, 480.0), (3, 90.0, 52380.0)):
        target = make_target(canonical_feature("hermite", k, d, 0), "cubic")
        C = target.link[3]
        E = degree_energies(target)
        ratio = 3 + k4 / d
        frac = ratio**2 / (15 + 15 * k4 / d + k6 / d**2)
        assert E["inner"] / C == pytest.approx(ratio, rel=1e-12)
        assert E["energy"][k] == pytest.approx(frac, rel=1e-12)
        assert E["energy"][k] == pytest.approx(E["inner"] ** 2, rel=1e-12)  # parallel to p
        spec_ratio, spec_frac = table[f"hermite{k}"][d]
        # the table rounds to 2-3 digits; its d = 16 cubic fraction 0.25 rounds 0.2447
        assert ratio == pytest.approx(spec_ratio, abs=0.006)
        assert frac == pytest.approx(spec_frac, abs=0.006)
        if k == 2:  # h is even: nothing in degree 1, the plateau is 1 - the fraction
            assert kernel_plateau(target) == pytest.approx(1 - frac, rel=1e-12)


@pytest.mark.parametrize("d", [8, 16, 32, 64])
def test_stein_bias_of_z_plus_z_squared(d):
    """§7.3: quadratic p, g = z + z^2: P_2 h = C (p + (2 sqrt 2 / d) sum_i h_2(z_i)), the
    extra term orthogonal to p (balanced signs) with norm^2 8/d: the correlation of the
    degree-2 part with p is capped at 1/sqrt(1 + 8/d) (0.816 at d = 16) and the Stein
    error is ||P_2 h - E[g'] p|| = C sqrt(8/d)."""
    target = make_target(canonical_feature("hermite", 2, d, 0), "linear_square")
    C = target.link[2]
    lim = layerwise_limits(target, sigma1_coeffs("hermite", 2))
    assert lim["hermite_corr"] == pytest.approx(1 / math.sqrt(1 + 8 / d), rel=1e-12)
    assert lim["feature_corr"] == pytest.approx(lim["hermite_corr"], rel=1e-12)
    assert target.stein_coefficient() == pytest.approx(C, rel=1e-12)  # E[1 + 2Z] C
    assert lim["stein_error"] == pytest.approx(C * math.sqrt(8 / d), rel=1e-10)


def test_stein_error_of_the_cubic_shrinks_like_one_over_d():
    errs = []
    for d in (8, 16, 32, 64, 128):
        target = make_target(canonical_feature("hermite", 2, d, 0), "cubic")
        lim = layerwise_limits(target, sigma1_coeffs("hermite", 2))
        C = target.link[3]
        assert lim["stein_error"] == pytest.approx(C * 12 / d, rel=1e-9)  # C kappa_4/d
        assert lim["hermite_corr"] == pytest.approx(1.0, abs=1e-12)
        errs.append(lim["stein_error"])
    assert all(a > b for a, b in zip(errs, errs[1:], strict=False))
    # E[g'(Z)] = 3C = 3 / sqrt(15 + 180/d + 480/d^2) -> 3/sqrt(15), the Gaussian limit
    assert target.stein_coefficient() == pytest.approx(3 / math.sqrt(15 + 180 / 128 + 480
                                                                      / 128**2), rel=1e-12)


def test_failure_links_carry_no_p():
    for g, k in (("square", 2), ("square", 3)):
        target = make_target(canonical_feature("hermite", k, 16, 0), g)
        assert abs(target.stein_coefficient()) < 1e-12
        E = degree_energies(target)
        assert abs(E["inner"]) < 1e-12  # balanced signs: exactly orthogonal to p
        lim = layerwise_limits(target, sigma1_coeffs("hermite", k))
        assert lim["feature_corr"] == 0.0 and lim["hermite_corr"] == 0.0


def test_he3_link_is_rescued_by_the_finite_d_bias():
    """g = He_3 has E[g'] = 0, yet P_3 He_3(p) = C (kappa_4/d) p: the O(1/d) Stein error
    points along p, so stage 1 still finds p (a slow, 1/d-sized signal)."""
    d = 16
    target = make_target(canonical_feature("hermite", 3, d, 0), "he3")
    assert abs(target.stein_coefficient()) < 1e-12
    E = degree_energies(target)
    assert E["inner"] == pytest.approx(target.link[3] * 90 / d, rel=1e-12)
    assert E["energy"][3] == pytest.approx(E["inner"] ** 2, rel=1e-12)


def test_monomial_sigma1_also_fits_degree_one():
    """z^3 = He_3 + 3 He_1: stage 1 also fits P_1 h, which lowers the corr cap below 1."""
    target = make_target(canonical_feature("hermite", 3, 16, 0), "cubic")
    E = degree_energies(target)
    lim = layerwise_limits(target, sigma1_coeffs("monomial", 3))
    assert lim["feature_corr"] == pytest.approx(
        E["inner"] / math.sqrt(E["energy"][1] + E["energy"][3]), rel=1e-12)
    assert 0.95 < lim["feature_corr"] < 1.0
    assert lim["stage1_test_loss"] == pytest.approx(kernel_plateau(target), rel=1e-12)


@pytest.mark.parametrize("family,k", [("hermite", 2), ("parity", 3)])
def test_monte_carlo_moments_within_confidence(family, k):
    """E[p] = 0, E[p^2] = 1, E[h^2] = 1 and E[h p] = <P_k h, p> by Monte Carlo (10^6
    draws) within 4 standard errors, each SE exact from the target's moments (E[h^4]
    is exact, so the heavy tails are accounted for, not guessed)."""
    d, N = 12, 1_000_000
    target = make_target(make_feature(family, k, d, 0, "haar", np.random.default_rng(1)),
                         "cubic")
    X = torch.randn(N, d, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    p, h = (t.numpy() for t in target(X))
    m = target.feature.moments(4)
    inner = degree_energies(target)["inner"]
    checks = [(p, 0.0, m[2]), (p**2, 1.0, m[4] - 1), (h**2, 1.0, fourth_moment(target) - 1),
              (h * p, inner, None)]
    for values, exact, var in checks:
        var = values.var() if var is None else var
        assert abs(values.mean() - exact) <= 4 * math.sqrt(var / N)


def test_scales_and_theory_curve_columns():
    assert scales(16, 2, 3) == {"three_layer": 256.0, "kernel": 16.0**6}
    curve = theory_curves([128, 4096], 16, 2, 3, 0.5)
    assert set(curve) == {"n", "model", "test_loss"}
    assert len({len(v) for v in curve.values()}) == 1
    # the plateau and the d^2 mark; d^6 = 1.7e7 is beyond 30 x 4096 and left out
    assert list(curve["n"]) == [128.0, 4096.0, 256.0, 256.0]
    assert list(theory_curves([4, 64], 4, 2, 2, 0.5)["n"][-2:]) == [256.0, 256.0]
