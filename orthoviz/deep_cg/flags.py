"""Cell flags of the pressure-Poisson test domains (2-D and 3-D, from a seed).

Kaneda et al., "A Deep Conjugate Direction Method for Iteratively Solving Linear
Systems" (ICML 2023), solve the pressure projection of a MAC-grid fluid solver: every
cell is FLUID (an unknown), SOLID (Neumann walls and obstacles) or AIR (free surface,
Dirichlet p = 0). The integer codes are those of the authors' follow-up code
(1 = SOLID, 2 = FLUID, 3 = AIR); outside the grid is always a solid wall.

Axis 0 is the vertical ("height", index 0 at the bottom); the other axes are horizontal.
Lengths are fractions of the box side, measured at cell centres ``(i + 0.5) / N``.

Checked by ``tests/deep_cg/test_systems.py``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

SOLID, FLUID, AIR = 1, 2, 3
DOMAINS = ("box", "disk", "sphere", "boxes", "blobby", "water", "open_top")
#: domains whose fluid touches AIR, so that A is nonsingular (all others are closed)
FREE_SURFACE = ("water", "open_top")


def _centres(shape: tuple[int, ...]) -> list[np.ndarray]:
    """Cell-centre coordinates in [0, 1] per axis, broadcastable against the grid."""
    out = []
    for a, n in enumerate(shape):
        c = (np.arange(n) + 0.5) / n
        out.append(c.reshape([-1 if b == a else 1 for b in range(len(shape))]))
    return out


def _ball(shape, centre, radius) -> np.ndarray:
    r2 = sum((c - x0) ** 2 for c, x0 in zip(_centres(shape), centre, strict=True))
    return r2 <= radius**2


def _boxes(shape, rng: np.random.Generator, count: int = 6) -> np.ndarray:
    """``count`` axis-aligned solid boxes with sides 8-25 % of the domain."""
    solid = np.zeros(shape, bool)
    for _ in range(count):
        sl = []
        for n in shape:
            side = max(1, int(round(rng.uniform(0.08, 0.25) * n)))
            lo = int(rng.integers(0, max(1, n - side)))
            sl.append(slice(lo, lo + side))
        solid[tuple(sl)] = True
    return solid


def _blobby(shape, rng: np.random.Generator, threshold: float = 1.2) -> np.ndarray:
    """Porous solids: Gaussian-filtered white noise above ``threshold`` standard
    deviations (spec 1.4, "random"). The filter width (N/24 cells) sets the blob size."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=max(1.0, min(shape) / 24),
                                    mode="wrap")
    field = (field - field.mean()) / (field.std() + 1e-300)
    return field > threshold


def _keep_largest_fluid_component(flags: np.ndarray) -> np.ndarray:
    """Fluid pockets cut off from the main fluid region become SOLID.

    An enclosed pocket would add one null vector per pocket (or an all-zero row for a
    single walled-in cell); keeping one connected fluid region gives closed domains a
    one-dimensional null space, the constant.
    """
    labels, count = ndimage.label(flags == FLUID)  # face-connected, like the stencil
    if count <= 1:
        return flags
    sizes = np.bincount(labels.ravel())[1:]
    keep = 1 + int(np.argmax(sizes))
    out = flags.copy()
    out[(labels > 0) & (labels != keep)] = SOLID
    return out


def make_flags(shape: tuple[int, ...], domain: str = "box", seed: int = 0) -> np.ndarray:
    """Cell flags of one test domain.

    Parameters
    ----------
    shape : tuple of int
        Grid shape, 2-D ``(ny, nx)`` or 3-D ``(nz, ny, nx)``; axis 0 is the height.
    domain : str
        ``box`` (closed, all fluid), ``disk`` / ``sphere`` (centred solid ball of radius
        0.2), ``boxes`` (6 random solid boxes), ``blobby`` (thresholded smoothed noise),
        ``water`` (air above height 0.6, solid ball of radius 0.15 at height 0.3) or
        ``open_top`` (all fluid below one layer of air: Dirichlet on the top face).
    seed : int
        Seeds the random domains (``boxes``, ``blobby``); the others ignore it.

    Returns
    -------
    ndarray of int8, shape ``shape``
        ``SOLID``, ``FLUID`` or ``AIR`` per cell, with one connected fluid region.

    Examples
    --------
    >>> f = make_flags((8, 8), "water")
    >>> int((f == AIR).sum()), int((f == FLUID).sum()) > 0
    (24, True)
    """
    shape = tuple(int(n) for n in shape)
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise ValueError(f"shape must be 2-D or 3-D with positive sizes, got {shape}")
    if domain not in DOMAINS:
        raise ValueError(f"domain must be one of {', '.join(DOMAINS)}, got {domain!r}")
    rng = np.random.default_rng(seed)
    flags = np.full(shape, FLUID, np.int8)
    middle = (0.5,) * len(shape)
    height = _centres(shape)[0]
    if domain in ("disk", "sphere"):
        flags[_ball(shape, middle, 0.2)] = SOLID
    elif domain == "boxes":
        flags[_boxes(shape, rng)] = SOLID
    elif domain == "blobby":
        flags[_blobby(shape, rng)] = SOLID
    elif domain == "water":
        flags[np.broadcast_to(height > 0.6, shape)] = AIR
        flags[_ball(shape, (0.3,) + middle[1:], 0.15)] = SOLID
    elif domain == "open_top":
        flags[-1] = AIR
    return _keep_largest_fluid_component(flags)
