"""The full-grid torch solvers (the GPU path) agree with the SciPy ones; run here on the
CPU, and on CUDA under the ``gpu`` marker."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from orthoviz.deep_cg.dcdm import NetworkDirection, dcdm
from orthoviz.deep_cg.gpu import cg_grid, dcdm_grid
from orthoviz.deep_cg.model import DCDMNet
from orthoviz.deep_cg.solvers import solve
from orthoviz.deep_cg.systems import poisson_system
from orthoviz.deep_cg.train import init_weights

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _grid(s, v, device):
    return torch.as_tensor(s.scatter(v), device=device)[None, None]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", [(32, 32), (12, 12, 12)])
def test_grid_cg_matches_scipy_cg(device, shape):
    s = poisson_system(shape, "disk" if len(shape) == 2 else "sphere")
    b = s.rhs("plume", 0)
    _, info = solve(s.A, b, "cg", tol=1e-6)
    out = cg_grid(s.stencil(device, torch.float64), _grid(s, b, device), tol=1e-6,
                  check_every=1)
    # the same CG recurrence on the same matrix (float64), summed in another order
    assert abs(out["iterations"] - info.iterations) <= 1
    assert out["residual"] <= 1e-6 * (1 + 1e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_grid_dcdm_matches_the_host_dcdm(device):
    s = poisson_system((12, 12), "boxes", seed=1)
    b = s.rhs("plume", 0)
    net = init_weights(DCDMNet(2), torch.Generator().manual_seed(0))
    # an untrained network with every direction kept: converges within n steps
    host = [it for it in dcdm(s.A, b, NetworkDirection(net, s), depth=None, safeguard=0,
                              tol=1e-6, maxiter=s.n)]
    out = dcdm_grid(s.stencil(device, torch.float64), _grid(s, b, device), net, depth=None,
                    tol=1e-6, maxiter=s.n)
    # the float32 network sees the same residuals up to round-off, so its directions
    # agree to ~1e-6 and the counts to within a few iterations
    assert host[-1].converged
    assert abs(out["iterations"] - host[-1].iteration) <= 3
    assert out["residual"] <= 1e-6 * (1 + 1e-6)
    assert 0 < out["network_seconds"] <= out["seconds"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.xfail(strict=True, reason=(
    "measured on an H200 (2026-11-30): with an untrained network in float16 the run "
    "ends at relative residual 1.9 after 400 iterations; half precision is not safe for "
    "DCDM's directions without training (the trained 32^3 network in float16 reached "
    "1e-4 in 35 iterations, but stalled at 64^3 and 128^3: benchmarks/deep_cg.py --gpu)"))
def test_fp16_network_keeps_dcdm_converging_on_cuda():
    s = poisson_system((32, 32, 32), "sphere")
    b = s.rhs("plume", 0)
    net = init_weights(DCDMNet(3), torch.Generator().manual_seed(0))
    out = dcdm_grid(s.stencil("cuda", torch.float64), _grid(s, b, "cuda"), net, depth=None,
                    tol=1e-4, maxiter=400, net_dtype=torch.float16)
    # the line search fixes the scale, so half precision only perturbs the directions
    assert out["residual"] <= 1e-4 and np.isfinite(out["seconds"])
