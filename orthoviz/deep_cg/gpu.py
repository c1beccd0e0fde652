"""CG and DCDM on full-grid torch tensors with the matrix-free stencil (the GPU path).

The SciPy solvers of :mod:`orthoviz.deep_cg.solvers` run on the host; on a GPU every
vector stays on the device as a full grid (zero outside the fluid), A is the
:class:`~orthoviz.deep_cg.stencil.StencilOperator` and the host synchronises only when
the residual norm is read (every ``check_every`` iterations for CG, every step for
DCDM, whose line search needs two dot products anyway). Vectors and dot products stay
in float64 (spec 7.1: float32 CG's true residual drifts to 1.4e-3 at 256^3); only the
network runs in float32 or float16.

These are timing kernels for ``benchmarks/deep_cg.py``; on the CPU they agree with the
SciPy solvers (``tests/deep_cg/test_gpu_path.py``).
"""

from __future__ import annotations

import time
from collections import deque

import torch


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum()


def cg_grid(op, b: torch.Tensor, tol: float = 1e-4, maxiter: int = 100_000,
            check_every: int = 10) -> dict:
    """Plain CG on (1, 1, *grid) tensors. Returns iterations (the first checked
    iteration with ``||r|| <= tol ||b||``, so rounded up to ``check_every``), the true
    relative residual, seconds and seconds per iteration."""
    _sync(b.device)
    t0 = time.perf_counter()
    x = torch.zeros_like(b)
    r = b.clone()
    p = r.clone()
    rr = _dot(r, r)
    bnorm = float(rr.sqrt())
    k = 0
    while k < maxiter:
        k += 1
        Ap = op(p)
        alpha = rr / _dot(p, Ap)
        x += alpha * p
        r -= alpha * Ap
        rr_new = _dot(r, r)
        p = r + (rr_new / rr) * p
        rr = rr_new
        if k % check_every == 0 and float(rr.sqrt()) <= tol * bnorm:
            break
    _sync(b.device)
    seconds = time.perf_counter() - t0
    true = float((b - op(x)).norm()) / bnorm
    return {"iterations": k, "residual": true, "seconds": seconds, "ms_per_iter": 1e3 * seconds / k}


@torch.no_grad()
def dcdm_grid(op, b: torch.Tensor, net: torch.nn.Module, depth: int | None = 2,
              tol: float = 1e-4, maxiter: int = 1000, net_dtype=torch.float32,
              geometry: torch.Tensor | None = None) -> dict:
    """DCDM (spec section 4) on (1, 1, *grid) float64 tensors; ``net`` in ``net_dtype``.

    Returns iterations, the true relative residual, seconds (network included) and the
    seconds spent in the network alone.
    """
    from orthoviz.deep_cg.model import network_input

    net = net.to(device=b.device, dtype=net_dtype).eval()
    fluid = op.fluid.to(b.dtype)
    _sync(b.device)
    t0 = time.perf_counter()
    net_s = 0.0
    x = torch.zeros_like(b)
    r = b.clone()
    bnorm = float(r.norm())
    window: deque = deque(maxlen=depth)
    k, res = 0, 1.0
    while k < maxiter and res > tol:
        k += 1
        t1 = time.perf_counter()
        inp = (r / r.norm()).to(net_dtype)
        q = net(network_input(inp, geometry)).to(b.dtype) * fluid
        _sync(b.device)
        net_s += time.perf_counter() - t1
        for _ in range(2):
            for p, Ap, pAp in window:
                q -= (_dot(q, Ap) / pAp) * p
        Aq = op(q)
        qAq = _dot(q, Aq)
        alpha = _dot(q, r) / qAq
        x += alpha * q
        r -= alpha * Aq
        if depth != 0:
            window.append((q, Aq, qAq))
        res = float(r.norm()) / bnorm
    _sync(b.device)
    seconds = time.perf_counter() - t0
    true = float((b - op(x)).norm()) / bnorm
    return {"iterations": k, "residual": true, "seconds": seconds, "network_seconds": net_s}
