"""A small 2-D smoke simulation whose pressure projections give real right-hand sides.

Chorin splitting on a MAC grid (spec 1.1), unit cells and time step folded into the
velocity: each frame

1. adds smoke density at a source near the bottom and buoyancy ``v0 += g_b * density``
   on the vertical faces;
2. advects density and both face velocities semi-Lagrangianly (bilinear
   interpolation, ``scipy.ndimage.map_coordinates``);
3. closes the faces that touch a SOLID cell or the walls (Neumann);
4. solves ``A p = b`` with ``b = -div u*`` over the FLUID cells (AIR has p = 0) and
   subtracts the pressure difference across every open face, which makes
   ``div u = 0`` up to the solver tolerance: ``div_i - sum_j (p_i - p_j) = div_i + b_i``.

:func:`smoke_frames` yields the right-hand side ``b`` of every frame (the paper's
"div_v_star"); ``tests/deep_cg/test_smoke.py`` checks the projection.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy import ndimage

from orthoviz.deep_cg.flags import FLUID, SOLID
from orthoviz.deep_cg.solvers import solve


def _open_faces(flags: np.ndarray, axis: int) -> np.ndarray:
    """Faces normal to ``axis`` (shape +1 along it) that carry flow: no SOLID side (the
    walls outside the grid are solid) and at least one FLUID side."""
    padded = np.pad(flags, [(1, 1) if a == axis else (0, 0) for a in range(2)],
                    constant_values=SOLID)
    lo = np.take(padded, range(0, padded.shape[axis] - 1), axis=axis)
    hi = np.take(padded, range(1, padded.shape[axis]), axis=axis)
    return (lo != SOLID) & (hi != SOLID) & ((lo == FLUID) | (hi == FLUID))


def divergence(u0: np.ndarray, u1: np.ndarray) -> np.ndarray:
    """Net outflow of every cell (unit cells), shape of the cell grid."""
    return (u0[1:] - u0[:-1]) + (u1[:, 1:] - u1[:, :-1])


def _sample(field: np.ndarray, pos0: np.ndarray, pos1: np.ndarray) -> np.ndarray:
    return ndimage.map_coordinates(field, [pos0, pos1], order=1, mode="nearest")


def _velocity_at(u0, u1, p0, p1):
    """Velocity at points given in cell-centre index coordinates (u0 faces sit at
    i - 1/2 along axis 0, u1 faces at j - 1/2 along axis 1)."""
    return _sample(u0, p0 + 0.5, p1), _sample(u1, p0, p1 + 0.5)


def _advect(q: np.ndarray, u0, u1, offset: tuple[float, float]) -> np.ndarray:
    """Semi-Lagrangian step of a quantity stored at index + ``offset``."""
    i0, i1 = np.indices(q.shape, dtype=np.float64)
    p0, p1 = i0 + offset[0], i1 + offset[1]
    v0, v1 = _velocity_at(u0, u1, p0, p1)
    return _sample(q, p0 - v0 - offset[0], p1 - v1 - offset[1])


def project(system, u0: np.ndarray, u1: np.ndarray, tol: float = 1e-10):
    """Make (u0, u1) divergence-free on the fluid; returns (b, p) of the solve."""
    b = -system.gather(divergence(u0, u1))
    b = system.project(b)  # closed regions: zero net inflow (round-off only)
    # CG, not AMG: the V-cycle of a singular (closed) system stalls near 1e-8
    p_vec, _ = solve(system.A, b, "cg", tol=tol)
    p = system.scatter(p_vec)  # 0 at AIR and SOLID cells
    for axis, u in ((0, u0), (1, u1)):
        pad = [(1, 1) if a == axis else (0, 0) for a in range(2)]
        pp = np.pad(p, pad)
        grad = np.diff(pp, axis=axis)
        u -= np.where(_open_faces(system.flags, axis), grad, 0.0)
    return b, p_vec


def smoke_frames(system, frames: int = 10, seed: int = 0,
                 buoyancy: float = 0.5) -> Iterator[np.ndarray]:
    """Right-hand sides ``b = -div u*`` (over the unknowns) of ``frames`` frames of a
    rising smoke plume in the system's domain (2-D), projected after each frame."""
    if system.flags.ndim != 2:
        raise ValueError("the smoke simulation is 2-D")
    rng = np.random.default_rng(seed)
    n0, n1 = system.shape
    u0, u1 = np.zeros((n0 + 1, n1)), np.zeros((n0, n1 + 1))
    dens = np.zeros((n0, n1))
    c1 = n1 * rng.uniform(0.35, 0.65)
    src = (np.abs(np.arange(n0)[:, None] - 0.12 * n0) < max(1, 0.04 * n0)) & (
        np.abs(np.arange(n1)[None, :] - c1) < max(1, 0.08 * n1))
    open0, open1 = _open_faces(system.flags, 0), _open_faces(system.flags, 1)
    for _ in range(frames):
        dens[src & system.fluid] = 1.0
        u0[1:-1] += buoyancy * 0.5 * (dens[1:] + dens[:-1])  # up along axis 0
        dens = _advect(dens, u0, u1, (0.0, 0.0)) * system.fluid
        u0, u1 = _advect(u0, u0, u1, (-0.5, 0.0)), _advect(u1, u0, u1, (0.0, -0.5))
        u0 *= open0
        u1 *= open1
        b, _ = project(system, u0, u1)
        yield b

