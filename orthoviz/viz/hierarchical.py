"""Views of the hierarchical-polynomials experiment (Wang, Nichani, Lee, ICLR 2024).

Declared curves: test loss against n on log-log axes per model (mean ± SE over trials)
with the kernel plateau and the ``d^k`` (and, when in range, ``d^{kq}``) marks dashed;
the feature alignment against n with its layerwise limit. Panes: the learned feature
against p, the fitted link over the data, the training curve of the current fit, and a
ruler of the sample-size scales. Every number comes from the run's records or its
cached theory (``context``); nothing here computes a metric.
"""

from __future__ import annotations

import numpy as np

from orthoviz.viz.curves import CURVE_HEIGHT, PALETTE
from orthoviz.viz.spec import Curves, Pane, SweepSpec, Views, ViewState
from orthoviz.viz.style import plain_opts


def _arrays(state: ViewState, *keys: str):
    if not state.arrays or any(k not in state.arrays for k in keys):
        return None
    return [np.asarray(state.arrays[k], dtype=float) for k in keys]


def _waiting(text: str, title: str):
    """The shared placeholder: the explorer swaps it for the real plot once the arrays
    arrive (a plain Text would fix the pane's element type)."""
    from orthoviz.viz.common import placeholder

    return placeholder(text, title)


def feature_vs_p(state: ViewState):
    """The bottleneck feature f(x) against p(x) on test points: a line when stage 1 (or
    joint training) has found p, a cloud when it has not (E[g'] = 0)."""
    import holoviews as hv

    title = "Learned feature f(x) against p(x)"
    got = _arrays(state, "scatter_p", "scatter_feature")
    if got is None:
        return _waiting("the learned feature appears with the first three-layer fit", title)
    p, f = got
    opts = state.styles or plain_opts  # a live pane's frames share the options
    return opts(hv.Scatter((p, f), "p(x)", "learned feature f(x)"),
                size=3, alpha=0.5, color=PALETTE[0], title=title, responsive=True,
                height=CURVE_HEIGHT, show_grid=True, framewise=True)  # re-range each frame


def link_fit(state: ViewState):
    """The target h(x) against the learned feature, with the network's output as a
    function of the bottleneck value on top: the outer layers learning g."""
    import holoviews as hv

    title = "Target h(x) against the feature, with the fitted link"
    got = _arrays(state, "scatter_feature", "scatter_target", "link_grid", "link_fit")
    if got is None:
        return _waiting("the fitted link appears with the first three-layer fit", title)
    f, h, grid, fit = got
    opts = state.styles or plain_opts
    # framewise on every element: an overlay-level flag does not re-range a live frame
    pts = opts(hv.Scatter((f, h), "learned feature f(x)", "h(x)", label="test points"),
               size=3, alpha=0.4, color=PALETTE[7], framewise=True)
    line = opts(hv.Curve((grid, fit), "learned feature f(x)", "h(x)",
                         label="network output"),
                color=PALETTE[3], line_width=2.5, framewise=True)
    return opts(pts * line, title=title, responsive=True, height=CURVE_HEIGHT,
                legend_position="top_left", show_grid=True, framewise=True)


def training_curve(state: ViewState):
    """Train loss (minibatch mean) and held-out probe loss of the fit in progress, for
    the models trained with Adam (joint three-layer, two-layer)."""
    import holoviews as hv

    title = "Training curve of the current fit"
    got = _arrays(state, "curve_iteration", "curve_train_loss", "curve_probe_loss")
    if got is None or got[0].size == 0:
        return _waiting("training curves stream here for the Adam-trained models "
                        "(joint three-layer, two-layer)", title)
    it, train, probe = got
    ok = (train > 0) & (probe > 0)
    opts = state.styles or plain_opts
    y = "loss (relative to E[h²])"
    # framewise on every element: an overlay-level flag does not re-range a live frame
    return opts(opts(hv.Curve((it[ok], train[ok]), "Adam step", y, label="train (minibatch)"),
                     color=PALETTE[0], line_width=2, framewise=True)
                * opts(hv.Curve((it[ok], probe[ok]), "Adam step", y, label="held-out probe"),
                       color=PALETTE[1], line_width=2, framewise=True),
                title=title, logy=True, responsive=True, height=CURVE_HEIGHT,
                legend_position="top_right", show_grid=True, framewise=True)


def scales_ruler(state: ViewState):
    """Where the sweep sits among the theory's sample-size scales: d^k (three-layer
    network, Theorem 1) and d^{kq} (any rotation-invariant kernel)."""
    import holoviews as hv

    c = state.theory["context"]
    cfg = state.config
    ns = np.asarray(cfg.sample_sizes(), dtype=float)
    dk, dkq = c["scale_dk"], c["scale_dkq"]
    k, q = cfg.k, int(c["q"])
    span = hv.Rectangles([(ns.min(), 0.2, ns.max(), 0.8)], label="this sweep").opts(
        color=PALETTE[2], alpha=0.3, line_alpha=0)
    marks = hv.Overlay([
        hv.VLine(dk, label=f"d^{k} = {dk:.3g}").opts(color=PALETTE[0], line_width=3),
        hv.VLine(dkq, label=f"d^{k * q} = {dkq:.3g}").opts(color=PALETTE[1], line_width=3)])
    return (span * marks).opts(
        title=f"Sample-size scales at d = {cfg.d}: network ~ d^{k}, kernel ~ d^{k * q}",
        logx=True, yaxis=None, ylim=(0, 1), xlim=(max(1.0, ns.min() / 4), dkq * 4),
        responsive=True, height=160, legend_position="right", show_grid=True,
        xlabel="n (samples)")


