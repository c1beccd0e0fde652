"""Neural-collapse benchmark.

1. E1 depth-3 (K=4, n=100, d=64, lambda=5e-4, SGD lr 0.1 momentum 0.9, float64): wall
   time until NC1 < 1e-4, through the full record stream.
2. Overhead of the record stream + per-layer metrics against a bare torch loop doing the
   same updates in the same process (target <= 10%); the bare loop's final objective is
   checked against the experiment's to show the updates are the same.
3. With CUDA: steps/s of the ``gpu_large`` preset (and its bare loop) on the GPU.

Usage: python benchmarks/neural_collapse.py [--steps N] [--repeats R]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from common import peak_gpu_mb, peak_host_mb, report  # noqa: E402

from orthoviz.neural_collapse import NeuralCollapse
from orthoviz.neural_collapse.data import labels_for
from orthoviz.neural_collapse.model import DeepLinearHead
from orthoviz.runtime.device import torch_dtype
from orthoviz.runtime.threads import limit_threads


def bare_loop(exp: NeuralCollapse, seed: int, device: str, same_threads: bool = True
              ) -> tuple[float, float]:
    """The same full-batch updates with no records and no metrics: (seconds, objective).
    UFM, bias-free MSE only (what this benchmark measures). ``same_threads`` applies the
    experiment's thread policy (one intra-op thread for small CPU problems); without it
    torch's default thread count is used, to show what that policy is worth."""
    if same_threads:
        n = sum(exp.sizes()) * exp.feature_dim * exp.depth
        with limit_threads(n, device):
            return bare_loop(exp, seed, device, same_threads=False)
    import numpy as np

    dtype, dev = torch_dtype(exp.dtype), torch.device(device)
    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    sizes = exp.sizes()
    K, N = len(sizes), sum(sizes)
    y = torch.as_tensor(labels_for(sizes, rng), device=dev)
    Y = F.one_hot(y, K).to(dtype)
    head = DeepLinearHead(exp.feature_dim, K, exp.depth, False, exp.init_std, gen, dtype)
    H = torch.empty(N, exp.feature_dim, dtype=dtype).normal_(0, exp.init_std, generator=gen)
    H = torch.nn.Parameter(H.to(dev))
    head.to(dev)
    opt = torch.optim.SGD([H, *head.parameters()], lr=exp.lr, momentum=exp.momentum)
    lam, lam_H = exp.decays(), exp.feature_decay

    def f():
        Z = head(H)
        pen = sum(l / 2 * W.pow(2).sum() for l, W in zip(lam, head.weights))
        return (0.5 / N) * (Z - Y).pow(2).sum() + pen + lam_H / 2 * H.pow(2).sum()

    _sync(device)
    t0 = time.perf_counter()
    for _ in range(exp.steps):
        opt.zero_grad(set_to_none=True)
        f().backward()
        opt.step()
    _sync(device)
    dt = time.perf_counter() - t0
    with torch.no_grad():
        return dt, float(f())


def stream(exp: NeuralCollapse, seed: int, device: str) -> tuple[float, float]:
    _sync(device)
    t0 = time.perf_counter()
    final = list(exp.run(seed=seed, device=device))[-1]
    _sync(device)
    return time.perf_counter() - t0, final.scalars["objective"]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_to_nc1(exp: NeuralCollapse, threshold: float = 1e-4) -> tuple[float, int]:
    t0 = time.perf_counter()
    for rec in exp.run(seed=0, device="cpu"):
        if rec.scalars["nc1"] < threshold:
            return time.perf_counter() - t0, rec.step
    return float("nan"), -1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    rows = []
    list(NeuralCollapse.from_preset("smoke").run(seed=0, device="cpu"))  # warm-up: imports
    e1 = NeuralCollapse.from_preset("balanced_E1", depth=3)
    t, step = time_to_nc1(e1)
    rows.append({"case": "E1 M=3 time to NC1<1e-4 (cpu)", "seconds": t, "steps": step,
                 "record_every": e1.record_every})

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        preset = "balanced_E1" if device == "cpu" else "gpu_large"
        exp = NeuralCollapse.from_preset(preset, steps=args.steps)
        if device == "cpu":
            exp.depth = 3
        bare, full, default, f_bare, f_full = [], [], [], 0.0, 0.0
        for _ in range(args.repeats):  # interleaved, best of R: robust to noise
            tb, f_bare = bare_loop(exp, 0, device)
            ts, f_full = stream(exp, 0, device)
            bare.append(tb)
            full.append(ts)
            default.append(bare_loop(exp, 0, device, same_threads=False)[0])
        tb, ts, td = min(bare), min(full), min(default)
        rows.append({
            "case": f"{preset} M={exp.depth} d={exp.feature_dim} N={sum(exp.sizes())} ({device})",
            "steps": exp.steps, "record_every": exp.record_every,
            "bare_steps_per_s": exp.steps / tb, "stream_steps_per_s": exp.steps / ts,
            "overhead_pct": 100 * (ts / tb - 1),
            "bare_default_threads_steps_per_s": exp.steps / td,
            "same_updates_rel_diff": abs(f_bare - f_full) / abs(f_bare),
        })
    report("neural_collapse", rows,
           {"peak_host_mb": peak_host_mb(), "peak_gpu_mb": peak_gpu_mb()})


if __name__ == "__main__":
    main()
