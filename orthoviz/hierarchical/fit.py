"""How each model is fitted on one sample: generators that yield progress between
inner steps (so Stop acts within one step) and return the fitted predictor.

- :func:`layerwise`: Algorithm 1 of Wang, Nichani, Lee (spec §3.1) with the sample
  split, both stages ridge regressions solved in closed form (the stages are linear in
  the trained weights, so "GD with weight decay to convergence" *is* this solution).
- :func:`adam`: joint training of every parameter with Adam on minibatches (the
  paper's Fig. 2 protocol, spec §3.2; also the two-layer baseline's optimiser).
- :func:`kernel_ridge`: KRR with the ReLU NTK, the ridge chosen on validation data.

Each yields ``(kind, scalars)`` pairs (``kind`` in ``{"stage", "chunk", "ridge"}``) and
returns a callable ``predict(X) -> (out, feature or None)``.
"""

from __future__ import annotations

import math

import torch

from orthoviz.hierarchical.model import ThreeLayer, ntk_relu, ridge_solve

_ROWS = 8192  # test rows evaluated at once (bounds memory: rows x width floats)


def batched(fn, X: torch.Tensor, rows: int = _ROWS):
    """Apply ``fn`` to row chunks of X and concatenate (each output (n,) or a tuple)."""
    outs = [fn(X[i: i + rows]) for i in range(0, X.shape[0], rows)]
    if isinstance(outs[0], tuple):
        return tuple(torch.cat(parts) for parts in zip(*outs, strict=True))
    return torch.cat(outs)


def layerwise(model: ThreeLayer, X1, y1, X2, y2, ridge1: float, ridge2: float):
    """Stage 1: ridge of y on ``sigma1(<v_j, x>)`` over D1 (u only; c = 0 so the output
    is the feature). Stage 2: ridge of the residual ``y - f`` on the ReLU features of
    the standardised feature over D2 (c and c_0 only). Float64 throughout."""
    with torch.no_grad():
        model.u.copy_(ridge_solve(model.units(X1), y1, ridge1))
        yield "stage", {}
        f2 = model.feature(X2)
        model.mu.copy_(f2.mean())
        model.tau.copy_(f2.std().clamp_min(1e-12))
        z = (f2 - model.mu) / model.tau
        Psi = torch.relu(z[:, None] * model.a + model.b)
        Psi = torch.cat([Psi, torch.ones_like(z)[:, None]], dim=1)
        coef = ridge_solve(Psi, y2 - f2, ridge2)
        model.c.copy_(coef[:-1])
        model.c0.copy_(coef[-1])
        yield "stage", {}

    def predict(X):
        with torch.no_grad():
            f = model.feature(X)
            return model.link(f), f

    return predict


def adam(model, X, y, *, lr: float, weight_decay: float, steps: int, batch_size: int,
         chunk: int, generator, probe=None, feature: bool = False):
    """Adam on ``mean((model(x) - y)^2)`` over minibatches (epochs of a random
    permutation; ``batch_size = 0`` is full batch). Every ``chunk`` steps yields
    ``train_loss`` (mean minibatch loss of the chunk) and, with ``probe = (X, y)``,
    ``probe_loss`` on those held-out points."""
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    n = X.shape[0]
    bs = n if batch_size <= 0 else min(batch_size, n)
    perm, pos, total, count = None, n, 0.0, 0
    for step in range(1, steps + 1):
        if pos + bs > n:  # new epoch
            perm, pos = torch.randperm(n, generator=generator, device=X.device), 0
        idx = perm[pos: pos + bs]
        pos += bs
        loss = torch.mean((model(X[idx]) - y[idx]) ** 2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += float(loss.detach())
        count += 1
        if step % chunk == 0 or step == steps:
            stats = {"train_loss": total / count}
            if probe is not None:
                with torch.no_grad():
                    stats["probe_loss"] = float(torch.mean((model(probe[0]) - probe[1]) ** 2))
            total, count = 0.0, 0
            yield "chunk", {"iteration": float(step), **stats}

    def predict(Xt):
        with torch.no_grad():
            if feature:
                f = batched(model.feature, Xt)
                return model.link(f), f
            return batched(model, Xt), None

    return predict


def kernel_ridge(X, y, X_val, y_val, ridges):
    """KRR with :func:`ntk_relu` (float64): ``alpha = (K + ridge n I)^{-1} y`` for each
    ridge (one Cholesky each); keeps the ridge with the lowest validation MSE."""
    n = X.shape[0]
    K = ntk_relu(X, X)
    K_val = batched(lambda A: ntk_relu(A, X), X_val)
    best = (math.inf, None, None)
    for r in ridges:
        A = K.clone()
        A.diagonal().add_(r * n)
        alpha = torch.cholesky_solve(y[:, None], torch.linalg.cholesky(A))[:, 0]
        val = float(torch.mean((K_val @ alpha - y_val) ** 2))
        if val < best[0]:
            best = (val, r, alpha)
        yield "ridge", {"val_loss": val, "ridge": float(r)}
    _, ridge, alpha = best

    def predict(Xt):
        return batched(lambda A: ntk_relu(A, X) @ alpha, Xt), None

    predict.ridge = ridge
    return predict
