"""Views of the random-features experiment (Simon et al., "More is Better", ICLR 2024).

The risk curves are declared (:class:`Curves`): test risk over the swept axis, one line
per ridge, mean ± SE over trials, the theory dashed beside each. The panes draw the
continuum predictions the run's theory holds under ``context``; nothing here computes a
metric or a prediction.
"""

from __future__ import annotations

import numpy as np

from orthoviz.viz.spec import Curves, Pane, SweepSpec, Views, ViewState


def _sweep(cfg) -> str:
    return cfg.sweep


def _ridges(cfg) -> list[float]:
    return [float(r) for r in cfg.ridges]


def _smallest_ridge(cfg) -> dict:
    return {"ridge": float(min(cfg.ridges))}


def exponents(context: dict) -> tuple[float, float, str]:
    """(alpha, beta, how they are named): a data set's measured exponents (the
    theory's ``alpha_hat``, ``beta_hat``) when it has them, else the config's powerlaw
    exponents the continuum was evaluated at."""
    if "alpha_hat" in context:
        return float(context["alpha_hat"]), float(context["beta_hat"]), "measured α̂, β̂"
    return float(context["continuum_alpha"]), float(context["continuum_beta"]), "α, β"


def phase_diagram(state: ViewState):
    """Continuum optimal fitting ratio R* over (alpha, beta) at the config's relative
    noise, with the zero-ridge boundary beta = alpha (1 + (alpha - 1) sigma_rel^2) and
    the task's exponents (measured ones for a data set) marked."""
    import holoviews as hv

    c = state.theory["context"]
    a, b, edge = c["phase_alpha"], c["phase_beta"], c["phase_boundary"]
    img = hv.Image((a, b, c["phase_r_star"]), ["alpha", "beta"], "R*").opts(
        cmap="viridis", colorbar=True, clim=(0, 1))
    keep = edge <= b[-1]
    bound = hv.Curve((a[keep], edge[keep]), "alpha", "beta", label="δ* = 0 above").opts(
        color="white", line_dash="dashed")
    x, y, name = exponents(c)
    # drawn last, white-edged and large: visible on the boundary line (α = β) too
    here = hv.Scatter([(x, y)], "alpha", "beta",
                      label=f"this task: {name} = {x:.2f}, {y:.2f}").opts(
        color="red", size=14, marker="circle", line_color="white", line_width=2)
    noise = float(state.config.noise_rel)
    return (img * bound * here).opts(
        title=f"Optimal fitting ratio R* (σ²_rel = {noise:g})", responsive=True,
        height=380, legend_position="bottom_right")


R_PAD = 0.04  # fitting-ratio axis starts below 0: an optimum at R* = 0 stays in view


def risk_vs_fitting_ratio(state: ViewState):
    """Continuum KRR test risk against the fitting ratio R = E_tr/E_te for the task's
    (alpha, beta, sigma_rel^2) (measured exponents for a data set), with the optimum
    R* marked; the axis starts at -R_PAD so that R* = 0 (alpha = beta, no noise) is
    visible rather than on the axis."""
    import holoviews as hv

    c = state.theory["context"]
    a, b, name = exponents(c)
    r_star = c["r_star"]
    risk = np.asarray(c["fitting_risk"], float)
    fin = risk[np.isfinite(risk)]
    top = float(fin.max()) if fin.size else 1.0
    return (hv.Curve((c["fitting_ratio"], risk), "fitting ratio E_tr/E_te",
                     "test risk (n = 1 units)", label=f"risk at {name} = {a:.3g}, {b:.3g}")
            * hv.VLine(r_star).opts(color="red", line_dash="dashed")
            * hv.Scatter([(r_star, c["risk_at_r_star"])], label=f"R* = {r_star:.3g}").opts(
                color="red", size=12, line_color="white", line_width=2)).opts(
        title="Test risk vs fitting ratio",
        xlim=(-R_PAD, 1.0), ylim=(0, 1.05 * top), responsive=True, height=340,
        legend_position="top_left")


