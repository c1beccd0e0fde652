"""Training of a direction network with the paper's scale-invariant loss (spec 3.2):

    alpha_i = (f_i . b_i) / (f_i . A f_i),   L = mean_i || b_i - alpha_i A f_i ||^2,

with ``f_i = net(b_i)`` restricted to the fluid. ``L`` is the squared residual after one
DCDM step from x = 0 along ``f_i``, so it is unsupervised (no solves), and invariant to
the scale of ``f_i`` (the unknown constant of ``f ~ c A^{-1} b`` never has to be
learned). ``A f`` is the matrix-free stencil, differentiable in torch.

The data are Ritz-weighted unit right-hand sides (:mod:`orthoviz.deep_cg.spectral`),
drawn fresh every step from each training domain's Ritz basis; a fixed validation set
is drawn once. Adam as in the paper (its learning rate 1e-4 at batch 10; the measured
2-minute runs used 1e-3).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from orthoviz.deep_cg.model import flag_channels, network_input
from orthoviz.deep_cg.spectral import ritz_coefficients, ritz_pairs
from orthoviz.deep_cg.stencil import StencilOperator
from orthoviz.deep_cg.systems import PoissonSystem, poisson_system
from orthoviz.runtime.record import FINAL, Record


@dataclass
class TrainingData:
    """Ritz bases of the training systems, in grid form, and their operators."""

    systems: list[PoissonSystem]
    theta: list[np.ndarray]            # Ritz values per system, ascending
    bases: list[torch.Tensor]          # (k_d, prod(grid)) Ritz vectors scattered to grids
    op: StencilOperator                # A of every system, batched (D, 1, *grid)
    fluid: torch.Tensor                # (D, 1, *grid) masks
    geometry: torch.Tensor | None      # (D, 2, *grid) flag channels, or None
    weight: float
    low_fraction: float

    @property
    def shape(self) -> tuple[int, ...]:
        return self.systems[0].shape


def build_data(shape: tuple[int, ...], domains: list[str], m: int, rng: np.random.Generator,
               geometry: bool = False, weight: float = 9.0, low_fraction: float = 0.55,
               device: str = "cpu") -> TrainingData:
    """Lanczos (m steps, full re-orthogonalisation) on each training domain."""
    systems = [poisson_system(shape, d, seed=int(rng.integers(1 << 30))) for d in domains]
    thetas, bases = [], []
    for s in systems:
        theta, Y = ritz_pairs(s.A, m, rng)
        grid = np.zeros((Y.shape[1], int(np.prod(shape))), np.float32)
        grid[:, s.fluid.ravel()] = Y.T
        thetas.append(theta)
        bases.append(torch.as_tensor(grid, device=device))
    flags = np.stack([s.flags for s in systems])
    op = StencilOperator(flags, dim=len(shape), device=device)
    geo = (torch.cat([flag_channels(s.flags) for s in systems]).to(device) if geometry
           else None)
    return TrainingData(systems, thetas, bases, op, op.fluid, geo, weight, low_fraction)


def sample(data: TrainingData, size: int,
           rng: np.random.Generator) -> tuple[torch.Tensor, np.ndarray]:
    """``size`` unit Ritz-weighted right-hand sides as grids (size, 1, *grid) and the
    domain of each (chosen uniformly)."""
    which = rng.integers(len(data.systems), size=size)
    out = torch.zeros((size, data.bases[0].shape[1]), device=data.bases[0].device)
    for d in np.unique(which):
        rows = np.flatnonzero(which == d)
        c = ritz_coefficients(data.bases[d].shape[0], rows.size, rng, data.weight,
                              data.low_fraction)
        out[rows] = torch.as_tensor(c, dtype=torch.float32, device=out.device) @ data.bases[d]
    out /= out.norm(dim=1, keepdim=True)
    return out.reshape(size, 1, *data.shape), which


def scale_invariant_loss(f: torch.Tensor, b: torch.Tensor, op) -> torch.Tensor:
    """Per-sample ``|| b - (f.b / f.Af) A f ||^2`` for (B, 1, *grid) fields; ``op`` applies
    A to the batch. A zero direction (f.Af = 0) gives ||b||^2, not 0/0."""
    dims = tuple(range(1, f.ndim))
    Af = op(f)
    fAf = (f * Af).sum(dims, keepdim=True)
    alpha = (f * b).sum(dims, keepdim=True) / fAf.clamp_min(1e-30)
    return ((b - alpha * Af) ** 2).sum(dims)


def _loss(model, data: TrainingData, b: torch.Tensor, which: np.ndarray) -> torch.Tensor:
    idx = torch.as_tensor(which, device=b.device)
    geo = None if data.geometry is None else data.geometry[idx]
    f = model(network_input(b, geo)) * data.fluid[idx]
    return scale_invariant_loss(f, b, data.op.select(idx))


def init_weights(model: torch.nn.Module, gen: torch.Generator) -> torch.nn.Module:
    """Glorot-uniform kernels and zero biases (Keras' defaults, as in the paper's
    model), drawn from an explicit generator."""
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (torch.nn.Conv2d, torch.nn.Conv3d)):
                w = mod.weight
                field = int(np.prod(w.shape[2:]))
                a = np.sqrt(6.0 / ((w.shape[0] + w.shape[1]) * field))
                w.uniform_(-a, a, generator=gen)
                if mod.bias is not None:
                    mod.bias.zero_()
    return model


def train(model: torch.nn.Module, data: TrainingData, steps: int, batch: int, lr: float,
          rng: np.random.Generator, val_size: int = 64, val_every: int = 50,
          decay: bool = False) -> Iterator[dict]:
    """Adam on the scale-invariant loss; yields ``{"step", "loss", "seconds"}`` every
    step and adds ``"val_loss"`` every ``val_every`` steps and at the last. ``decay``:
    cosine decay of the rate from ``lr`` to ``lr / 20`` over the run."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr / 20)
             if decay else None)
    val_b, val_which = sample(data, val_size, rng)
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        model.train()
        b, which = sample(data, batch, rng)
        loss = _loss(model, data, b, which).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        out = {"step": step, "loss": float(loss.detach()), "seconds": time.perf_counter() - t0}
        if step % val_every == 0 or step == steps:
            model.eval()
            with torch.no_grad():
                out["val_loss"] = float(_loss(model, data, val_b, val_which).mean())
        yield out


