"""Making the paper's small neural-collapse loop pay on a GPU (DESIGN.md, "Devices").

E1 (K=4, n=100, d=64, depth 3, float64, SGD lr 0.1 momentum 0.9) is launch-bound on a
GPU: each step is some 60 kernels, each far too small to fill the card. Two ways out,
timed against eager steps on the same device and checked against eager runs of the
same updates (float64: agreement to ~1e-12 relative; a mismatch is reported, not
hidden):

1. CUDA graph: the whole step (forward, backward, SGD with momentum) captured once and
   replayed, one launch per step.
2. Seed batching: S seeds trained as one batched problem (``bmm``) whose objective is
   the sum of theirs, so every seed's gradient is exactly its own: S runs for the
   launches of one. Also captured as a graph.

Training only (no records): records every 100 steps cost what they cost either way.
First, the rounding sensitivity of E1's records, on which tests/test_gpu.py's CPU/CUDA
tolerance rests (see :func:`agreement_rows`).

Usage: python benchmarks/nc_gpu.py [--steps N] [--seeds S] [--device cuda|cpu]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import report  # noqa: E402

from orthoviz.neural_collapse import NeuralCollapse
from orthoviz.neural_collapse.train import Problem
from orthoviz.runtime.threads import limit_threads

WARMUP = 3


class Batched:
    """S seeds of a UFM bias-free MSE config as one problem; the same init and labels as
    :class:`Problem` gives each seed (drawn on the CPU, stacked, moved)."""

    def __init__(self, exp: NeuralCollapse, seeds: list[int], device: str):
        probs = [Problem(exp, s, "cpu") for s in seeds]
        self.H = torch.stack([p.H_free.detach() for p in probs]).to(device).requires_grad_()
        self.Ws = [torch.stack([p.head.weights[j].detach() for p in probs]).to(device)
                   .requires_grad_() for j in range(exp.depth)]
        self.Y = torch.stack([p.Y for p in probs]).to(device)
        self.N, self.lam, self.lam_H = probs[0].N, exp.decays(), exp.feature_decay
        self.opt = torch.optim.SGD([self.H, *self.Ws], lr=exp.lr, momentum=exp.momentum)

    def objective(self) -> torch.Tensor:
        """Per-seed objectives (S,)."""
        Z = self.H
        for W in self.Ws:
            Z = Z @ W.transpose(1, 2)
        pen = sum(lam / 2 * W.pow(2).sum((1, 2)) for lam, W in zip(self.lam, self.Ws))
        return ((0.5 / self.N) * (Z - self.Y).pow(2).sum((1, 2)) + pen
                + self.lam_H / 2 * self.H.pow(2).sum((1, 2)))

    def step(self) -> None:
        self.opt.zero_grad(set_to_none=True)
        self.objective().sum().backward()
        self.opt.step()


def graphed(prob):
    """Capture ``prob``'s step (after WARMUP eager steps on a side stream, which create
    the momentum buffers); returns the replay function. The pattern of PyTorch's
    "whole network capture" example: gradients are None at capture, so the captured
    backward writes them afresh at every replay."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(WARMUP):
            prob.step()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    prob.opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(g):
        _values(prob).sum().backward()
        prob.opt.step()
    return g.replay


def _timed(fn, steps: int, device: str) -> float:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - t0)


def _values(prob) -> torch.Tensor:
    """The objective of every seed in ``prob`` (a Problem has one), as a 1-D tensor."""
    return prob.objective()[0].reshape(1) if isinstance(prob, Problem) else prob.objective()


def _objectives(prob) -> list[float]:
    with torch.no_grad():
        return _values(prob).double().cpu().tolist()


