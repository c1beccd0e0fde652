"""Lanczos Ritz data, the networks' shapes and sizes, and the scale-invariant loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from orthoviz.deep_cg.model import DCDMNet, MultilevelNet, build, count_parameters
from orthoviz.deep_cg.spectral import lanczos, ritz_pairs, ritz_rhs
from orthoviz.deep_cg.systems import poisson_system
from orthoviz.deep_cg.train import build_data, sample, scale_invariant_loss


def test_lanczos_basis_is_orthonormal_and_tridiagonalises_A():
    s = poisson_system((12, 12), "disk")
    rng = np.random.default_rng(0)
    alpha, beta, V = lanczos(s.A, 60, rng.standard_normal(s.n))
    # full re-orthogonalisation keeps V orthonormal to round-off (plain Lanczos would
    # lose orthogonality to O(1) once Ritz values converge)
    np.testing.assert_allclose(V @ V.T, np.eye(len(alpha)), atol=1e-12)
    T = np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1)
    np.testing.assert_allclose(V @ (s.A @ V.T), T, atol=1e-11)


def test_ritz_values_match_the_exact_extreme_eigenvalues():
    # closed 32^2 box: eigenvalues 4 sin^2(pi i/2N) + 4 sin^2(pi j/2N), the lowest
    # nonzero one ~9.6e-3; 300 steps resolve both ends of the spectrum
    N = 32
    k = 4 * np.sin(np.pi * np.arange(N) / (2 * N)) ** 2
    exact = np.unique(np.round(k[:, None] + k[None, :], 12))[1:]  # distinct, nonzero
    theta, Y = ritz_pairs(poisson_system((N, N)).A, 300, np.random.default_rng(1))
    assert theta.min() > 0  # the constant null vector was kept out of the Krylov space
    # the spec's check: the extreme eigenvalues are found to 1e-8 relative (a double
    # eigenvalue may appear twice: round-off seeds its second eigenvector, which full
    # re-orthogonalisation then resolves as a genuine copy, not a ghost)
    for lam in np.concatenate([exact[:3], exact[-3:]]):
        assert np.min(np.abs(theta - lam)) < 1e-8 * lam
    assert exact[0] * (1 - 1e-10) < theta.min() and theta.max() < exact[-1] * (1 + 1e-10)
    np.testing.assert_allclose(Y.T @ Y, np.eye(Y.shape[1]), atol=1e-10)


def test_ritz_rhs_are_unit_and_weighted_towards_the_low_end():
    s = poisson_system((16, 16), "box")
    rng = np.random.default_rng(2)
    theta, Y = ritz_pairs(s.A, 100, rng)
    B = ritz_rhs(Y, 400, rng)
    np.testing.assert_allclose(np.linalg.norm(B, axis=1), 1.0, atol=1e-12)
    low = int(round(0.55 * Y.shape[1]))
    energy = ((B @ Y) ** 2).mean(axis=0)
    # 9^2 = 81 times the energy per low coefficient; 400 samples: +-15 % per mean
    ratio = energy[:low].mean() / energy[low:].mean()
    assert 60 < ratio < 105


@pytest.mark.parametrize("dim, arch, params", [(3, "from64", 97_457), (3, "from128", 152_881),
                                                (2, "from64", 32_657)])
def test_paper_network_has_the_paper_parameter_count(dim, arch, params):
    assert count_parameters(DCDMNet(dim, arch)) == params  # spec 2.1


@pytest.mark.parametrize("net", [DCDMNet(2), DCDMNet(2, in_channels=3), MultilevelNet(2, 3),
                                 DCDMNet(3), MultilevelNet(3, 2)])
def test_networks_are_fully_convolutional_on_any_grid(net):
    dim = net.dim
    for grid in ((10, 14, 9)[:dim], (16,) * dim):
        out = net(torch.zeros((2, net.in_channels, *grid)))
        assert out.shape == (2, 1, *grid)


def test_loss_is_scale_invariant_and_zero_at_the_exact_inverse():
    s = poisson_system((12, 12), "water")  # SPD: A^{-1} b exists
    op = s.stencil(dtype=torch.float64)
    b = s.rhs("plume", 0)
    b /= np.linalg.norm(b)
    x = np.linalg.solve(s.A.toarray(), b)
    bg = torch.as_tensor(s.scatter(b))[None, None]
    f = torch.as_tensor(s.scatter(x))[None, None]
    assert scale_invariant_loss(f, bg, op).item() < 1e-20  # one exact step: zero residual
    g = torch.as_tensor(s.scatter(np.random.default_rng(0).standard_normal(s.n)))[None, None]
    l1, l2 = scale_invariant_loss(g, bg, op), scale_invariant_loss(-7.5 * g, bg, op)
    torch.testing.assert_close(l1, l2, rtol=1e-12, atol=0)
    assert scale_invariant_loss(0 * g, bg, op).item() == pytest.approx(1.0)


def test_training_samples_live_on_the_fluid():
    data = build_data((16, 16), ["box", "water"], 40, np.random.default_rng(0), geometry=True)
    b, which = sample(data, 8, np.random.default_rng(1))
    assert b.shape == (8, 1, 16, 16)
    for bi, d in zip(b, which, strict=True):
        assert float(bi.norm()) == pytest.approx(1.0, rel=1e-5)
        assert float(bi[0][~torch.as_tensor(data.systems[d].fluid)].abs().sum()) == 0.0
    assert build("multilevel", 2, geometry=True, levels=2).in_channels == 3
