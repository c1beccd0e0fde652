"""Views of the neural-collapse experiment (HoloViews; draws, never computes metrics).

The 3-D views project the 3-D coordinates that the run and the theory provide
(``means_3d``, ``classifier_3d``) through a camera the user turns with two sliders
(azimuth, elevation; :attr:`Pane.controls`). The projection is redrawn server-side
through Bokeh: a handful of vectors, so it is cheap, the live path stays one plotting
library, and no 3-D dependency (plotly) is needed for a frame of at most 10 arrows.
"""

from __future__ import annotations

import math

import numpy as np

from orthoviz.viz.curves import PALETTE, figure
from orthoviz.viz.spec import Curves, Pane, Views, ViewState
from orthoviz.viz.style import plain_opts

AZIMUTH, ELEVATION = 35, 22  # degrees: the camera at first paint
FRAME = 230  # px, each of the measured and predicted frames


def camera(azimuth: float = AZIMUTH, elevation: float = ELEVATION) -> np.ndarray:
    """(3, 2) orthographic projection: rows are the screen x and y of e1, e2, e3 for a
    camera turned by ``azimuth`` about e3 and tilted by ``elevation`` (degrees)."""
    az, el = math.radians(azimuth), math.radians(elevation)
    return np.array([[math.cos(az), -math.sin(az) * math.sin(el)],
                     [-math.sin(az), -math.cos(az) * math.sin(el)],
                     [0.0, math.cos(el)]])


def _frame_plot(means: np.ndarray, classifier: np.ndarray, title: str, key: bool = True,
                view: np.ndarray | None = None, opts=plain_opts):
    """One 3-D frame projected by ``view`` (:func:`camera`); ``key``: a legend saying
    which line is which (solid: class mean, dashed: classifier row). ``opts``: how
    options are applied (a live pane's :class:`~orthoviz.viz.style.Styles`)."""
    import holoviews as hv

    K = len(means)
    # normalise both sets to the same box: means and classifier rows differ in scale
    m = means / max(float(np.linalg.norm(means, axis=1).max()), 1e-300)
    c = classifier / max(float(np.linalg.norm(classifier, axis=1).max()), 1e-300)
    view = camera() if view is None else view
    P, Q = m @ view, c @ view
    axes = opts(hv.Segments([(0, 0, *(1.1 * view[i])) for i in range(3)]),
                color="#bbbbbb", line_dash="dotted")
    cmap = list(PALETTE[:K])
    seg_m = opts(hv.Segments([(0, 0, *p, k) for k, p in enumerate(P)], vdims="class",
                             label="class mean (solid)"),
                 color="class", cmap=cmap, line_width=3)
    seg_c = opts(hv.Segments([(0, 0, *q, k) for k, q in enumerate(Q)], vdims="class",
                             label="classifier row (dashed)"),
                 color="class", cmap=cmap, line_width=1.5, line_dash="dashed")
    pts = opts(hv.Points([(*p, f"mean {k}") for k, p in enumerate(P)], vdims="label"),
               size=9, color="black", tools=["hover"])
    tips = opts(hv.Points([(*q, f"classifier {k}") for k, q in enumerate(Q)],
                          vdims="label"),
                size=7, marker="triangle", color="gray", tools=["hover"])
    # 230 px frames: the measured/predicted pair fits a half-width cell of the page
    return opts(axes * seg_m * seg_c * pts * tips,
                title=title, xaxis=None, yaxis=None, frame_width=FRAME, frame_height=FRAME,
                xlim=(-1.3, 1.3), ylim=(-1.3, 1.3), show_legend=key,
                legend_position="bottom_left",
                legend_opts={"background_fill_alpha": 0.6, "label_text_font_size": "8pt"})


def _measured(state: ViewState, key: str) -> tuple[np.ndarray, bool]:
    """The run's array, or zeros shaped like the prediction before any run (the pane
    keeps its shape, and the predicted half draws at first paint)."""
    if key in state.arrays:
        return np.asarray(state.arrays[key], float), True
    return np.zeros_like(np.asarray(state.theory[key], float)), False


def geometry_3d(state: ViewState):
    """Class means (solid) and classifier rows (dashed) of the run beside the theory."""
    m, ran = _measured(state, "means_3d")
    c, _ = _measured(state, "classifier_3d")
    view = camera(state.view.get("azimuth", AZIMUTH), state.view.get("elevation", ELEVATION))
    opts = state.styles or plain_opts
    measured = _frame_plot(m, c, "measured" if ran else "measured (press Start)",
                           view=view, opts=opts)
    predicted = _frame_plot(np.asarray(state.theory["means_3d"]),
                            np.asarray(state.theory["classifier_3d"]), "predicted",
                            key=False, view=view, opts=opts)
    return opts(measured + predicted, shared_axes=False)


def _gram_image(G: np.ndarray, title: str, opts=plain_opts):
    import holoviews as hv

    G = np.asarray(G, float)
    n = max(float(np.linalg.norm(G)), 1e-300)
    K = len(G)
    # zero-padded string labels: categorical axes in class order (no fractional ticks)
    lab = [f"{i:0{len(str(K - 1))}d}" for i in range(K)]
    data = [(lab[i], lab[j], G[i, j] / n) for i in range(K) for j in range(K)]
    return opts(hv.HeatMap(data, ["k", "l"], "G/||G||"),
                title=title, cmap="RdBu_r", clim=(-1, 1), colorbar=True, tools=["hover"],
                height=260, responsive=True, invert_yaxis=True)


