"""Neural-collapse benchmark.

1. E1 depth-3 (K=4, n=100, d=64, lambda=5e-4, SGD lr 0.1 momentum 0.9, float64): wall
   time until NC1 < 1e-4, through the full record stream.
2. Overhead of the record stream + per-layer metrics against a bare torch loop doing the
   same updates in the same process (target <= 10%); the bare loop's final objective is
   checked against the experiment's to show the updates are the same.
3. With CUDA: the same for E1 on the GPU (launch-bound: see benchmarks/nc_gpu.py for
   CUDA graphs and seed batching) and for the ``gpu_large`` preset (K=100, n=50, d=512,
   float32 with TF32).

Usage: python benchmarks/neural_collapse.py [--steps N] [--repeats R]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import peak_gpu_mb, peak_host_mb, report  # noqa: E402

from orthoviz.neural_collapse import NeuralCollapse
from orthoviz.neural_collapse.train import Problem
from orthoviz.runtime.device import matmul_precision, torch_dtype
from orthoviz.runtime.threads import limit_threads


def bare_loop(exp: NeuralCollapse, seed: int, device: str, same_threads: bool = True
              ) -> tuple[float, float]:
    """The same full-batch updates (``train.Problem``, under the run's matmul precision)
    with no records and no metrics: (seconds, final objective). ``same_threads`` applies
    the experiment's thread policy (one intra-op thread for small CPU problems); without
    it torch's default thread count is used, to show what that policy is worth."""
    if same_threads:
        with limit_threads(exp.problem_size(), device):
            return bare_loop(exp, seed, device, same_threads=False)
    prob, dtype = Problem(exp, seed, device), torch_dtype(exp.dtype)
    _sync(device)
    t0 = time.perf_counter()
    with matmul_precision(device, dtype, exp.tf32):
        for _ in range(exp.steps):
            prob.step()
    _sync(device)
    dt = time.perf_counter() - t0
    with torch.no_grad(), matmul_precision(device, dtype, False):  # as records are
        return dt, float(prob.objective()[0])


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

    cases = [("balanced_E1", "cpu")]
    if torch.cuda.is_available():  # E1 on both devices; gpu_large (float32, TF32) on CUDA
        cases += [("balanced_E1", "cuda"), ("gpu_large", "cuda")]
    for preset, device in cases:
        exp = NeuralCollapse.from_preset(preset, steps=args.steps, depth=3)
        bare, full, default, f_bare, f_full = [], [], [], 0.0, 0.0
        for _ in range(args.repeats):  # interleaved, best of R: robust to noise
            tb, f_bare = bare_loop(exp, 0, device)
            ts, f_full = stream(exp, 0, device)
            bare.append(tb)
            full.append(ts)
            if device == "cpu":  # a GPU run takes no thread lease
                default.append(bare_loop(exp, 0, device, same_threads=False)[0])
        tb, ts = min(bare), min(full)
        rows.append({
            "case": f"{preset} M={exp.depth} d={exp.feature_dim} N={sum(exp.sizes())} "
                    f"{exp.dtype}{' tf32' if exp.tf32 else ''} ({device})",
            "steps": exp.steps, "record_every": exp.record_every,
            "bare_steps_per_s": exp.steps / tb, "stream_steps_per_s": exp.steps / ts,
            "overhead_pct": 100 * (ts / tb - 1),
            "bare_default_threads_steps_per_s": exp.steps / min(default) if default else None,
            "same_updates_rel_diff": abs(f_bare - f_full) / abs(f_bare),
        })
    report("neural_collapse", rows,
           {"peak_host_mb": peak_host_mb(), "peak_gpu_mb": peak_gpu_mb()})


if __name__ == "__main__":
    main()
