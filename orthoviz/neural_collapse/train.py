"""The one training loop of the neural-collapse experiment (UFM and MLP backbone).

Objective (Dang et al. 2023, Eq. 2 family; normalisation of the authors' code):
    f = 1/(2N) ||Z - Y||_F^2 (or (1/N) sum_i CE(z_i, y_i))
        + sum_j lambda_Wj/2 ||W_j||_F^2 + lambda_H/2 ||H_1||_F^2,   Z = H_1 W_1^T...W_M^T (+ b)
trained full batch. Every ``record_every`` steps the NC metrics of every layer are
measured (float64, on the run's device: ``measure.py``) and compared with the
closed-form prediction.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from orthoviz.neural_collapse.data import (
    gaussian_mixture,
    labels_for,
    load_dataset,
    subsample,
)
from orthoviz.neural_collapse.measure import Measure
from orthoviz.neural_collapse.model import DeepLinearHead, MLPBackbone
from orthoviz.neural_collapse.theory import gap_tolerance
from orthoviz.runtime.device import matmul_precision, torch_dtype
from orthoviz.runtime.record import FINAL, Record

DIVERGED = 1e100  # an objective above this counts as diverged (metrics would overflow)


def _inputs(exp, sizes: list[int], rng: np.random.Generator):
    """(X (N, in) or None, y (N,)) for the configured backbone."""
    if exp.backbone == "ufm":
        return None, labels_for(sizes, rng)
    if exp.dataset == "gaussian":
        return gaussian_mixture(sizes, input_dim=32, rng=rng)
    X, y = load_dataset(exp.dataset, exp.data_dir)
    keep = y < exp.n_classes
    return subsample(X[keep], y[keep], sizes, rng)


class Problem:
    """Data, parameters and optimiser of one run, placed on ``device``.

    :meth:`step` is one full-batch update and never waits for the device (no value is
    read back), so a CUDA run queues steps ahead of the host until a record asks for
    numbers. All draws come from a CPU generator seeded with ``seed`` and are moved to
    the device, so CPU and CUDA runs start from the same numbers.
    """

    def __init__(self, exp, seed: int, device: str):
        self.exp, dtype, dev = exp, torch_dtype(exp.dtype), torch.device(device)
        rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
        sizes = exp.sizes()
        K, self.N, d = len(sizes), sum(sizes), exp.feature_dim
        X, y = _inputs(exp, sizes, rng)
        self.y = torch.as_tensor(y, device=dev)
        self.Y = F.one_hot(torch.as_tensor(y), K).to(dtype=dtype, device=dev)  # (N, K)
        self.head = DeepLinearHead(d, K, exp.depth, exp.loss == "mse_bias", exp.init_std,
                                   gen, dtype).to(dev)
        if X is None:  # free features H_1 (N, d), same init as every W_j
            self.H_free = torch.nn.Parameter(torch.empty(self.N, d, dtype=dtype).normal_(
                0.0, exp.init_std, generator=gen).to(dev))
            self.backbone, params = None, [self.H_free]
        else:
            self.backbone = MLPBackbone(X.shape[1], exp.mlp_width, exp.mlp_layers, d, gen,
                                        dtype).to(dev)
            self.X = torch.as_tensor(X, dtype=dtype, device=dev)
            params = list(self.backbone.parameters())
        params += list(self.head.parameters())
        self.decays = exp.decays()
        if exp.optimizer == "sgd":
            self.opt = torch.optim.SGD(params, lr=exp.lr, momentum=exp.momentum)
        else:
            self.opt = torch.optim.Adam(params, lr=exp.lr, betas=(exp.momentum, 0.999))

    def objective(self):
        """(f, data term, H (N, d), Z (N, K)) as device tensors."""
        exp, N = self.exp, self.N
        H = self.H_free if self.backbone is None else self.backbone(self.X)
        Z = self.head(H)
        if exp.loss == "ce":
            data = F.cross_entropy(Z, self.y)
        else:
            data = (0.5 / N) * (Z - self.Y).pow(2).sum()
        pen = sum(lam / 2 * W.pow(2).sum() for lam, W in zip(self.decays, self.head.weights))
        return data + pen + exp.feature_decay / 2 * H.pow(2).sum(), data, H, Z

    def step(self) -> None:
        self.opt.zero_grad(set_to_none=True)
        self.objective()[0].backward()
        self.opt.step()


def train(exp, seed: int, device: str) -> Iterator[Record]:
    """Yield records while training ``exp`` (a NeuralCollapse config) from ``seed``.

    The thread budget is the caller's (``Experiment.run`` holds a lease). Steps run in
    chunks between records; a float32 CUDA run holds its matmul precision (TF32 when
    ``exp.tf32``) for each chunk only, never across a ``yield``, and records are
    computed in IEEE float32/float64."""
    prob, geom = Problem(exp, seed, device), exp.geometry()
    measure = Measure(exp, geom, prob.y, exp.decays())
    dtype = torch_dtype(exp.dtype)

    def record(step: int, phase: str) -> Record:
        with torch.no_grad(), matmul_precision(device, dtype, tf32=False):
            f, data, H, Z = prob.objective()
            f_host, data_host = torch.stack([f, data]).double().cpu().tolist()
            if not abs(f_host) < DIVERGED:  # NaN, inf or on its way: the guard stops the run
                return Record(step, phase, {"loss": float("inf")})
            snap = phase == FINAL or step % exp.snapshot_every == 0
            sc, arrays = measure(H, prob.head.weights, prob.head.bias, Z, snap)
        sc = {"loss": f_host, "data_loss": data_host, "objective": f_host,
              "objective_gap": f_host - float(geom["objective"]), **sc}
        notes = verdict(exp, geom, sc) if phase == FINAL else ()
        return Record(step, phase, sc, arrays, notes)

    yield record(0, "train")
    step = 0
    while step < exp.steps:
        n = min(exp.record_every - step % exp.record_every, exp.steps - step)
        with matmul_precision(device, dtype, tf32=exp.tf32):
            for _ in range(n):
                prob.step()
        step += n
        yield record(step, FINAL if step == exp.steps else "train")


def verdict(exp, geom: dict[str, Any], sc: dict[str, float]) -> tuple[str, ...]:
    """Compare the end of training with the predicted global optimum; sets the
    ``at_optimum`` / ``trivial_point`` / ``local_minimum`` flags in ``sc``."""

    gap, F_star = sc["objective_gap"], float(geom["objective"])
    tol = gap_tolerance(F_star)
    pred_alive = np.asarray(geom["survives"], bool)
    flags = dict(at_optimum=0.0, trivial_point=0.0, local_minimum=0.0)
    notes: list[str] = []
    if exp.backbone != "ufm":
        notes.append("Backbone run: the closed-form prediction is the UFM's; it applies "
                     "to the extent the backbone can produce any features.")
    if exp.loss == "ce" and geom.get("warning"):
        notes.append(f"CE: {geom['warning']} (GD solution has rank "
                     f"{int(sc['rank_classifier'])}).")
    n_alive_meas = exp.n_classes - int(sc["n_collapsed"])
    if abs(gap) <= tol or (exp.loss == "ce" and gap < 0):
        flags["at_optimum"] = 1.0 if abs(gap) <= tol else 0.0
        if gap < -tol:
            notes.append(f"Training reached an objective {-gap:.3g} below the ETF "
                         "prediction: a lower-rank solution beats the ETF here.")
    elif n_alive_meas == 0 and pred_alive.any():
        flags["trivial_point"] = 1.0
        notes.append(
            f"Training ended at the trivial point W = H = 0 (objective {sc['objective']:.4g}, "
            f"{gap:.3g} above the predicted optimum {F_star:.4g}) although theory keeps "
            f"{int(pred_alive.sum())} classes alive: the origin is a local minimum for "
            "depth >= 2. Raise init_std or lower the decays.")
    elif n_alive_meas < int(pred_alive.sum()):
        flags["local_minimum"] = 1.0
        notes.append(
            f"Training ended in a local minimum: {exp.n_classes - n_alive_meas} classes "
            f"collapsed where theory predicts {int((~pred_alive).sum())}; the objective is "
            f"{gap:.3g} above the predicted optimum {F_star:.4g}. Try a larger init_std "
            "or continuation from a smaller decay.")
    else:
        notes.append(f"Not yet at the predicted optimum: objective gap {gap:.3g} "
                     f"(tolerance {tol:.1g}); train longer (steps).")
    sc.update(flags)
    return tuple(notes)
