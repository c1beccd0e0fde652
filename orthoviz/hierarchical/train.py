"""The sample-size sweep: one run, records with coordinates ``n``, ``trial``, ``model``.

For each n (outer: points fill in left to right), each trial and each model, fit on n
fresh samples and evaluate on the trial's test set. Common random numbers (spec §7.6):
within a trial every model sees the same target, the same training sample at each n and
the same test points. The three-layer network splits its n samples between the two
stages of Algorithm 1 (``n = n1 + n2``, spec §7.7); joint training and the baselines
use all n.
"""

from __future__ import annotations

import numpy as np
import torch

from orthoviz.hierarchical import fit
from orthoviz.hierarchical import metrics as hm
from orthoviz.hierarchical.data import gaussian_inputs, make_feature, make_target
from orthoviz.hierarchical.model import ThreeLayer, TwoLayer, sigma1_coeffs
from orthoviz.runtime.record import Record
from orthoviz.runtime.streams import guarded
from orthoviz.runtime.threads import thread_budget

SCATTER = 600  # test points sent for the feature-vs-p scatter
PROBE = 2048  # held-out points behind the live training curve
_TEST, _TRAIN, _VAL, _INIT = 1, 2, 3, 4  # stream ids of the seed tree


def _gen(*key: int) -> torch.Generator:
    """A CPU torch generator for one node of the seed tree (seed, trial, stream, ...);
    draws are moved to the device, so CPU and CUDA runs see the same data."""
    state = np.random.SeedSequence(list(key)).generate_state(2, dtype=np.uint64)
    return torch.Generator().manual_seed(int(state[0] >> np.uint64(1)))


def _labelled(target, X: torch.Tensor):
    """(X float32, p float64, y float64) with the target evaluated in float64."""
    p, y = target(X.double())
    return X, p, y


class Trial:
    """What one trial shares across n and models: the target and the test sets."""

    def __init__(self, cfg, seed: int, trial: int, device: str):
        rng = np.random.default_rng([seed, trial])
        feature = make_feature(cfg.p_family, cfg.k, cfg.d, cfg.terms, cfg.basis, rng)
        self.target = make_target(feature, cfg.g)
        self.stein = self.target.stein_coefficient()
        self.seed, self.trial, self.device = seed, trial, device
        X = gaussian_inputs(cfg.test_size, cfg.d, _gen(seed, trial, _TEST), device)
        self.X_test, self.p_test, self.y_test = _labelled(self.target, X)
        X = gaussian_inputs(cfg.validation_size, cfg.d, _gen(seed, trial, _VAL),
                            device)
        self.X_val, _, self.y_val = _labelled(self.target, X)

    def sample(self, n: int):
        """The n training points of this trial (seeded by n: a point's data do not
        depend on which other sizes the sweep holds)."""
        X = gaussian_inputs(n, self.X_test.shape[1], _gen(self.seed, self.trial, _TRAIN, n),
                            self.device)
        return _labelled(self.target, X)