def _evaluate(net, exp, name: str, device: str, step: int) -> Iterator[Record]:
    """DCDM with ``net`` on the evaluation system (plume right-hand side, depth 2):
    one record per iteration, coordinates ``{"network", "iteration"}``."""
    from orthoviz.deep_cg.dcdm import NetworkDirection, dcdm

    s = poisson_system((exp.eval_grid,) * exp.dim, exp.eval_domain)
    b = s.rhs("plume", 0)
    for it in dcdm(s.A, b, NetworkDirection(net, s, device=device), depth=2,
                   tol=1e-4, maxiter=exp.eval_maxiter):
        yield Record(step, "eval", {"residual": it.residual, "wall_s": it.wall},
                     coords={"network": name, "iteration": it.iteration})


def _outcome(rec: Record, exp) -> str:
    k = rec.coords["iteration"]
    if rec.scalars["residual"] <= 1e-4:
        return f"{k} iterations to 1e-4"
    return f"no convergence in {k} iterations (residual {rec.scalars['residual']:.1e})"


def run_training(exp, seed: int, device: str) -> Iterator[Record]:
    """The ``deep-cg-train`` run: Lanczos per domain, Adam steps, then DCDM with the
    trained (and the comparison) network on a test system; the final record hands the
    ``state_dict`` over as the ``weights`` artifact."""
    from orthoviz.deep_cg.model import build, count_parameters

    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    shape = (exp.grid,) * exp.dim
    data = build_data(shape, list(exp.domains), exp.lanczos_steps, rng, exp.geometry,
                      exp.weight, exp.low_fraction, device)
    for i, (d, theta) in enumerate(zip(exp.domains, data.theta, strict=True)):
        yield Record(i + 1, "lanczos", {"ritz_min": float(theta[0]), "ritz_max": float(theta[-1]),
                                        "ritz_count": float(theta.size)},
                     {"ritz_values": theta} if i == 0 else None, coords={"domain": d})
    kw = {"arch": exp.arch} if exp.network == "dcdm" else {"levels": exp.levels}
    net = init_weights(build(exp.network, exp.dim, exp.geometry, **kw), gen).to(device)
    offset, cpu0 = len(exp.domains), time.process_time()
    last = {}
    for rec in train(net, data, exp.steps, exp.batch, exp.lr, rng, exp.val_size,
                     exp.val_every, decay=exp.lr_decay):
        last.update(rec)
        scalars = {k: float(v) for k, v in rec.items() if k != "step"}
        yield Record(offset + rec["step"], "train", scalars)
    cpu = time.process_time() - cpu0
    net.eval()
    step = offset + exp.steps
    results = {}
    compare = [("trained", net)]
    if exp.compare_with:
        from orthoviz.deep_cg.weights import load_network

        compare.append(("packaged", load_network(exp.compare_with, exp.dim, device)))
    for name, model in compare:
        final = None
        for final in _evaluate(model, exp, name, device, step):
            yield final
        results[name] = final
    trained = results["trained"]
    scalars = {"loss": last["loss"], "val_loss": last["val_loss"],
               "train_seconds": last["seconds"], "train_cpu_seconds": cpu,
               "parameters": float(count_parameters(net)),
               "eval_iterations": float(trained.coords["iteration"]),
               "eval_residual": trained.scalars["residual"]}
    where = f"on {exp.eval_domain} {exp.eval_grid}^{exp.dim} (plume, depth 2)"
    notes = [f"DCDM with the trained network: {_outcome(trained, exp)} {where}"]
    if "packaged" in results:
        p = results["packaged"]
        scalars["packaged_iterations"] = float(p.coords["iteration"])
        notes.append(f"with the packaged network ({exp.compare_with}): {_outcome(p, exp)}")
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    yield Record(exp.total_steps(), FINAL, scalars, notes=tuple(notes),
                 artifacts={"weights": state})
