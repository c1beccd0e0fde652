"""R0 of the checklist (spec §5.3): Hermite conventions, exact moments and cumulants."""

import math

import numpy as np
import pytest
import torch
from numpy.polynomial import polynomial as P

from orthoviz.hierarchical.hermite import (
    Atom,
    cumulants_from_moments,
    gauss_expect_shifted,
    gauss_rule,
    hermite,
    hermite_coeffs,
    moments_from_cumulants,
    polyval,
)


def test_hermite_is_the_normalised_probabilists_family():
    z = np.linspace(-3, 3, 13)
    # He_0..He_3 = 1, z, z^2 - 1, z^3 - 3z (spec §1.1), divided by sqrt(j!)
    for j, he in enumerate([z**0, z, z**2 - 1, z**3 - 3 * z]):
        np.testing.assert_allclose(hermite(j, z), he / math.sqrt(math.factorial(j)),
                                   atol=1e-12)
    # recursion He_{j+1} = z He_j - j He_{j-1}, checked up to j = 8
    for j in range(1, 8):
        lhs = hermite(j + 1, z) * math.sqrt(math.factorial(j + 1))
        rhs = (z * hermite(j, z) * math.sqrt(math.factorial(j))
               - j * hermite(j - 1, z) * math.sqrt(math.factorial(j - 1)))
        np.testing.assert_allclose(lhs, rhs, rtol=1e-10, atol=1e-9)


def test_orthonormality_by_quadrature_and_monte_carlo():
    z, w = gauss_rule(20)  # exact up to degree 39 >= 2 * 8
    G = np.array([[w @ (hermite(i, z) * hermite(j, z)) for j in range(9)] for i in range(9)])
    np.testing.assert_allclose(G, np.eye(9), atol=1e-10)  # spec R0: 1e-10 by quadrature
    x = np.random.default_rng(0).standard_normal(1_000_000)
    H = np.stack([hermite(j, x) for j in range(5)])
    G_mc = H @ H.T / x.size
    # MC within its confidence interval: the SE of entry (i, j) is
    # sqrt((E[h_i^2 h_j^2] - delta_ij) / N), exact by quadrature (E[h_4^4] = 639 makes
    # it 0.025 for (4, 4)); 4 SE per entry (25 entries: a false alarm has p ~ 2e-3)
    z, w = gauss_rule(20)
    E22 = np.array([[w @ (hermite(i, z) ** 2 * hermite(j, z) ** 2) for j in range(5)]
                    for i in range(5)])
    se = np.sqrt((E22 - np.eye(5)) / x.size)
    assert np.all(np.abs(G_mc - np.eye(5)) <= 4 * se), np.abs(G_mc - np.eye(5)) / se


def test_exact_gaussian_moments_of_the_building_blocks():
    h2, h3 = Atom("hermite", 2), Atom("hermite", 3)
    # spec R0: E[h_3^4] = 93, E[h_3^6] = 53745, E[h_2^4] = 15, exactly
    assert h3.moments(6)[[2, 4, 6]] == pytest.approx([1, 93, 53745], rel=1e-12)
    assert h2.moments(4)[[2, 4]] == pytest.approx([1, 15], rel=1e-12)
    # a parity z1 z2 z3: E[psi^r] = ((r-1)!!)^3 for even r
    par = Atom("parity", 3)
    assert par.moments(6)[[2, 4, 6]] == pytest.approx([1, 27, 3375], rel=1e-12)


def test_cumulants_match_the_spec_table():
    k2 = cumulants_from_moments(Atom("hermite", 2).moments(8))
    # h_2: kappa_r = 2^(r-1) (r-1)! / 2^(r/2) (chi-square cumulants rescaled)
    for r in range(2, 9):
        assert k2[r] == pytest.approx(2 ** (r - 1) * math.factorial(r - 1) / 2 ** (r / 2),
                                      rel=1e-10)
    k3 = cumulants_from_moments(Atom("hermite", 3).moments(6))
    assert k3[2:7] == pytest.approx([1, 0, 90, 0, 52380], abs=1e-8)


def test_moments_and_cumulants_are_inverse():
    m = Atom("hermite", 3).moments(10)
    np.testing.assert_allclose(moments_from_cumulants(cumulants_from_moments(m)), m,
                               rtol=1e-12)
    # a Gaussian: only kappa_2 = 1, moments (r-1)!!
    kappa = np.zeros(9)
    kappa[2] = 1.0
    assert moments_from_cumulants(kappa)[[2, 4, 6, 8]] == pytest.approx([1, 3, 15, 105])


def test_polyval_and_shifted_expectation():
    c = [0.3, 0.0, -1.2, 0.5]
    z = np.linspace(-2, 2, 9)
    np.testing.assert_allclose(polyval(c, z), P.polyval(z, c), rtol=1e-14)
    zt = torch.linspace(-2, 2, 9, dtype=torch.float64, requires_grad=True)
    polyval(c, zt).sum().backward()  # autograd through the in-place Horner steps
    np.testing.assert_allclose(zt.grad.numpy(), P.polyval(zt.detach().numpy(),
                                                          P.polyder(c)), rtol=1e-12)
    np.testing.assert_allclose(polyval(hermite_coeffs(3), z), hermite(3, z), rtol=1e-14)
    # E[(sZ + m)^2] = s^2 + m^2, E[(sZ + m)^3] = m^3 + 3 m s^2
    s, m = np.array([0.5, 2.0]), np.array([1.0, -0.3])
    np.testing.assert_allclose(gauss_expect_shifted([0, 0, 1], s, m), s**2 + m**2)
    np.testing.assert_allclose(gauss_expect_shifted([0, 0, 0, 1], s, m), m**3 + 3 * m * s**2)


def test_projection_grams_energy_sums_to_the_second_moment():
    # psi^m for m <= q has degree <= q k, so degrees <= k carry only part of it; for
    # m = 1, psi itself is pure degree k: all its energy sits in G[k]
    for atom in (Atom("hermite", 2), Atom("hermite", 3), Atom("parity", 3)):
        G = atom.projection_grams(3)
        assert G[atom.k, 1, 1] == pytest.approx(1.0, rel=1e-12)
        assert np.all(np.abs(G[: atom.k, 1, 1]) < 1e-12)
        # psi^0 = 1 is pure degree 0
        assert G[0, 0, 0] == pytest.approx(1.0) and np.all(np.abs(G[1:, 0, 0]) < 1e-12)
