"""The random-feature experiment loop: trials x sweep points, one SVD per (trial, n, k).

For each trial, draw the data and a pool of ``k_max`` features once; each sweep point
takes nested prefixes (first ``n`` training rows, first ``k`` features). The thin SVD
``Phi_tr = U S V^T`` (computed as the eigendecomposition of the smaller Gram matrix)
then serves every ridge (spec §5):

    train residual = U diag(delta/(s^2+delta)) U^T y + (I - U U^T) y
    test prediction = Phi_te V diag(s/(s^2+delta)) U^T y

so the whole ridge sweep costs O((n + n_test) min(n, k)) per ridge after one
factorisation; ``delta = 0`` is the pseudo-inverse with a cutoff on ``s`` (never an
unguarded solve: the Gram matrix is rank-deficient whenever k < n).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from orthoviz.random_features import metrics
from orthoviz.random_features.data import (
    Spectrum,
    cpu_randn,
    load_dataset,
    powerlaw_spectrum,
)
from orthoviz.random_features.model import (
    arccos_kernel,
    empirical_spectrum,
    linear_gaussian_features,
    relu_features,
)
from orthoviz.random_features.theory import spectrum_risk
from orthoviz.runtime.record import Record


@dataclass(frozen=True)
class Task:
    """What a config describes: the spectrum, the noise, and (for real data) the inputs."""

    spec: Spectrum
    noise_var: float  # sigma^2, absolute, after resolving noise_rel
    X: np.ndarray | None = None  # (N, d) real-data inputs
    y: np.ndarray | None = None  # (N,) clean labels
    population: int | None = None  # N: the finite population behind ``spec``
    exponents: dict | None = None  # measured (alpha, beta) of the real kernel


@lru_cache(maxsize=4)
def _dataset_task(name: str, population: int, data_dir: str):
    """Kernel eigendecomposition and exponents of a real data set (pure; cached because
    an eigh of N = 2000 points costs about a second)."""
    X, y = load_dataset(name, data_dir, population)
    K = arccos_kernel(X)
    spec = empirical_spectrum(K, y)
    ex = metrics.estimate_exponents(K, y, n_max=min(1000, len(y) - 200))
    for a in (X, y):
        a.setflags(write=False)
    return spec, X, y, ex


def build_task(cfg) -> Task:
    """Resolve a config into a :class:`Task` (deterministic; no RNG)."""
    if cfg.spectrum == "powerlaw":
        spec, X, y, ex, N = powerlaw_spectrum(cfg.alpha, cfg.beta, cfg.n_modes), \
            None, None, None, None
    else:
        spec, X, y, ex = _dataset_task(cfg.spectrum, cfg.population, cfg.data_dir)
        N = len(y)
    noise = cfg.noise_var
    if cfg.noise_rel > 0:  # sigma^2 = sigma_rel^2 x ridgeless noiseless KRR risk at n
        noise += cfg.noise_rel * spectrum_risk(spec, 0.0, cfg.n, np.inf, 0.0)["test_risk"]
    return Task(spec, float(noise), X, y, N, ex)


def ridge_sweep(Phi_tr, y_tr, Phi_te, y_te, ridges):
    """Train and test MSE (R,) for every ridge from one eigendecomposition.

    Uses ``eigh`` of the smaller Gram matrix (``Phi Phi^T`` when n <= k, the dual;
    ``Phi^T Phi`` otherwise, the primal) instead of an SVD: the same ``U, s^2`` at a
    fraction of the cost, and it stays fast when BLAS threads are oversubscribed.
    Eigenvalues below ``mu_max * size * 10 eps`` are dropped (the pseudo-inverse cutoff
    that makes ``delta = 0`` safe).
    """
    n, k = Phi_tr.shape
    d = torch.as_tensor(ridges, dtype=Phi_tr.dtype, device=Phi_tr.device)[None, :]
    dual = n <= k
    G = Phi_tr @ Phi_tr.T if dual else Phi_tr.T @ Phi_tr
    if G.device.type == "cpu":  # LAPACK via numpy: torch's CPU eigh stalls (50x) when
        # its OpenMP threads compete with other processes; numpy's does not
        mu, E = (torch.from_numpy(a) for a in np.linalg.eigh(G.numpy()))
    else:
        mu, E = torch.linalg.eigh(G)
    keep = mu > mu.max() * max(n, k) * 10 * torch.finfo(mu.dtype).eps
    mu, E = mu[keep], E[:, keep]
    inv = 1.0 / (mu[:, None] + d)  # (r, R)
    if dual:  # E = U; fit = U diag(mu/(mu+delta)) U^T y, pred = K_te,tr U (U^T y)/(mu+delta)
        c = E.T @ y_tr
        fit = E @ (c[:, None] * mu[:, None] * inv)
        pred = (Phi_te @ (Phi_tr.T @ E)) @ (c[:, None] * inv)
    else:  # E = V; fit/pred = Phi V diag(1/(mu+delta)) V^T Phi^T y
        b = E.T @ (Phi_tr.T @ y_tr)
        fit = (Phi_tr @ E) @ (b[:, None] * inv)
        pred = (Phi_te @ E) @ (b[:, None] * inv)
    train = ((y_tr[:, None] - fit) ** 2).mean(0)
    test = ((y_te[:, None] - pred) ** 2).mean(0)
    return train.cpu().numpy().astype(float), test.cpu().numpy().astype(float)


def _trial_pool(cfg, task: Task, n_rows: int, k_max: int, gen, device, dtype):
    """One trial's rows (train then test) of unscaled features and noisy labels."""
    if task.X is None:  # synthetic: x ~ N(0, I_P), y = X v + eps
        from orthoviz.random_features.data import gaussian_data

        Z, y = gaussian_data(task.spec, n_rows, task.noise_var, gen, device, dtype)
    else:
        perm = torch.randperm(len(task.y), generator=gen)[:n_rows]
        y_clean = torch.as_tensor(task.y[perm.numpy()], dtype=dtype, device=device)
        eps = cpu_randn((n_rows,), gen, device, dtype)
        y = y_clean + eps * float(np.sqrt(task.noise_var))
        Z = torch.as_tensor(task.X[perm.numpy()], dtype=dtype, device=device)
        if cfg.feature_map == "relu":
            return relu_features(Z, k_max, gen), y
        # Gaussian data with the data set's eigenstructure ("Gaussian imitation")
        from orthoviz.random_features.data import gaussian_data

        Z, y = gaussian_data(task.spec, n_rows, task.noise_var, gen, device, dtype)
    return linear_gaussian_features(Z, k_max, gen), y


