"""Assembly of the pressure-Poisson systems: the stencil rule, null spaces, definiteness,
right-hand sides and the matrix-free torch operator."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from orthoviz.deep_cg.flags import AIR, DOMAINS, FLUID, SOLID, make_flags
from orthoviz.deep_cg.systems import from_flags, poisson_system

CLOSED = ("box", "disk", "boxes", "blobby")


def _dense_eigs(s):
    return np.linalg.eigvalsh(s.A.toarray())


@pytest.mark.parametrize("domain", DOMAINS)
def test_flags_are_deterministic_and_valid(domain):
    a = make_flags((24, 24), domain, seed=5)
    assert np.array_equal(a, make_flags((24, 24), domain, seed=5))
    assert set(np.unique(a)) <= {SOLID, FLUID, AIR}
    assert (a == FLUID).any()


def test_random_domains_change_with_the_seed():
    for domain in ("boxes", "blobby"):
        assert not np.array_equal(make_flags((32, 32), domain, 0), make_flags((32, 32), domain, 1))


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("shape", [(16, 16), (8, 8, 8)])
def test_assembly_matches_the_stencil_rule(domain, shape):
    s = poisson_system(shape, domain, seed=2)
    A = s.A
    assert (A != A.T).nnz == 0
    # exact integers: off-diagonals -1, the diagonal counts the non-solid neighbours
    off = A - sp.diags(A.diagonal())
    assert set(np.unique(off.data)) <= {-1.0, 0.0}
    # row sums: zero except next to AIR, where they count the air faces (all integers)
    rowsum = np.asarray(A.sum(axis=1)).ravel()
    padded = np.pad(s.flags == AIR, 1)
    air_faces = np.zeros(shape)
    for axis in range(len(shape)):
        for shift in (-1, 1):
            air_faces += np.roll(padded, shift, axis=axis)[tuple([slice(1, -1)] * len(shape))]
    np.testing.assert_array_equal(rowsum, s.gather(air_faces))
    # the index map is a bijection onto the fluid cells
    assert np.array_equal(np.sort(s.index[s.fluid]), np.arange(s.n))
    assert (s.index[~s.fluid] == -1).all()


@pytest.mark.parametrize("domain", CLOSED)
def test_closed_domain_has_a_one_dimensional_null_space(domain):
    s = poisson_system((16, 16), domain, seed=1)
    lam = _dense_eigs(s)
    # eigenvalues of an integer matrix with entries <= 4: round-off ~ 1e-15 * ||A||;
    # the next eigenvalue of a 16^2 Laplacian is ~0.04, far above 1e-10
    assert abs(lam[0]) < 1e-10 and lam[1] > 1e-3
    assert s.singular and s.null_space().shape == (s.n, 1)
    np.testing.assert_allclose(s.A @ s.null_space()[:, 0], 0.0, atol=1e-14)


@pytest.mark.parametrize("domain", ("water", "open_top"))
def test_free_surface_makes_A_positive_definite(domain):
    s = poisson_system((16, 16), domain)
    assert not s.singular
    assert _dense_eigs(s)[0] > 1e-4  # smallest eigenvalue bounded away from zero


def test_box_spectrum_is_the_cosine_spectrum():
    # closed 16^2 box = Neumann Laplacian: eigenvalues 4 sin^2(pi i/2N) + 4 sin^2(pi j/2N)
    N = 16
    k = 4 * np.sin(np.pi * np.arange(N) / (2 * N)) ** 2
    exact = np.sort((k[:, None] + k[None, :]).ravel())
    np.testing.assert_allclose(_dense_eigs(poisson_system((N, N))), exact, atol=1e-12)


@pytest.mark.parametrize("kind", ("plume", "noise", "known"))
@pytest.mark.parametrize("domain", ("box", "water"))
def test_rhs_is_consistent(kind, domain):
    s = poisson_system((16, 16), domain)
    b = s.rhs(kind, seed=3)
    assert b.shape == (s.n,) and np.isfinite(b).all() and np.linalg.norm(b) > 0
    if s.singular:  # zero mean: orthogonal to the null space, to round-off
        assert abs(s.null_space()[:, 0] @ b) < 1e-12 * np.linalg.norm(b)
    np.testing.assert_array_equal(b, s.rhs(kind, seed=3))


def test_known_rhs_is_A_times_the_known_solution():
    s = poisson_system((12, 12), "disk")
    np.testing.assert_allclose(s.rhs("known", 4), s.A @ s.known_solution(4), rtol=0, atol=1e-14)


def test_generated_domains_have_one_fluid_region_and_hand_made_pockets_count():
    from scipy import ndimage

    for seed in range(4):  # enclosed pockets of the random domains were made solid
        for domain in ("boxes", "blobby"):
            assert ndimage.label(make_flags((32, 32), domain, seed) == FLUID)[1] == 1
    f = make_flags((6, 6), "box")
    f[1:5, 1:5] = SOLID
    f[2:4, 2:4] = FLUID  # an enclosed 2x2 pocket: a second null vector
    s = from_flags(f)
    assert len(s.closed_components) == 2
    lam = np.linalg.eigvalsh(s.A.toarray())
    assert np.sum(np.abs(lam) < 1e-10) == 2


@pytest.mark.parametrize("domain", ("blobby", "water"))
@pytest.mark.parametrize("shape", [(12, 10), (6, 5, 4)])
def test_stencil_operator_matches_the_csr_matrix(domain, shape):
    s = poisson_system(shape, domain, seed=1)
    x = np.random.default_rng(0).standard_normal((3, s.n))
    op = s.stencil(dtype=torch.float64)
    grids = torch.as_tensor(np.stack([s.scatter(v) for v in x]))[:, None]
    y = op(grids)[:, 0].numpy()
    for v, g in zip(x, y, strict=True):
        np.testing.assert_allclose(s.gather(g), s.A @ v, rtol=0, atol=1e-13)
        assert np.all(g[~s.fluid] == 0)