def rows(exp: NeuralCollapse, steps: int, seeds: int, device: str) -> list[dict]:
    """Eager, graphed, batched and batched+graphed steps/s with their agreement checks."""
    ids = list(range(seeds))
    total = WARMUP + steps

    def eager_reference(seed_list):  # the same number of updates, eager, one seed each
        out = []
        for s in seed_list:
            p = Problem(exp, s, device)
            for _ in range(total):
                p.step()
            out += _objectives(p)
        return out

    ref = eager_reference(ids)
    out = []
    cases = [("eager, 1 seed", lambda: Problem(exp, 0, device), False),
             (f"eager, {seeds} seeds batched", lambda: Batched(exp, ids, device), False)]
    if device.startswith("cuda"):
        cases += [("CUDA graph, 1 seed", lambda: Problem(exp, 0, device), True),
                  (f"CUDA graph, {seeds} seeds batched", lambda: Batched(exp, ids, device),
                   True)]
    for name, make, graph in cases:
        prob = make()
        try:
            if graph:
                fn = graphed(prob)
            else:
                for _ in range(WARMUP):
                    prob.step()
                fn = prob.step
            rate = _timed(fn, steps, device)
        except Exception as e:  # an optional speed-up that fails is reported, not fatal
            out.append({"case": f"{name} ({device})", "error": f"{type(e).__name__}: {e}"})
            continue
        got = _objectives(prob)
        diff = max(abs(a - b) / abs(b) for a, b in zip(got, ref))
        n = len(got)
        out.append({"case": f"{name} ({device})", "steps_per_s": rate,
                    "seed_steps_per_s": rate * n, "max_rel_diff_vs_eager": diff,
                    "agrees": diff < 1e-9})
    return out


def _worst(a_recs, b_recs, rel: float = 1e-10, floor: float = 1e-12) -> dict:
    """Over every record scalar and array entry: the largest relative difference (among
    entries above 1e-14, and where), and the largest share of tests/test_gpu.py's
    tolerance |a - b| <= rel * max(|a|, |b|) + floor that any entry uses."""
    worst, where, share = 0.0, "", 0.0
    for a, b in zip(a_recs, b_recs):
        pairs = [(k, a.scalars[k], b.scalars[k]) for k in a.scalars]
        for k, v in (a.arrays or {}).items():
            pairs += [(k, x, y) for x, y in zip(v.ravel(), b.arrays[k].ravel())]
        for k, x, y in pairs:
            m, diff = max(abs(x), abs(y)), abs(x - y)
            share = max(share, diff / (rel * m + floor))
            if m > 1e-14 and diff / m > worst:
                worst, where = diff / m, f"{k} @ step {a.step}"
    return {"max_rel_diff": worst, "where": worst and where, "share_of_test_tol": share}


def agreement_rows(device: str, steps: int = 600, noise: float = 1e-15) -> list[dict]:
    """How far E1's float64 records move when every step's rounding differs: a CPU run
    against the same run with relative noise ``noise`` (about sqrt(d) float64 ulps, what
    a different summation order leaves) injected into every parameter after every step;
    and, with CUDA, the CPU run against the CUDA run. tests/test_gpu.py's 1e-10 rests
    on the first number."""
    exp = NeuralCollapse.from_preset("balanced_E1", steps=steps, record_every=200,
                                     snapshot_every=steps)
    base = list(exp.run(seed=0, device="cpu"))
    gen = torch.Generator().manual_seed(1)
    plain_step = Problem.step

    def noisy_step(self):
        plain_step(self)
        with torch.no_grad():
            for p in self.opt.param_groups[0]["params"]:
                p.mul_(1 + noise * torch.randn(p.shape, generator=gen, dtype=p.dtype))

    Problem.step = noisy_step
    try:
        noisy = list(exp.run(seed=0, device="cpu"))
    finally:
        Problem.step = plain_step
    out = [{"case": f"E1 float64 {steps} steps: CPU vs CPU + {noise:g} noise per step",
            **_worst(base, noisy)}]
    if device.startswith("cuda"):
        out.append({"case": f"E1 float64 {steps} steps: CPU vs {device}",
                    **_worst(base, list(exp.run(seed=0, device=device)))})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    exp = NeuralCollapse.from_preset("balanced_E1", steps=args.steps)
    with limit_threads(exp.problem_size(), args.device):
        out = agreement_rows(args.device) + rows(exp, args.steps, args.seeds, args.device)
    report("nc_gpu", out)


if __name__ == "__main__":
    main()
