"""The one training loop of the neural-collapse experiment (UFM and MLP backbone).

Objective (Dang et al. 2023, Eq. 2 family; normalisation of the authors' code):
    f = 1/(2N) ||Z - Y||_F^2 (or (1/N) sum_i CE(z_i, y_i))
        + sum_j lambda_Wj/2 ||W_j||_F^2 + lambda_H/2 ||H_1||_F^2,   Z = H_1 W_1^T...W_M^T (+ b)
trained full batch. Every ``record_every`` steps the NC metrics of every layer are
measured (float64, on the host) and compared with the closed-form prediction.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from orthoviz.neural_collapse import metrics as ncm
from orthoviz.neural_collapse.data import (
    gaussian_mixture,
    labels_for,
    load_dataset,
    subsample,
)
from orthoviz.neural_collapse.model import (
    DeepLinearHead,
    MLPBackbone,
    layer_features,
    partial_products,
)
from orthoviz.neural_collapse.snapshot import align_to, predicted_frame_3d, project_3d
from orthoviz.neural_collapse.theory import gap_tolerance
from orthoviz.runtime.device import torch_dtype
from orthoviz.runtime.record import FINAL, Record

LAYER_METRICS = ("nc1", "nc2_features", "nc2_classifier", "nc3")
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


def _layer_geometry(geom: dict[str, Any], j: int) -> dict[str, Any]:
    """Targets for layer j (0-based): for a GOF the diagonal Grams scale per layer
    (spec 2.1: ||hbar_k^(j)||^2 and rows of W_M...W_j); OF/ETF shapes are scale-free."""
    if j == 0 or geom["frame"] != "GOF":
        return geom
    g = dict(geom)
    g["gram_features"] = np.diag(geom["layer_feature_mean_norm_sq"][j])
    g["gram_classifier"] = np.diag(geom["partial_classifier_norm_sq"][j])
    return g


def _rel_err(measured: np.ndarray, predicted: np.ndarray) -> float:
    """Max over classes of |m - p| / p; classes predicted dead count |m| / max(p)."""
    scale = max(float(np.max(np.abs(predicted))), 1e-300)
    denom = np.where(np.abs(predicted) > 1e-12 * scale, np.abs(predicted), scale)
    return float(np.max(np.abs(measured - predicted) / denom))


def _alive(measured_sq: np.ndarray, predicted_sq: np.ndarray) -> np.ndarray:
    """Classes whose classifier row is not collapsed: above 1e-3 of the predicted scale
    (so a run shrinking to the trivial point W = 0 counts as collapsed), or relative to
    the largest measured row when theory predicts total collapse."""
    scale = float(np.max(predicted_sq))
    if scale <= 0:
        return ~ncm.collapsed(np.sqrt(measured_sq))
    return measured_sq > 1e-3 * scale


class _Measure:
    """Computes the record scalars and snapshots from the current parameters."""

    def __init__(self, exp, geom, y, decays):
        self.exp, self.geom, self.y = exp, geom, y
        self.K, self.decays = exp.n_classes, decays
        self.basis = None
        self.target_3d = predicted_frame_3d(geom)[0]  # the measured view is turned onto it

    def scalars(self, H, Ws, b, Z, data_loss, objective) -> tuple[dict, dict]:
        g, K, y = self.geom, self.K, self.y
        Hn = [h.detach().double().cpu().numpy() for h in layer_features(H, Ws)]
        Pn = [p.detach().double().cpu().numpy() for p in partial_products(Ws)]
        bn = None if b is None else b.detach().double().cpu().numpy()
        out = {"loss": objective, "data_loss": data_loss, "objective": objective,
               "objective_gap": objective - float(g["objective"]),
               "accuracy": float((Z.argmax(1).cpu().numpy() == y).mean())}
        for j in range(len(Ws)):
            m = ncm.nc_metrics(Hn[j], y, Pn[j], bn, K, _layer_geometry(g, j))
            if j == 0:
                out.update(m)
            else:
                out.update({f"{k}_layer{j + 1}": m[k] for k in LAYER_METRICS})
        means, _ = ncm.class_means(Hn[0], y, K)
        W = Pn[0]
        cls_sq, feat_sq = np.sum(W**2, axis=1), np.sum(means**2, axis=1)
        out["norm_rel_error_classifier"] = _rel_err(cls_sq, g["classifier_norm_sq"])
        out["norm_rel_error_features"] = _rel_err(feat_sq, g["feature_mean_norm_sq"])
        G_H, G_W = means @ means.T, W @ W.T
        for name, G in (("features", G_H), ("classifier", G_W)):
            T = g[f"gram_{name}"]
            out[f"gram_rel_error_{name}"] = float(
                np.linalg.norm(G - T) / max(np.linalg.norm(T), 1e-300))
        if bn is not None:
            out["bias_error"] = float(np.max(np.abs(bn - g["bias"])))
        out["balancedness"] = self._balancedness(Hn[0], Ws)
        alive = _alive(cls_sq, g["classifier_norm_sq"])
        out["n_collapsed"] = float(K - alive.sum())
        s = np.linalg.svd(W, compute_uv=False)
        # numerical rank: singular values above 1e-3 of the largest (a converged ETF has
        # K-1; the residual of the K-th mode is ~ the NC2 error, 1e-6 or less)
        out["rank_classifier"] = float(np.sum(s > 1e-3 * max(s.max(), 1e-300)))
        arrays = {"classifier_norm_sq": cls_sq, "feature_mean_norm_sq": feat_sq,
                  "survives": alive.astype(float), "gram_features": G_H, "gram_classifier": G_W}
        return out, arrays

    def _balancedness(self, H: np.ndarray, Ws) -> float:
        """max_j ||lam_{j+1} W_{j+1}^T W_{j+1} - lam_j W_j W_j^T|| / scale, including
        lam_1 W_1^T W_1 = lam_H H^T H for free features (0 at every critical point)."""
        lam, Wn = self.decays, [W.detach().double().cpu().numpy() for W in Ws]
        pairs = [(lam[j + 1] * Wn[j + 1].T @ Wn[j + 1], lam[j] * Wn[j] @ Wn[j].T)
                 for j in range(len(Wn) - 1)]
        if self.exp.backbone == "ufm":
            pairs.append((lam[0] * Wn[0].T @ Wn[0], self.exp.feature_decay * H.T @ H))
        worst = 0.0
        for A, B in pairs:
            scale = max(np.linalg.norm(A), np.linalg.norm(B), 1e-300)
            worst = max(worst, float(np.linalg.norm(A - B) / scale))
        return worst

    def snapshot(self, H, Ws, arrays) -> dict:
        Hn = H.detach().double().cpu().numpy()
        means, _ = ncm.class_means(Hn, self.y, self.K)
        W = partial_products(Ws)[0].detach().double().cpu().numpy()
        m3, c3, self.basis = project_3d(means, W, self.basis)
        m3, c3 = align_to(m3, c3, self.target_3d)
        return {**arrays, "means_3d": m3, "classifier_3d": c3}


def train(exp, seed: int, device: str) -> Iterator[Record]:
    """Yield records while training ``exp`` (a NeuralCollapse config) from ``seed``.

    The thread budget is the caller's (``Experiment.run`` holds a lease)."""
    dtype, dev = torch_dtype(exp.dtype), torch.device(device)
    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    sizes, geom, decays = exp.sizes(), exp.geometry(), exp.decays()
    K, N, d = len(sizes), sum(sizes), exp.feature_dim
    X, y = _inputs(exp, sizes, rng)
    y_t = torch.as_tensor(y, device=dev)
    Y = F.one_hot(y_t, K).to(dtype)  # (N, K)
    head = DeepLinearHead(d, K, exp.depth, exp.loss == "mse_bias", exp.init_std, gen, dtype)
    if X is None:  # free features H_1 (N, d), same init as every W_j
        H_free = torch.nn.Parameter(torch.empty(N, d, dtype=dtype).normal_(
            0.0, exp.init_std, generator=gen))
        backbone, params = None, [H_free]
    else:
        backbone = MLPBackbone(X.shape[1], exp.mlp_width, exp.mlp_layers, d, gen, dtype)
        X_t = torch.as_tensor(X, dtype=dtype, device=dev)
        backbone.to(dev)
        params = list(backbone.parameters())
    head.to(dev)
    if X is None:
        H_free.data = H_free.data.to(dev)
    params += list(head.parameters())
    if exp.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=exp.lr, momentum=exp.momentum)
    else:
        opt = torch.optim.Adam(params, lr=exp.lr, betas=(exp.momentum, 0.999))
    lam_W, lam_H = decays, exp.feature_decay

    def objective():
        H = H_free if backbone is None else backbone(X_t)  # (N, d)
        Z = head(H)  # (N, K)
        data = (0.5 / N) * (Z - Y).pow(2).sum() if exp.loss != "ce" else F.cross_entropy(Z, y_t)
        pen = sum(l / 2 * W.pow(2).sum() for l, W in zip(lam_W, head.weights))
        return data + pen + lam_H / 2 * H.pow(2).sum(), data, H, Z

    measure = _Measure(exp, geom, y, decays)

    def record(step: int, phase: str) -> Record:
        with torch.no_grad():
            f, data, H, Z = objective()
            if not abs(float(f)) < DIVERGED:  # NaN, inf or on its way: the guard stops the run
                return Record(step, phase, {"loss": float("inf")})
            sc, arrays = measure.scalars(H, head.weights, head.bias, Z, float(data), float(f))
            snap = phase == FINAL or step % exp.snapshot_every == 0
            arrays = measure.snapshot(H, head.weights, arrays) if snap else None
        notes: tuple[str, ...] = ()
        if phase == FINAL:
            notes = verdict(exp, geom, sc)
        return Record(step, phase, sc, arrays, notes)

    yield record(0, "train")
    for step in range(1, exp.steps + 1):
        opt.zero_grad(set_to_none=True)
        loss = objective()[0]
        loss.backward()
        opt.step()
        if step == exp.steps:
            yield record(step, FINAL)
        elif step % exp.record_every == 0:
            yield record(step, "train")


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