def chunks_per_point(cfg, model: str) -> int:
    """Records one (n, trial, model) point yields, its point record included."""
    if model == "kernel":
        return len(cfg.kernel_ridges) + 1
    if model == "three_layer" and cfg.training == "layerwise":
        return 3
    return -(-cfg.steps // cfg.record_every) + 1


def three_layer(cfg, tr: Trial, n: int):
    """Fit the bottleneck network (layerwise or joint) on n samples; yields progress,
    returns (predict, model)."""
    X, _, y = tr.sample(n)
    sig = sigma1_coeffs(cfg.sigma1, cfg.k)
    gen = _gen(tr.seed, tr.trial, _INIT, n)
    m1 = cfg.resolved_width1()
    if cfg.training == "layerwise":
        net = ThreeLayer(cfg.d, m1, cfg.width2, sig, gen, "layerwise", cfg.bias_df,
                         tr.device, torch.float64)
        n2 = min(max(1, int(round(cfg.stage2_fraction * n))), n - 1)
        Xd = X.double()
        predict = yield from fit.layerwise(net, Xd[n2:], y[n2:], Xd[:n2], y[:n2],
                                           cfg.ridge1, cfg.ridges2, tr.X_val.double(),
                                           tr.y_val, snapshot=lambda: feature_arrays(net, tr))
        return predict, net
    net = ThreeLayer(cfg.d, m1, cfg.width2, sig, gen, "joint", device=tr.device)
    probe = (tr.X_val[:PROBE], tr.y_val[:PROBE].float())
    predict = yield from fit.adam(net, X, y.float(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                                  steps=cfg.steps, batch_size=cfg.batch_size,
                                  chunk=cfg.record_every, generator=gen,
                                  schedule=cfg.schedule, probe=probe, feature=True,
                                  snapshot=lambda: feature_arrays(net, tr))
    return predict, net


def two_layer(cfg, tr: Trial, n: int):
    """The two-layer ReLU baseline, trained with the same Adam settings."""
    X, _, y = tr.sample(n)
    gen = _gen(tr.seed, tr.trial, _INIT, n, 1)
    net = TwoLayer(cfg.d, cfg.two_layer_width, gen, tr.device)
    probe = (tr.X_val[:PROBE], tr.y_val[:PROBE].float())
    predict = yield from fit.adam(net, X, y.float(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                                  steps=cfg.steps, batch_size=cfg.batch_size,
                                  chunk=cfg.record_every, generator=gen,
                                  schedule=cfg.schedule, probe=probe)
    return predict, net


def kernel(cfg, tr: Trial, n: int):
    """Kernel ridge regression with the ReLU NTK (float64), ridge chosen on validation."""
    X, _, y = tr.sample(n)
    predict = yield from fit.kernel_ridge(X.double(), y, tr.X_val.double(), tr.y_val,
                                          cfg.kernel_ridges)
    return predict, None


def feature_arrays(net, tr: Trial) -> dict:
    """The learned feature on the first test points against p and h, and the network
    output as a function of the bottleneck value (the fitted link) on a grid spanning
    the feature's 0.5-99.5% range."""
    with torch.no_grad():
        X = tr.X_test[:SCATTER].to(net.V.dtype)
        f = net.feature(X)
        lo, hi = torch.quantile(f, torch.tensor([0.005, 0.995], dtype=f.dtype,
                                                device=f.device)).tolist()
        grid = torch.linspace(lo, hi, 200, dtype=f.dtype, device=f.device)
        link = net.link(grid)
    return {"scatter_p": tr.p_test[:SCATTER].cpu().numpy(),
            "scatter_feature": f.double().cpu().numpy(),
            "scatter_target": tr.y_test[:SCATTER].cpu().numpy(),
            "link_grid": grid.double().cpu().numpy(),
            "link_fit": link.double().cpu().numpy()}


def evaluate(cfg, tr: Trial, model: str, predict, net) -> tuple[dict, dict]:
    """Point scalars (test_loss and its SE; the feature metrics for the bottleneck
    network) and arrays (:func:`feature_arrays`)."""
    layerwise = model == "three_layer" and cfg.training == "layerwise"
    X = tr.X_test.double() if (model == "kernel" or layerwise) else tr.X_test
    out, f = predict(X)
    sc = hm.relative_mse_se(out.cpu(), tr.y_test.cpu())
    if model == "kernel" or layerwise:
        sc["ridge" if model == "kernel" else "ridge2"] = float(predict.ridge)
    if f is None:
        return sc, {}
    f64 = f.double().cpu().numpy()
    sc["feature_corr"] = hm.feature_correlation(f64, tr.p_test.cpu().numpy())
    proj = hm.degree_k_projection(net.V.detach().cpu(), net.s.detach().cpu(),
                                  net.u.detach().cpu(), net.sigma1, tr.target.feature)
    align = hm.stein_alignment(proj, tr.stein)
    sc["hermite_corr"] = align["hermite_corr"]
    if layerwise:
        sc["stein_error"] = align["stein_error"]
        sc["stage1_test_loss"] = hm.relative_mse(f64, tr.y_test.cpu())
    return sc, feature_arrays(net, tr)


MODELS = {"three_layer": three_layer, "kernel": kernel, "two_layer": two_layer}


def fit_size(cfg, model: str, n: int) -> int:
    """Elements of a fit's largest per-step operand (sets its CPU threads)."""
    if model == "kernel":
        return n * n
    if model == "three_layer" and cfg.training == "layerwise":
        return n * cfg.resolved_width1()
    batch = n if cfg.batch_size <= 0 else min(cfg.batch_size, n)
    width = cfg.resolved_width1() if model == "three_layer" else cfg.two_layer_width
    return batch * width


def point(cfg, tr: Trial, n: int, model: str, step: int):
    """One (n, trial, model) point: its progress records, then its ``phase="point"``
    record (test loss and, for the bottleneck network, the feature metrics)."""
    coords = {"n": n, "trial": tr.trial, "model": model}
    curve: dict[str, list] = {"iteration": [], "train_loss": [], "probe_loss": []}
    gen = MODELS[model](cfg, tr, n)
    # a lease sized for this fit: small Adam loops want one thread, a kernel two
    with thread_budget(fit_size(cfg, model, n), tr.device):
        while True:
            try:
                kind, stats = next(gen)
            except StopIteration as done:
                predict, net = done.value
                break
            step += 1
            arrays = stats.pop("arrays", None)
            if kind == "chunk":
                for key in curve:
                    curve[key].append(stats.pop(key, np.nan))
                arrays = {**(arrays or {}), **{f"curve_{key}": np.asarray(v, dtype=float)
                                               for key, v in curve.items()}}
                stats = {"train_loss": curve["train_loss"][-1],
                         "probe_loss": curve["probe_loss"][-1]}
            yield Record(step, "train", stats, arrays, coords=coords)
        sc, arrays = evaluate(cfg, tr, model, predict, net)
    yield Record(step + 1, "point", sc, arrays or None, coords=coords)


def run_sweep(cfg, seed: int, device: str):
    """The whole sweep, then the final record (means over trials at the largest n).

    Each point is its own stream (:func:`orthoviz.runtime.streams.guarded`): an error
    or a non-finite loss ends that point with a ``failed`` record, and the sweep goes
    on. Steps advance by the planned count per point, so the final step is always
    ``total_steps()``.
    """
    ns = cfg.sample_sizes()
    trials = [Trial(cfg, seed, t, device) for t in range(cfg.trials)]
    results: dict[tuple[str, int], list[dict]] = {}
    latest: dict[str, np.ndarray] = {}  # the panes' last arrays, saved with the run
    step = 0
    for n in ns:
        for tr in trials:
            for model in cfg.models:
                coords = {"n": n, "trial": tr.trial, "model": model}
                for rec in guarded(point(cfg, tr, n, model, step), coords,
                                   cfg.finite_metrics, cfg.nonfinite_hint):
                    if rec.phase == "point":
                        results.setdefault((model, n), []).append(dict(rec.scalars))
                    latest.update(rec.arrays or {})
                    yield rec
                step += chunks_per_point(cfg, model)
    yield final_record(cfg, ns, results, step + 1, latest)


def final_record(cfg, ns, results, step: int, latest: dict | None = None) -> Record:
    """Means over trials at the largest n; arrays: the per-n means and the panes' last
    arrays (so a saved run redraws its feature scatter and training curve)."""
    n_max = ns[-1]
    sc, notes = {}, []
    for model in cfg.models:
        vals = [r["test_loss"] for r in results.get((model, n_max), [])]
        if vals:
            sc[f"{model}_test_loss"], sc[f"{model}_test_loss_se"] = hm.mean_se(vals)
    for key in ("feature_corr", "hermite_corr", "stein_error", "stage1_test_loss"):
        vals = [r[key] for r in results.get(("three_layer", n_max), []) if key in r]
        if vals:
            sc[key] = hm.mean_se(vals)[0]
    arrays = {**(latest or {}), "sweep_n": np.asarray(ns, dtype=float)}
    for model in cfg.models:
        stats = [hm.mean_se([r["test_loss"] for r in results.get((model, n), [])])
                 for n in ns]
        arrays[f"{model}_test_loss_mean"] = np.array([m for m, _ in stats])
        arrays[f"{model}_test_loss_se"] = np.array([s for _, s in stats])
    if "three_layer" in cfg.models:
        arrays["feature_corr_mean"] = np.array(
            [hm.mean_se([r["feature_corr"] for r in results.get(("three_layer", n), [])])[0]
             for n in ns])
    th = cfg.theory()
    if "feature_corr" in sc and "feature_corr" in th:
        notes.append(f"feature_corr {sc['feature_corr']:.3f} at n = {n_max} (layerwise "
                     f"limit {th['feature_corr']:.3f})")
    if abs(cfg.stein_coefficient()) < 1e-9:
        notes.append("E[g'(Z)] = 0: the degree-k part of h carries no p (Stein's lemma), "
                     "so stage 1 has nothing to align with and feature_corr stays near 0")
    return Record(step, "final", sc, arrays, tuple(notes), coords={"n": n_max})