def about_target(state: ViewState):
    """What this configuration predicts, in words (the exact constants of the theory)."""
    import holoviews as hv

    c = state.theory["context"]
    cfg = state.config
    lines = [f"<b>Target</b>: g(z) = {c['link']} of a degree-{cfg.k} feature p "
             f"({cfg.p_family}), normalised so that E[h²] = 1 exactly.",
             f"<b>Stein factor</b> E[g′(Z)] = {c['stein_coefficient']:.3f}; kernel plateau "
             f"1 − ‖P<sub>≤k</sub>h‖² = {c['kernel_plateau']:.3f}; E[h⁴] = "
             f"{c['fourth_moment']:.4g} (test-MSE relative SE of the null predictor on "
             f"{cfg.test_size} points: {c['test_mse_relative_se']:.1%})."]
    if abs(c["stein_coefficient"]) < 1e-9:
        lines.append("<b>E[g′(Z)] = 0</b>: the degree-k part of h carries no multiple of "
                     "p (Stein's lemma), so stage 1 has nothing to align with; expect "
                     "feature_corr near 0 and no advantage over the kernel.")
    elif cfg.training == "layerwise" and "feature_corr" in state.theory:
        lines.append(f"<b>Layerwise limit</b>: feature_corr → "
                     f"{state.theory['feature_corr']:.3f} as n grows (the Stein cap; "
                     f"below 1 when g has an even part and k is even).")
    return hv.Div("<br>".join(lines)).opts(height=130, sizing_mode="stretch_width")


def _dk(cfg) -> float:
    return float(cfg.d**cfg.k)


#: a grid over (n / d^k, d): test loss against the run's n, one line per d, d^k marked
SWEEP = SweepSpec(axes=("n_over_dk", "d"), values=("0.5, 1, 4", "6, 8"),
                  metric="three_layer_test_loss", labels={"coord_n": "n"}, x="coord_n",
                  logx=True, logy=True, mark=_dk, mark_label="d^k")

VIEWS = Views(
    curves=[
        Curves("Test loss vs n (dashed: kernel plateau, n = d^k)", ["test_loss"], x="n",
               by="model", keys=lambda cfg: list(cfg.models), reduce="trial", logx=True,
               logy=True,
               theory={"test_loss": "test_loss"}, phase="point", legend="bottom_left",
               doc="Test MSE relative to E[h²] = 1 on fresh points, mean ± SE over "
                   "trials, per model. The three-layer network drops below the kernel "
                   "plateau once n passes d^k; kernels stay on it until far larger n."),
        Curves("Feature alignment vs n (dashed: layerwise limit)",
               ["feature_corr", "hermite_corr"], x="n", reduce="trial", logx=True,
               logy=False, theory={"feature_corr": "feature_corr",
                                   "hermite_corr": "hermite_corr"}, phase="point",
               legend="bottom_right",
               doc="|corr(f, p)| of the learned bottleneck feature on test points, and of "
                   "its exact degree-k Hermite part. Dashed: the large-n limit of "
                   "layerwise stage 1 (1 for odd g; below 1 for g = z + z²)."),
        Curves("Stein error ‖P_k f − E[g′(Z)] p‖ vs n (layerwise)", ["stein_error"],
               x="n", reduce="trial", logx=True, logy=False,
               theory={"stein_error": "stein_error"}, phase="point",
               doc="Distance of the learned feature's degree-k part from the Stein "
                   "prediction E[g′(Z)] p; dashed: its exact large-n value, the "
                   "theorem's finite-d error floor."),
    ],
    panes=[
        Pane("This target", about_target, "Exact constants of the configured target"),
        Pane("Learned feature vs p", feature_vs_p,
             "A line means the middle layer has learned p (up to scale)"),
        Pane("Fitted link", link_fit, "The outer layers fitting g on the learned feature"),
        Pane("Training curve", training_curve, "The current Adam fit, streamed live"),
        Pane("Sample-size scales", scales_ruler, "d^k for the network, d^{kq} for kernels"),
    ],
    open_pane="Training curve",  # what moves during a run
    intro=("**Hierarchical polynomials** (Wang, Nichani, Lee, ICLR 2024, "
           "[arXiv 2311.13774](https://arxiv.org/abs/2311.13774)). The target is "
           "h(x) = g(p(x)): p a degree-k polynomial built from many independent pieces, "
           "g a degree-q link. A three-layer network with a width-1 bottleneck learns h "
           "from about d^k samples: its middle layer first finds p (the degree-k Hermite "
           "part of h is about E[g′(Z)]·p), then its outer layer fits g. Kernels need "
           "about d^{kq}. **Look for**: the three-layer loss leaving the kernel plateau "
           "after n = d^k while the kernel and the two-layer network stay on it; the "
           "feature scatter collapsing to a line. With g = z² − 1 (failure_g_even) "
           "E[g′(Z)] = 0 and nothing is learned; with g = z + z² (stein_bias) the "
           "alignment stops below 1."),
    sweep=SWEEP,
)