def dataset_spectrum(state: ViewState):
    """A real data set's kernel spectrum lambda_i and target power v_i^2 with the
    measured exponents (alpha from 1/Tr K_n^-1, beta from the ridgeless curve)."""
    import holoviews as hv

    c = state.theory["context"]
    if "spectrum_eigenvalues" not in c:
        return hv.Text(0.5, 0.5, "choose spectrum = digits to see a real kernel's "
                       "spectrum").opts(responsive=True, height=200, xaxis=None, yaxis=None,
                                        title="Data-set spectrum")
    lam, v2 = np.asarray(c["spectrum_eigenvalues"]), np.asarray(c["spectrum_target"])
    i = np.arange(1, lam.size + 1)
    ok = (lam > 0) & (v2 > 0)
    title = f"Kernel spectrum: α̂ = {c['alpha_hat']:.2f}, β̂ = {c['beta_hat']:.2f}"
    return (hv.Scatter((i[ok], lam[ok]), "mode i", "value", label="λ_i").opts(size=3)
            * hv.Scatter((i[ok], v2[ok]), "mode i", "value", label="v_i²").opts(
                size=3, alpha=0.5)).opts(logx=True, logy=True, title=title,
                                         responsive=True, height=340)


def best_risk_theory(cfg) -> dict[str, float]:
    """The eigenframework's test risk at the config's (n, k), at the best of its ridges
    (what a run's ``test_risk_best`` measures)."""
    return {"test_risk_best": float(np.nanmin(cfg.theory()["context"]["theory_test"]))}


#: a grid over (n, k): each cell's inner sweep is the one k in ``sweep_values``
SWEEP = SweepSpec(axes=("n", "sweep_values"), values=("16, 32, 64", "8, 32, 128"),
                  metric="test_risk_best", labels={"sweep_values": "k"}, logx=True,
                  logy=True, theory=best_risk_theory)

VIEWS = Views(
    curves=[
        Curves("Test risk vs the swept size (dashed: theory; black: optimal ridge)",
               ["test_risk"], x=_sweep, by="ridge", reduce="trial", logx=True, logy=True,
               theory={"test_risk": "test_risk"}, phase="point", legend="top_left",
               keys=_ridges,
               doc="Points: mean over trials with a standard-error band, one colour per "
                   "ridge δ. Dashed: the eigenframework's prediction for the same δ; "
                   "black: the risk at the optimal ridge, which never increases."),
        Curves("Double descent at the smallest ridge", ["test_risk"], x=_sweep,
               by="ridge", reduce="trial", logx=True, logy=True,
               theory={"test_risk": "test_risk"}, phase="point", legend="top_left",
               select=_smallest_ridge, keys=_ridges,
               doc="At a small fixed ridge the risk spikes where k = n; tuning the ridge "
                   "(black, dashed) removes the spike (Theorem 1)."),
        Curves("Train risk vs the swept size", ["train_risk"], x=_sweep, by="ridge",
               reduce="trial", logx=True, logy=True, theory={"train_risk": "train_risk"},
               phase="point", legend="bottom_left", keys=_ridges,
               doc="Train risk per ridge; at the optimal ridge of a powerlaw task with "
                   "β ≈ α the fit is nearly interpolating (overfitting is obligatory)."),
    ],
    panes=[
        Pane("Phase diagram", phase_diagram,
             "Continuum R* over (α, β); zero ridge is optimal above the dashed line"),
        Pane("Fitting ratio", risk_vs_fitting_ratio,
             "Powerlaw KRR risk against E_tr/E_te with the optimum marked"),
        Pane("Data-set spectrum", dataset_spectrum,
             "Measured eigenvalues and target power of a real kernel"),
    ],
    intro=("**More is better** (Simon, Karkada, Ghosh, Belkin, ICLR 2024, "
           "[arXiv 2311.14646](https://arxiv.org/abs/2311.14646)). Random-feature ridge "
           "regression with n samples, k features and ridge δ (K + δI). At the optimal "
           "ridge the test risk never increases with k or n; when β ≈ α the optimum "
           "nearly interpolates (train error ≪ test error)."),
    sweep=SWEEP,
)