def grams(state: ViewState):
    """Normalised Gram matrices of class means and classifier rows, measured vs theory."""
    t = state.theory
    gf, ran = _measured(state, "gram_features")
    gc, _ = _measured(state, "gram_classifier")
    tag = "" if ran else " (no run yet)"
    opts = state.styles or plain_opts
    return opts((_gram_image(gf, "features: measured" + tag, opts)
                 + _gram_image(t["gram_features"], "features: predicted", opts)
                 + _gram_image(gc, "classifier: measured" + tag, opts)
                 + _gram_image(t["gram_classifier"], "classifier: predicted", opts)).cols(2),
                shared_axes=False)


def norms_vs_size(state: ViewState):
    """Class size n_k against ||w_k||^2 and ||hbar_k||^2: run (points), theory (curve)."""
    import holoviews as hv

    ctx, a = state.theory["context"], state.arrays
    sizes = np.asarray(state.config.sizes(), float)
    opts = state.styles or plain_opts
    out = []
    for key, label, color in (("classifier_norm_sq", "||w_k||^2", PALETTE[0]),
                              ("feature_mean_norm_sq", "||hbar_k||^2", PALETTE[1])):
        out.append(opts(hv.Curve((ctx["norm_curve_sizes"], ctx[f"norm_curve_{key}"]),
                                 "class size n_k", "squared norm", label=f"{label} theory"),
                        color=color))
        if key in a:
            out.append(opts(hv.Scatter((sizes, np.asarray(a[key])), "class size n_k",
                                       "squared norm", label=f"{label} run"),
                            color=color, size=9))
    return opts(hv.Overlay(out), title="minority collapse: norm vs class size", logx=True,
                height=300, responsive=True, legend_position="top_left")


def per_layer(state: ViewState):
    """NC1 and NC2 (features) of every layer j, pairing H_j with W_M...W_j."""
    M = state.config.depth
    names = ["nc1"] + [f"nc1_layer{j}" for j in range(2, M + 1)]
    names += ["nc2_features"] + [f"nc2_features_layer{j}" for j in range(2, M + 1)]
    return figure(state.rows, Curves("NC1 and NC2 per layer", names, logy=True),
                  state.config, state.theory, styles=state.styles)


VIEWS = Views(
    intro=(
        "### Neural collapse in deep linear networks\n"
        "Dang et al., ICML 2023. Free features **H₁** (one column per sample) feed **M** "
        "linear layers **W₁…W_M**; training minimises "
        "½N⁻¹‖W_M…W₁H₁ − Y‖² + Σ λ_W/2 ‖W_j‖² + λ_H/2 ‖H₁‖². "
        "At the optimum the features collapse to their class means (**NC1**), the means and "
        "classifier rows form a fixed frame (**NC2**) and align with each other (**NC3**). "
        "The frame is orthogonal for balanced bias-free MSE, an orthogonal frame with "
        "class-size-dependent lengths for imbalanced data, and a simplex ETF with a bias or "
        "cross-entropy. Dashed lines are the closed-form predictions."
    ),
    curves=[
        Curves("Objective (dashed: predicted optimum F*)", ["objective"], logy="auto",
               theory={"objective": "objective"},
               doc="The regularised objective; it should settle on F* unless training is "
                   "stuck at the trivial point or a local minimum."),
        Curves("NC1: within-class variability", ["nc1", "nc1_quotient"], logy=True,
               doc="tr(Σ_W Σ_B⁺)/K and tr(Σ_W)/tr(Σ_B); both → 0 (the second is slower: "
                   "feature noise outside the class-mean span decays only through λ_H)."),
        Curves("NC2: distance to the predicted frame", ["nc2_features", "nc2_classifier"],
               logy=True, doc="‖G/‖G‖ − T/‖T‖‖ for the class-mean and classifier Grams "
                              "against the predicted frame T (OF, GOF or ETF)."),
        Curves("NC3: self-duality", ["nc3"], logy=True,
               doc="Distance of W·H̄ (normalised) from the predicted logit frame."),
        Curves("Norms against theory (relative error)",
               ["norm_rel_error_classifier", "norm_rel_error_features"], logy=True,
               doc="max_k |measured − predicted| / predicted for ‖w_k‖² and ‖h̄_k‖²."),
    ],
    panes=[
        Pane("Geometry in 3-D", geometry_3d,
             doc="Class means (solid) and classifier rows (dashed), each set scaled to unit "
                 "length. K ≤ 3: exact; K ≥ 4: centred vectors (exact for K = 4). "
                 "Turn both frames with the sliders.",
             controls={"azimuth": (-180, 180, AZIMUTH, "azimuth (°)"),
                       "elevation": (-89, 89, ELEVATION, "elevation (°)")}),
        Pane("Gram matrices: measured vs predicted", grams,
             doc="H̄ᵀH̄ and WWᵀ normalised; orthogonal frames are diagonal, ETFs have "
                 "equal negative off-diagonals."),
        Pane("Minority collapse", norms_vs_size,
             doc="Small classes get larger feature means and smaller classifier rows; below "
                 "a critical size they collapse to zero (theory curve)."),
        Pane("Per layer", per_layer,
             doc="Layer j pairs the features H_j with the partial product W_M…W_j."),
    ],
)
