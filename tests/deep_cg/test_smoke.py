"""The 2-D smoke simulation: its pressure projection makes the velocity divergence-free,
and its frames are consistent right-hand sides the solvers handle."""

import numpy as np
import pytest

from orthoviz.deep_cg import smoke
from orthoviz.deep_cg.solvers import solve
from orthoviz.deep_cg.systems import poisson_system


@pytest.mark.parametrize("domain", ("box", "disk", "water"))
def test_projection_removes_the_divergence(domain):
    s = poisson_system((24, 24), domain)
    rng = np.random.default_rng(0)
    n0, n1 = s.shape
    u0 = rng.standard_normal((n0 + 1, n1)) * smoke._open_faces(s.flags, 0)
    u1 = rng.standard_normal((n0, n1 + 1)) * smoke._open_faces(s.flags, 1)
    before = np.linalg.norm(s.gather(smoke.divergence(u0, u1)))
    b, _ = smoke.project(s, u0, u1, tol=1e-10)
    after = np.linalg.norm(s.gather(smoke.divergence(u0, u1)))
    # div u_new = div u* + A p - b (exactly, by the stencil), so it is the solve's
    # residual: at most tol ||b|| = 1e-10 ||div u*|| (plus round-off)
    assert after <= 2e-10 * before
    np.testing.assert_allclose(np.linalg.norm(b), before, rtol=1e-12)


def test_smoke_frames_are_consistent_right_hand_sides():
    s = poisson_system((24, 24), "disk")
    frames = list(smoke.smoke_frames(s, frames=4, seed=1))
    assert len(frames) == 4 and all(np.linalg.norm(b) > 0 for b in frames)
    b = s.rhs("smoke", seed=1)
    assert abs(s.null_space()[:, 0] @ b) < 1e-12 * np.linalg.norm(b)  # zero mean
    _, info = solve(s.A, b, "cg", tol=1e-6)
    assert info.converged