def run_sweep(cfg, th: dict, task: Task, seed: int, device: str):
    """Yield, per (trial, sweep point), one record per ridge with coordinates
    ``trial``, ``n``, ``k``, ``ridge`` and scalars ``test_risk``, ``train_risk``; then
    the final record (agreement with theory, monotonicity of the optimal curve)."""
    values = [int(v) for v in cfg.sweep_values]
    ridges = np.asarray(cfg.ridges, dtype=float)
    R, S = len(ridges), len(values)
    n_max = cfg.n if cfg.sweep == "k" else max(values)
    k_max = cfg.k if cfg.sweep == "n" else max(values)
    dtype = torch.float64  # spec §5: float64 for n, k <= a few thousand (every preset)
    gen = torch.Generator().manual_seed(seed)  # CPU stream: CPU and CUDA runs agree
    acc = {key: np.zeros((R, S)) for key in ("te", "te2", "tr", "tr2")}
    count = np.zeros((R, S))
    step = 0
    for trial in range(cfg.trials):
        F, y = _trial_pool(cfg, task, n_max + cfg.test_size, k_max, gen, device, dtype)
        F_te, y_te = F[n_max:], y[n_max:]
        for j, v in enumerate(values):
            n, k = (cfg.n, v) if cfg.sweep == "k" else (v, cfg.k)
            scale = 1.0 / np.sqrt(k)
            tr, te = ridge_sweep(F[:n, :k] * scale, y[:n], F_te[:, :k] * scale, y_te,
                                 ridges)
            for key, val in (("te", te), ("tr", tr)):
                acc[key][:, j] += val
                acc[key + "2"][:, j] += val**2
            count[:, j] += 1
            step += 1
            for r in range(R):
                yield Record(step, "point", {"test_risk": float(te[r]),
                                             "train_risk": float(tr[r])},
                             coords={"trial": trial, "n": n, "k": k,
                                     "ridge": float(ridges[r])})
    yield _final(cfg, acc, count, th, task, step + 1)


def _finite(x: float) -> float:
    return float(x) if np.isfinite(x) else float(np.finfo(float).max)


def _grids(acc, count, th) -> dict:
    te_m, te_se = metrics.mean_se(acc["te"], acc["te2"], count)
    tr_m, tr_se = metrics.mean_se(acc["tr"], acc["tr2"], count)
    return {"sweep_values": th["sweep_values"], "ridges": th["ridges"],
            "test_mean": te_m, "test_se": te_se, "train_mean": tr_m, "train_se": tr_se,
            "trials_done": count[0].copy()}


def _final(cfg, acc, count, th, task: Task, step: int) -> Record:
    arrays = _grids(acc, count, th)
    err = metrics.relative_error(arrays["test_mean"], th["theory_test"])
    ok = metrics.within_tolerance(arrays["test_mean"], arrays["test_se"],
                                  th["theory_test"])
    finite = np.isfinite(err)
    best = np.nanargmin(np.where(np.isfinite(arrays["test_mean"]), arrays["test_mean"],
                                 np.inf), axis=0)
    cols = np.arange(best.size)
    env, env_se = arrays["test_mean"][best, cols], arrays["test_se"][best, cols]
    sc = {"theory_rel_error_median": float(np.median(err[finite])) if finite.any() else 0.0,
          "theory_rel_error_max": float(np.max(err[finite])) if finite.any() else 0.0,
          "theory_within_tolerance": float(np.mean(ok[finite])) if finite.any() else 1.0,
          "optimal_curve_monotone": float(metrics.is_monotone_nonincreasing(env, env_se)),
          "theory_optimal_monotone": float(metrics.is_monotone_nonincreasing(
              th["theory_opt_fine"])),
          "test_risk_best": float(np.min(env)), "noise_var": task.noise_var,
          "trials": float(cfg.trials)}
    notes = [f"theory vs experiment: median {sc['theory_rel_error_median']:.1%}, "
             f"max {sc['theory_rel_error_max']:.1%} relative error over "
             f"{int(finite.sum())} (ridge, {cfg.sweep}) points"]
    if task.exponents is not None:
        for key in ("alpha", "beta"):
            sc[f"{key}_hat"] = float(task.exponents[key])
        lo, hi = task.exponents["fit_range"]
        notes.append(f"measured alpha = {sc['alpha_hat']:.2f}, beta = "
                     f"{sc['beta_hat']:.2f} (fit over n in [{lo}, {hi}])")
    return Record(step, "final", sc, arrays, tuple(notes))
