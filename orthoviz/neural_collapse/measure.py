"""Record scalars and arrays of a neural-collapse run, computed where the parameters live.

Everything (per-layer features and class means, Grams, NC1-NC4, norms against the
prediction, balancedness, rank, accuracy) is computed in float64 on the run's device
by :mod:`metrics`; the results are packed into one vector and cross to the host in a
single copy per record: the scalars, and on snapshot records the K-vectors, the K x K
Grams and the K x d class means and classifier rows the 3-D view is drawn from. The
N x d features never leave the device.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from orthoviz.neural_collapse import metrics as ncm
from orthoviz.neural_collapse.model import layer_features, partial_products
from orthoviz.neural_collapse.snapshot import align_to, predicted_frame_3d, project_3d

F64 = ncm.F64


def layer_geometry(geom: dict[str, Any], j: int) -> dict[str, Any]:
    """Targets for layer j (0-based): for a GOF the diagonal Grams scale per layer
    (spec 2.1: ||hbar_k^(j)||^2 and rows of W_M...W_j); OF/ETF shapes are scale-free."""
    if j == 0 or geom["frame"] != "GOF":
        return geom
    g = dict(geom)
    g["gram_features"] = np.diag(geom["layer_feature_mean_norm_sq"][j])
    g["gram_classifier"] = np.diag(geom["partial_classifier_norm_sq"][j])
    return g


def _scale(predicted) -> float:
    """The size errors are measured against: max|p|, or 1 when the prediction is the
    trivial point p = 0 (then the "relative" error is the absolute one, |m - 0|; a
    division by ~0 would report 1e292 for a run that sits at the predicted zero)."""
    top = float(np.max(np.abs(np.asarray(predicted, float)), initial=0.0))
    return top if top > 0 else 1.0


def _rel_err_denominator(predicted) -> np.ndarray:
    """|p| per class, or max|p| for classes predicted dead (then the error is |m|/max|p|);
    1 everywhere for the trivial prediction p = 0 (see :func:`_scale`)."""
    p = np.abs(np.asarray(predicted, float))
    scale = _scale(p)
    return np.where(p > 1e-12 * scale, p, scale)


def _alive(measured_sq: torch.Tensor, predicted_sq: np.ndarray) -> torch.Tensor:
    """Classes whose classifier row is not collapsed: above 1e-3 of the predicted scale
    (so a run shrinking to the trivial point W = 0 counts as collapsed), or relative to
    the largest measured row when theory predicts total collapse."""
    scale = float(np.max(predicted_sq))
    if scale <= 0:
        return ~ncm.collapsed(measured_sq.sqrt())
    return measured_sq > 1e-3 * scale


def _relative_gap(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    scale = torch.maximum(torch.linalg.norm(A), torch.linalg.norm(B)).clamp_min(1e-300)
    return torch.linalg.norm(A - B) / scale


class Measure:
    """Computes a record's scalars and arrays from the current parameters."""

    def __init__(self, exp, geom: dict[str, Any], y: torch.Tensor, decays: list[float]):
        dev = y.device
        self.exp, self.geom, self.y, self.decays = exp, geom, y, decays
        self.K = exp.n_classes
        self.targets = [ncm.frame_targets(layer_geometry(geom, j), dev)
                        for j in range(exp.depth)]
        self.pred_cls_sq = np.asarray(geom["classifier_norm_sq"], float)
        self.pred = {k: ncm.as_f64(np.asarray(geom[k], float), dev) for k in (
            "classifier_norm_sq", "feature_mean_norm_sq", "gram_features", "gram_classifier")}
        self.denom = {k: ncm.as_f64(_rel_err_denominator(geom[k]), dev)
                      for k in ("classifier_norm_sq", "feature_mean_norm_sq")}
        self.gram_norm = {k: _scale(np.linalg.norm(geom[k]))
                          for k in ("gram_features", "gram_classifier")}
        self.bias = ncm.as_f64(np.asarray(geom["bias"], float), dev) if exp.loss == "mse_bias" \
            else None
        self.basis = None
        self.target_3d = predicted_frame_3d(geom)[0]  # the measured view is turned onto it

    def __call__(self, H, Ws, b, Z, snapshot: bool) -> tuple[dict, dict | None]:
        """(scalars, arrays or None) for the record; one device -> host copy."""
        K, y, P = self.K, self.y, partial_products(Ws)
        vals: dict[str, torch.Tensor] = {"accuracy": (Z.argmax(1) == y).to(F64).mean()}
        for j, Hj in enumerate(layer_features(H, Ws)):
            keys = ncm.ALL_KEYS if j == 0 else ncm.LAYER_KEYS
            m = ncm.nc_metrics(Hj, y, P[j], b, K, self.targets[j], keys)
            vals.update(m if j == 0 else {f"{k}_layer{j + 1}": v for k, v in m.items()})
        H64, W = ncm.as_f64(H), ncm.as_f64(P[0])
        means = ncm.class_means(H64, y, K)[0]
        cls_sq, feat_sq = (W * W).sum(1), (means * means).sum(1)
        for name, v in (("classifier", cls_sq), ("features", feat_sq)):
            key = f"{name}_norm_sq" if name == "classifier" else "feature_mean_norm_sq"
            vals[f"norm_rel_error_{name}"] = ((v - self.pred[key]).abs()
                                              / self.denom[key]).amax()
        G_H, G_W = means @ means.T, W @ W.T
        for name, G in (("features", G_H), ("classifier", G_W)):
            T = self.pred[f"gram_{name}"]
            vals[f"gram_rel_error_{name}"] = torch.linalg.norm(G - T) / self.gram_norm[
                f"gram_{name}"]
        if self.bias is not None:
            vals["bias_error"] = (ncm.as_f64(b) - self.bias).abs().amax()
        vals["balancedness"] = self._balancedness(H64, Ws)
        alive = _alive(cls_sq, self.pred_cls_sq)
        vals["n_collapsed"] = K - alive.to(F64).sum()
        s = torch.linalg.svdvals(W)
        # numerical rank: singular values above 1e-3 of the largest (a converged ETF has
        # K-1; the residual of the K-th mode is ~ the NC2 error, 1e-6 or less)
        vals["rank_classifier"] = (s > 1e-3 * s.amax().clamp_min(1e-300)).to(F64).sum()
        arrays = {}  # sent with snapshots only; the views keep the latest by key
        if snapshot:
            arrays = {"classifier_norm_sq": cls_sq, "feature_mean_norm_sq": feat_sq,
                      "survives": alive.to(F64), "gram_features": G_H,
                      "gram_classifier": G_W, "_means": means, "_classifier": W}
        scalars, host = _to_host(vals, arrays)
        if not snapshot:
            return scalars, None
        m3, c3, self.basis = project_3d(host.pop("_means"), host.pop("_classifier"),
                                        self.basis)
        host["means_3d"], host["classifier_3d"] = align_to(m3, c3, self.target_3d)
        return scalars, host

    def _balancedness(self, H: torch.Tensor, Ws) -> torch.Tensor:
        """max_j ||lam_{j+1} W_{j+1}^T W_{j+1} - lam_j W_j W_j^T|| / scale, including
        lam_1 W_1^T W_1 = lam_H H^T H for free features (0 at every critical point)."""
        lam, Wd = self.decays, [ncm.as_f64(W) for W in Ws]
        pairs = [(lam[j + 1] * Wd[j + 1].T @ Wd[j + 1], lam[j] * Wd[j] @ Wd[j].T)
                 for j in range(len(Wd) - 1)]
        if self.exp.backbone == "ufm":
            pairs.append((lam[0] * Wd[0].T @ Wd[0], self.exp.feature_decay * H.T @ H))
        if not pairs:
            return H.new_zeros(())
        return torch.stack([_relative_gap(A, B) for A, B in pairs]).amax()


def _to_host(vals: dict[str, torch.Tensor], arrays: dict[str, torch.Tensor]
             ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Pack scalars and arrays into one float64 vector, copy it to the host once, split."""
    parts = [torch.stack(list(vals.values())).to(F64)]
    parts += [a.reshape(-1).to(F64) for a in arrays.values()]
    flat = torch.cat(parts).cpu().numpy()
    scalars = dict(zip(vals, (float(v) for v in flat[:len(vals)])))
    out, at = {}, len(vals)
    for name, a in arrays.items():
        out[name] = flat[at:at + a.numel()].reshape(tuple(a.shape))
        at += a.numel()
    return scalars, out
