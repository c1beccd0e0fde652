"""Benchmark of orthoviz.deep_cg: iterations and wall time per solver and grid size.

CPU (always): 2-D grids 64^2 to 512^2, domains ``disk`` (closed, an obstacle) and
``water`` (free surface), plume right-hand side; CG, IC(0)-PCG, AMG-PCG (pyamg smoothed
aggregation), DCDM with the packaged network (depth 2; on the free surface also with
full orthogonalisation). One solve to 1e-6 per cell gives
the iterations and the wall time (setup and network inference included) to 1e-4 and
1e-6; the iteration growth from grid to grid is reported per solver.

GPU (``--gpu``, or from benchmarks/gpu_check.py through :func:`gpu_rows`): 3-D spheres
32^3 to 128^3; float64 CG with the matrix-free stencil, its bytes moved per iteration
(model) over the measured device bandwidth; a 3-D paper network trained on the GPU for
``--train-steps`` steps, then DCDM in float32 and float16 (depth 2) and with full
orthogonalisation.

Writes benchmarks/results/deep_cg.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

from common import peak_gpu_mb, peak_host_mb, report  # noqa: E402

from orthoviz.deep_cg.solvers import iterate  # noqa: E402
from orthoviz.deep_cg.systems import poisson_system  # noqa: E402

CPU_SOLVERS = {  # name -> (method, options)
    "cg": ("cg", {}),
    "ic": ("ic", {}),
    "amg": ("amg", {}),
    "dcdm": ("dcdm", {"depth": 2, "network": "packaged:dcdm2d"}),
    "dcdm_all": ("dcdm", {"depth": None, "network": "packaged:dcdm2d"}),
}


def solve_row(system, b, name: str, maxiter: int) -> dict:
    """Iterations and own wall time at which the relative residual first reaches 1e-4
    and 1e-6 (the solve runs to 1e-6; the residual is CG's recursive one between true
    checks, equal to the true one to ~1e-13 in float64)."""
    method, opts = CPU_SOLVERS[name]
    if method == "dcdm":
        opts = {**opts, "system": system}
    if method == "ic":
        opts = {"levels": np.indices(system.shape).sum(axis=0)[system.fluid]}
    row = {"solver": name}
    last = None
    for last in iterate(system.A, b, method, tol=1e-6, maxiter=maxiter, **opts):
        for tol in (1e-4, 1e-6):
            if f"iters_{tol:g}" not in row and last.residual <= tol:
                row[f"iters_{tol:g}"] = last.iteration
                row[f"wall_s_{tol:g}"] = last.wall
        if last.iteration == 0:
            row["setup_s"] = last.wall  # network load / hierarchy / factorisation
    true = float(np.linalg.norm(b - system.A @ last.x) / np.linalg.norm(b))
    row.update(final_residual=true, converged=true <= 1e-6 * (1 + 1e-9))
    return row


DCDM_MAXITER = 400  # the paper's test script stops at 100


def plan(domain: str, n: int) -> list[str]:
    """Solvers per cell. On a free surface DCDM with depth 2 stalls (shown up to 128^2,
    where it already costs 400 network calls), full orthogonalisation is run up to
    256^2 (its memory and work grow with every kept direction)."""
    names = ["cg", "ic", "amg"]
    free = domain in ("water", "open_top")
    if not free or n <= 128:
        names.append("dcdm")
    if free and n <= 256:
        names.append("dcdm_all")
    return names


def cpu_rows(sizes, domains, maxiter: int) -> list[dict]:
    rows = []
    torch.set_num_threads(1)  # small problems on a shared 2-core machine: one thread
    with threadpool_limits(1):
        for domain in domains:
            for n in sizes:
                s = poisson_system((n, n), domain)
                b = s.rhs("plume", 0)
                for name in plan(domain, n):
                    cap = DCDM_MAXITER if name.startswith("dcdm") else maxiter
                    row = {"grid": f"{n}^2", "domain": domain, "n": s.n,
                           **solve_row(s, b, name, cap)}
                    print(row, flush=True)
                    rows.append(row)
    return rows


def growth(rows: list[dict]) -> list[dict]:
    """Iterations to 1e-4 at grid 2N over grid N, per solver and domain (CG: about 2,
    i.e. O(N); an optimal method: 1)."""
    out = []
    key = {(r["domain"], r["solver"], r["grid"]): r for r in rows}
    for (domain, solver, grid), r in key.items():
        n = int(grid.split("^")[0])
        nxt = key.get((domain, solver, f"{2 * n}^2"))
        if nxt and "iters_0.0001" in r and "iters_0.0001" in nxt:
            out.append({"domain": domain, "solver": solver, "from": grid, "to": nxt["grid"],
                        "ratio": nxt["iters_0.0001"] / r["iters_0.0001"]})
    return out


# -- GPU ----------------------------------------------------------------------------
def cg_bytes_per_iteration(n: int, nnz: int, variant: str = "csr64") -> int:
    """Minimum bytes one unpreconditioned CG iteration moves (spec 6.3): one SpMV
    (values, column indices, row pointers, x read once, y written) plus about 12 vector
    passes (2 dot products, 3 axpys). ``stencil64``: the matrix-free stencil in float64
    with one flag byte per row instead of the matrix."""
    if variant == "csr64":
        spmv = nnz * (8 + 4) + (n + 1) * 4 + 2 * n * 8
    elif variant == "csr32":
        spmv = nnz * (4 + 4) + (n + 1) * 4 + 2 * n * 4
    elif variant == "stencil64":
        spmv = n * (8 + 8 + 1)
    else:
        raise ValueError(variant)
    return spmv + 12 * n * (4 if variant == "csr32" else 8)


def device_bandwidth(device: str = "cuda", mib: int = 1024) -> float:
    """Measured device-to-device copy bandwidth (bytes/s: read + write)."""
    from orthoviz.deep_cg.gpu import _sync

    x = torch.empty(mib * 2**20 // 4, device=device)
    y = torch.empty_like(x)
    y.copy_(x)
    _sync(device)
    t = time.perf_counter()
    for _ in range(10):
        y.copy_(x)
    _sync(device)
    return 2 * x.numel() * 4 * 10 / (time.perf_counter() - t)


def _train_3d(steps: int, device: str, grid: int = 32):
    from orthoviz.deep_cg import DeepCGTrain

    exp = DeepCGTrain.from_preset("default", dim=3, grid=grid, lanczos_steps=500, batch=8,
                                  steps=steps, lr_decay=True, eval_grid=grid,
                                  eval_domain="sphere", compare_with="")
    final = list(exp.run(seed=0, device=device))[-1]
    from orthoviz.deep_cg.model import build

    net = build("dcdm", 3)
    net.load_state_dict(final.artifacts["weights"])
    return net, final.scalars


def gpu_rows(device: str = "cuda", sizes=(32, 64, 128), train_steps: int = 1500,
             train_grid: int = 32, mib: int = 1024) -> tuple:
    """3-D rows on the GPU: CG (float64, stencil) and DCDM (fp32/fp16 network)."""
    from orthoviz.deep_cg.gpu import cg_grid, dcdm_grid

    bw = device_bandwidth(device, mib)
    t = time.perf_counter()
    net, train = _train_3d(train_steps, device, train_grid)
    train["seconds_total"] = time.perf_counter() - t
    rows = []
    for n in sizes:
        s = poisson_system((n, n, n), "sphere")
        b = torch.as_tensor(s.scatter(s.rhs("plume", 0)), device=device)[None, None]
        op = s.stencil(device, torch.float64)
        cg = cg_grid(op, b, tol=1e-4, check_every=10)
        moved = cg_bytes_per_iteration(s.n, s.A.nnz, "stencil64")
        rows.append({"grid": f"{n}^3", "n": s.n, "solver": "cg (fp64 stencil)", **cg,
                     "bytes_per_iter": moved, "min_ms_per_iter": 1e3 * moved / bw,
                     "bandwidth_fraction": moved / (cg["ms_per_iter"] / 1e3) / bw})
        dtypes = (torch.float32, torch.float16) if device != "cpu" else (torch.float32,)
        for depth, dt in [(2, d) for d in dtypes] + [(None, torch.float32)]:
            out = dcdm_grid(op, b, net, depth=depth, tol=1e-4, maxiter=300, net_dtype=dt)
            name = f"dcdm{'' if depth else ' all'} ({str(dt)[6:]})"
            rows.append({"grid": f"{n}^3", "n": s.n, "solver": name, **out})
        print(rows[-1 - len(dtypes):], flush=True)
    return rows, {"bandwidth_GBps": bw / 1e9, "train": train}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256, 512])
    ap.add_argument("--domains", nargs="+", default=["disk", "water"])
    ap.add_argument("--maxiter", type=int, default=5000, help="cap of the classical solvers")
    ap.add_argument("--gpu", action="store_true", help="also the 3-D GPU rows")
    ap.add_argument("--no-cpu", action="store_true", help="only the GPU rows")
    ap.add_argument("--train-steps", type=int, default=1500)
    args = ap.parse_args()
    rows = [] if args.no_cpu else cpu_rows(args.sizes, args.domains, args.maxiter)
    extra = {"growth": growth(rows), "loadavg": os.getloadavg(),
             "peak_host_mb": peak_host_mb()}
    if args.gpu and torch.cuda.is_available():
        g, info = gpu_rows("cuda", train_steps=args.train_steps)
        rows += g
        extra.update(gpu=info, peak_gpu_mb=peak_gpu_mb())
    report("deep_cg", rows, extra)
    for g in extra["growth"]:
        print(f"growth {g['domain']:<6} {g['solver']:<16} {g['from']}->{g['to']}: "
              f"x{g['ratio']:.2f}")


if __name__ == "__main__":
    main()
