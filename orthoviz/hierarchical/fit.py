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


def layerwise(model: ThreeLayer, X1, y1, X2, y2, ridge1: float, ridges2, X_val, y_val,
              snapshot=None):
    """Stage 1: ridge of y on ``sigma1(<v_j, x>)`` over D1 (u only; c = 0 so the output
    is the feature). Stage 2: ridge of the residual ``y - f`` on the ReLU features of
    the standardised feature over D2 (c and c_0 only), the ridge chosen among
    ``ridges2`` by the validation MSE of the whole network (spec §7.9: tune on the
    final error, never on the feature). Float64 throughout."""
    with torch.no_grad():
        model.u.copy_(ridge_solve(model.units(X1), y1, ridge1))
        yield "stage", ({"arrays": snapshot()} if snapshot is not None else {})
        f2 = model.feature(X2)
        model.mu.copy_(f2.mean())
        model.tau.copy_(f2.std().clamp_min(1e-12))

        def relu_features(f):
            z = (f - model.mu) / model.tau
            Psi = torch.relu(z[:, None] * model.a + model.b)
            return torch.cat([Psi, torch.ones_like(z)[:, None]], dim=1)

        Psi, f_val = relu_features(f2), model.feature(X_val)
        Psi_val = relu_features(f_val)
        best = (math.inf, None, None)
        for r in ridges2:
            coef = ridge_solve(Psi, y2 - f2, r)
            val = float(torch.mean((f_val + Psi_val @ coef - y_val) ** 2))
            if val < best[0]:
                best = (val, r, coef)
        model.c.copy_(best[2][:-1])
        model.c0.copy_(best[2][-1])
        yield "stage", {"val_loss": best[0], "ridge2": float(best[1])}

    def predict(X):
        with torch.no_grad():
            f = batched(model.feature, X)
            return model.link(f), f

    predict.ridge = best[1]
    return predict


class Adam:
    """Adam with L2 weight decay added to the gradient (the update of
    ``torch.optim.Adam(params, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay)``).

    Written out because constructing the first ``torch.optim`` optimiser of a process
    imports ``torch._dynamo`` (3.7 s measured on a 2-core CPU, far more under load):
    that would stall the first Adam fit of a run between two records, so Stop and a
    config change would wait for it. Checked against torch.optim.Adam in the tests.
    """

    def __init__(self, params, lr: float, weight_decay: float = 0.0,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.weight_decay, self.betas, self.eps = lr, weight_decay, betas, eps
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1**self.t, 1 - b2**self.t
        for p, m, v in zip(self.params, self.m, self.v, strict=True):
            if p.grad is None:
                continue
            g = p.grad.add(p, alpha=self.weight_decay) if self.weight_decay else p.grad
            m.mul_(b1).add_(g, alpha=1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = v.div(c2).sqrt_().add_(self.eps)
            p.addcdiv_(m, denom, value=-self.lr / c1)


def adam(model, X, y, *, lr: float, weight_decay: float, steps: int, batch_size: int,
         chunk: int, generator, schedule: str = "cosine", probe=None, feature: bool = False,
         snapshot=None):
    """Adam on ``mean((model(x) - y)^2)`` over minibatches (epochs of a random
    permutation; ``batch_size = 0`` is full batch), the step size constant or decayed
    to 0 along a cosine (minibatch noise would otherwise set the final error). Every
    ``chunk`` steps yields ``train_loss`` (mean minibatch loss of the chunk) and, with
    ``probe = (X, y)``, ``probe_loss`` on those held-out points; ``snapshot()``, if
    given, adds arrays (the live feature scatter) under ``"arrays"``."""
    opt = Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    n = X.shape[0]
    bs = n if batch_size <= 0 else min(batch_size, n)
    perm, pos, count = None, n, 0
    total = torch.zeros((), device=X.device)  # summed on the device: no sync per step
    for step in range(1, steps + 1):
        if schedule == "cosine":
            opt.lr = lr * 0.5 * (1.0 + math.cos(math.pi * (step - 1) / steps))
        if pos + bs > n:  # new epoch
            perm, pos = torch.randperm(n, generator=generator).to(X.device), 0
        idx = perm[pos: pos + bs]
        pos += bs
        loss = torch.mean((model(X[idx]) - y[idx]) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.detach()
        count += 1
        if step % chunk == 0 or step == steps:
            stats = {"iteration": float(step), "train_loss": float(total) / count}
            if probe is not None:
                with torch.no_grad():
                    stats["probe_loss"] = float(torch.mean((model(probe[0]) - probe[1]) ** 2))
            if snapshot is not None:
                stats["arrays"] = snapshot()
            total.zero_()
            count = 0
            yield "chunk", stats

    def predict(Xt):
        with torch.no_grad():
            if feature:
                f = batched(model.feature, Xt)
                return model.link(f), f
            return batched(model, Xt), None

    return predict


def kernel_ridge(X, y, X_val, y_val, ridges):
    """KRR with :func:`ntk_relu`: ``alpha = (K + ridge n I)^{-1} y`` for each ridge;
    keeps the ridge with the lowest validation MSE. The training Gram is float64, each
    solve factorises in float32 (half the time) and refines in float64
    (:func:`refined_solve`). Validation and test kernel rows are evaluated in float32
    and applied to the float64 alpha: entry errors ~1e-7 move a prediction by ~1e-5,
    far below the test MSE's sampling error (~1e-2), at about half the cost of the
    step that dominates the kernel's time (n_test x n entries)."""
    n = X.shape[0]
    K = ntk_relu(X, X)
    Xf = X.float()

    def rows_times(A, alpha):
        return batched(lambda B: ntk_relu(B.float(), Xf).double() @ alpha, A, rows=2048)

    K_val = ntk_relu(X_val.float(), Xf).double()
    best = (math.inf, None, None)
    for r in ridges:
        alpha = refined_solve(K, r * n, y)
        val = float(torch.mean((K_val @ alpha - y_val) ** 2))
        if val < best[0]:
            best = (val, r, alpha)
        yield "ridge", {"val_loss": val, "ridge": float(r)}
    _, ridge, alpha = best

    def predict(Xt):
        return rows_times(Xt, alpha), None

    predict.ridge = ridge
    return predict


def refined_solve(K: torch.Tensor, shift: float, y: torch.Tensor, sweeps: int = 3):
    """``(K + shift I)^{-1} y`` (K float64, SPD): a float32 Cholesky factor with float64
    iterative refinement. Each sweep multiplies the error by about
    ``cond * eps32``; with ``cond <= ||K|| / shift ~ 1e4`` here (``shift >= 1e-4 n``,
    kernel entries O(1)) three sweeps reach float64 level."""
    A = K.float()
    A.diagonal().add_(shift)
    L = torch.linalg.cholesky(A)
    alpha = torch.zeros_like(y)
    for _ in range(sweeps):
        res = y - K @ alpha - shift * alpha
        alpha += torch.cholesky_solve(res.float()[:, None], L)[:, 0].double()
    return alpha
