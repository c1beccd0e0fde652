"""Measurements of a solve: pure functions of arrays (tested on constructed inputs in
``tests/deep_cg/test_metrics.py``)."""

from __future__ import annotations

import numpy as np


def relative_residual(A, b: np.ndarray, x: np.ndarray) -> float:
    """The true relative residual ``||b - A x|| / ||b||`` (0 for b = 0 and x = 0)."""
    bn = float(np.linalg.norm(b))
    r = float(np.linalg.norm(b - A @ x))
    return r / bn if bn > 0 else r


def a_orthogonality(P: list[np.ndarray], AP: list[np.ndarray]) -> np.ndarray:
    """Cosines in the A-inner product of directions p_i (with A p_i given):
    ``|p_i . A p_j| / sqrt((p_i . A p_i)(p_j . A p_j))``; the identity for A-conjugate
    directions. Shape (k, k)."""
    if not P:
        return np.zeros((0, 0))
    Pm, APm = np.stack(P), np.stack(AP)
    G = Pm @ APm.T
    G = 0.5 * (G + G.T)  # symmetric in exact arithmetic
    d = np.sqrt(np.clip(np.diag(G), 1e-300, None))
    return np.abs(G) / np.outer(d, d)


def orthogonality_defect(C: np.ndarray) -> float:
    """Largest off-diagonal entry of an A-orthogonality matrix (0 when conjugate)."""
    if C.shape[0] < 2:
        return 0.0
    return float(np.max(C - np.diag(np.diag(C))))


def field_image(system, v: np.ndarray, max_side: int = 128) -> np.ndarray:
    """A vector over the unknowns as a 2-D image (NaN outside the fluid), float32.

    3-D grids show the vertical slice through the middle of the last axis. Images
    larger than ``max_side`` are block-averaged (ignoring non-fluid cells) so that a
    record stays small.
    """
    g = system.scatter(np.asarray(v, dtype=np.float64), fill=np.nan)
    if g.ndim == 3:
        g = g[:, :, g.shape[2] // 2]
    f = int(np.ceil(max(g.shape) / max_side))
    if f > 1:
        h, w = (g.shape[0] // f) * f, (g.shape[1] // f) * f
        blocks = g[:h, :w].reshape(h // f, f, w // f, f)
        ok = np.isfinite(blocks)
        count = ok.sum(axis=(1, 3))
        total = np.where(ok, blocks, 0.0).sum(axis=(1, 3))
        g = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return g.astype(np.float32)


def flags_image(flags: np.ndarray) -> np.ndarray:
    """The cell flags as a 2-D image (3-D: the middle vertical slice), int8."""
    flags = np.asarray(flags)
    return (flags[:, :, flags.shape[2] // 2] if flags.ndim == 3 else flags).astype(np.int8)
