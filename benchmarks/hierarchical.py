"""Benchmark of orthoviz.hierarchical: prints a table, writes
benchmarks/results/hierarchical.json.

1. The default sweep (Preset A: d = 16, quadratic p, g = z^3, layerwise, 6 sample
   sizes x 3 trials x 3 models) on the CPU: wall time (target < 60 s on 2 cores), the
   time spent per model, and the per-n means beside the spec's prototype table.
2. ``joint`` at d = 16, n = 2048 (one end-to-end Adam fit of the three-layer network,
   the prototype took 5 min in NumPy; target < 30 s on the CPU).
3. ``paper_cubic`` on CUDA, only when a GPU is present (``--gpu`` forces the attempt).

Usage: python benchmarks/hierarchical.py [--skip-default] [--skip-joint] [--gpu]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

from common import peak_gpu_mb, peak_host_mb, report  # noqa: E402

from orthoviz.hierarchical import Hierarchical  # noqa: E402

#: spec §5.2, layerwise d = 16 (x-axis n1; n2 = max(2000, n1/2) extra): n1/d^2 ->
#: (corr, three-layer MSE, KRR MSE)
PROTOTYPE = {0.5: (0.25, 1.00, 1.09), 1: (0.75, 0.66, 0.89), 2: (0.83, 0.64, 0.86),
             4: (0.88, 0.53, 0.78), 8: (0.93, 0.38, 0.75), 16: (0.95, 0.26, 0.73)}


def timed_run(exp, device: str):
    """Run, returning (records, wall seconds, CPU seconds, seconds per model). On a
    shared machine the CPU time (all threads of this process) is the better guide to
    the wall time on an idle one."""
    per_model: dict[str, float] = {}
    recs = []
    c0 = time.process_time()
    t0 = last = time.perf_counter()
    for r in exp.run(seed=0, device=device):
        now = time.perf_counter()
        model = r.coords.get("model")
        if model is not None:
            per_model[model] = per_model.get(model, 0.0) + now - last
        last = now
        recs.append(r)
    return recs, time.perf_counter() - t0, time.process_time() - c0, per_model


def sweep_table(exp, recs) -> list[dict]:
    """Per n: mean over trials of each model's test loss and of feature_corr."""
    d2 = exp.d**exp.k
    rows = []
    for n in exp.sample_sizes():
        pts = [r for r in recs if r.phase == "point" and r.coords["n"] == n]
        row = {"n": n, "n/d^k": n / d2}
        for m in exp.models:
            vals = [r.scalars["test_loss"] for r in pts if r.coords["model"] == m]
            row[f"{m}_loss"] = float(np.mean(vals))
        row["feature_corr"] = float(np.mean([r.scalars["feature_corr"] for r in pts
                                             if "feature_corr" in r.scalars]))
        proto = PROTOTYPE.get(n / d2)
        if proto is not None:
            row.update(proto_corr=proto[0], proto_three_layer=proto[1], proto_krr=proto[2])
        rows.append(row)
    return rows


def bench(preset: str, device: str, **overrides) -> dict:
    exp = Hierarchical.from_preset(preset, **overrides)
    recs, wall, cpu, per_model = timed_run(exp, device)
    final = recs[-1].scalars
    return {"preset": preset, "overrides": overrides, "device": device, "wall_s": wall,
            "cpu_s": cpu, "loadavg_after": os.getloadavg()[0],
            "seconds_per_model": per_model, "final": dict(final),
            "table": sweep_table(exp, recs), "notes": list(recs[-1].notes)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-default", action="store_true")
    ap.add_argument("--skip-joint", action="store_true")
    ap.add_argument("--gpu", action="store_true", help="run paper_cubic on CUDA")
    args = ap.parse_args(argv)
    runs, rows = [], []
    if not args.skip_default:
        runs.append(bench("default", "cpu"))
    if not args.skip_joint:
        runs.append(bench("joint", "cpu", n_over_dk=[8.0], trials=1,
                          models=["three_layer"]))
    if args.gpu or torch.cuda.is_available():
        runs.append(bench("paper_cubic", "cuda", trials=1))
    for r in runs:
        f = r["final"]
        rows.append({"case": f"{r['preset']} ({r['device']})", "seconds": r["wall_s"],
                     "cpu_s": r["cpu_s"], "load": r["loadavg_after"],
                     **{k: f.get(k) for k in ("three_layer_test_loss", "kernel_test_loss",
                                              "two_layer_test_loss", "feature_corr")},
                     **{f"s_{m}": v for m, v in r["seconds_per_model"].items()}})
    report("hierarchical", rows, {"runs": runs, "loadavg": os.getloadavg(),
                                  "peak_host_mb": peak_host_mb(),
                                  "peak_gpu_mb": peak_gpu_mb()})
    for r in runs:
        if r["preset"] == "default":
            print("\nper n (means over trials) beside the prototype (spec §5.2, x = n1):")
            for row in r["table"]:
                print("  " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else
                                       f"{k} {v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
