"""Benchmark of orthoviz.random_features: prints a table, writes
benchmarks/results/random_features.json.

1. Theory on a 64 x 64 x 31 (n, k, ridge) grid with 10^4 modes (vectorised solver)
   against a per-point scalar root-finder (scipy brentq on log gamma, exact sums) in the
   same process; the baseline is timed on a random subsample and extrapolated.
2. The L1 experiment (preset gaussian_L1) on the CPU: wall time and theory error.
3. The L2 experiment (preset paper_gaussian) on CUDA, only when a GPU is present.
"""

from __future__ import annotations

import os
import sys
import time
import tracemalloc

import numpy as np
import torch
from scipy.optimize import brentq

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

from common import peak_gpu_mb, peak_host_mb, report  # noqa: E402

from orthoviz.random_features import RandomFeatures, powerlaw_spectrum, spectrum_risk  # noqa: E402


def scalar_baseline(spec, sigma2, n, k, d):
    """One point: brentq on u = log gamma for Psi(gamma) = delta, exact O(P) sums."""
    lam, v2 = spec.eigenvalues, spec.target_coeffs_sq

    def z_of(g):
        return np.sum(lam / (lam + g))

    def psi(u):
        g = np.exp(u)
        z = z_of(g)
        return g * (1 - z / k) * (n - z) - d

    r = min(n, k)
    lo = brentq(lambda u: r - z_of(np.exp(u)), -60, 30) if r < lam.size else -60.0
    g = np.exp(brentq(psi, lo, np.log(d / n) + 30, xtol=1e-14))
    L = lam / (lam + g)
    z, q = L.sum(), (L**2).sum()
    e_rf = n / ((n - z) + (z - q) * (k - z) / (k - q))
    bias = np.sum(v2 * (1 - L) ** 2) + (z - q) / (k - q) * np.sum(v2 * L * (1 - L))
    return e_rf * (bias + sigma2)


def bench_theory(rng):
    spec = powerlaw_spectrum(1.5, 1.5, 10_000)
    n = np.geomspace(10, 1e4, 64)
    k = np.geomspace(10, 1e4, 64)
    d = np.logspace(-3, 2, 31)
    spectrum_risk(spec, 0.5, 10.0, 10.0, 0.1)  # warm-up (imports, first call)
    t = time.perf_counter()
    grid = spectrum_risk(spec, 0.5, n[:, None, None], k[None, :, None], d)["test_risk"]
    t_vec = time.perf_counter() - t
    m = 200
    idx = rng.integers(0, [64, 64, 31], size=(m, 3))
    t = time.perf_counter()
    base = [scalar_baseline(spec, 0.5, n[i], k[j], d[r]) for i, j, r in idx]
    t_base = (time.perf_counter() - t) * grid.size / m
    ref = grid[idx[:, 0], idx[:, 1], idx[:, 2]]
    ok = np.isfinite(ref) & np.isfinite(base)
    err = float(np.max(np.abs(np.asarray(base)[ok] / ref[ok] - 1)))
    return {"grid_points": int(grid.size), "modes": 10_000, "vectorised_s": t_vec,
            "baseline_s_extrapolated": t_base, "baseline_subsample": m,
            "speedup": t_base / t_vec, "max_rel_diff_vs_baseline": err}


def bench_experiment(preset, device):
    exp = RandomFeatures.from_preset(preset)
    tracemalloc.start()
    t = time.perf_counter()
    final = list(exp.run(seed=0, device=device))[-1]
    wall = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    s = final.scalars
    return {"preset": preset, "device": device, "wall_s": wall,
            "python_peak_mb": peak / 2**20,
            "theory_rel_error_median": s["theory_rel_error_median"],
            "theory_rel_error_max": s["theory_rel_error_max"],
            "theory_within_tolerance": s["theory_within_tolerance"],
            "optimal_curve_monotone": s["optimal_curve_monotone"]}


def main():
    rng = np.random.default_rng(0)
    th = bench_theory(rng)
    rows = [{"case": "theory 64x64x31 grid, 1e4 modes (cpu)", "seconds": th["vectorised_s"],
             "baseline_s": th["baseline_s_extrapolated"], "ratio": th["speedup"],
             "max_rel_diff": th["max_rel_diff_vs_baseline"]}]
    runs = [bench_experiment("gaussian_L1", "cpu")]
    if torch.cuda.is_available():
        runs.append(bench_experiment("paper_gaussian", "cuda"))
    for e in runs:
        rows.append({"case": f"{e['preset']} experiment ({e['device']})", "seconds": e["wall_s"],
                     "theory_err_median": e["theory_rel_error_median"],
                     "theory_err_max": e["theory_rel_error_max"],
                     "python_peak_mb": e["python_peak_mb"]})
    report("random_features", rows, {"theory_grid": th, "experiments": runs,
                                     "loadavg": os.getloadavg(),
                                     "peak_host_mb": peak_host_mb(), "peak_gpu_mb": peak_gpu_mb()})


if __name__ == "__main__":
    main()
