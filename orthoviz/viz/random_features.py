"""Views of the random-features experiment (Simon et al., "More is Better", ICLR 2024).

Every number drawn comes from the run's records or from functions of
``orthoviz.random_features.theory``; nothing here computes a metric.
"""

from __future__ import annotations

import numpy as np

from orthoviz.viz.common import PALETTE
from orthoviz.viz.spec import Pane, Views, ViewState


def _arr(state: ViewState, key: str):
    v = state.arrays.get(key) if state.arrays else None
    if v is None and state.theory:
        v = state.theory.get(key)
    return None if v is None else np.asarray(v, dtype=float)


def _clip(y, cap=1e3):
    y = np.asarray(y, dtype=float)
    return np.where(np.isfinite(y), np.minimum(y, cap), cap)  # the k = n spike is +inf


def _axis(state: ViewState) -> str:
    return "k (features)" if state.config.sweep == "k" else "n (samples)"


def risk_vs_size(state: ViewState):
    """Theory curves per ridge and the optimal-ridge envelope; experiment means with
    standard-error bars, which appear and shrink as trials complete."""
    import holoviews as hv

    xs, ridges = _arr(state, "theory_sweep_fine"), _arr(state, "ridges")
    x_lab = _axis(state)
    layers = []
    if xs is not None:
        te = _arr(state, "theory_test_fine")
        for i, d in enumerate(ridges):
            layers.append(hv.Curve((xs, _clip(te[i])), x_lab, "test risk",
                                   label=f"δ={d:.3g}").opts(color=PALETTE[i % 10]))
        layers.append(hv.Curve((xs, _clip(_arr(state, "theory_opt_fine"))), x_lab,
                               "test risk", label="optimal δ (theory)").opts(
            color="black", line_dash="dashed", line_width=2))
    mean, se, sv = _arr(state, "test_mean"), _arr(state, "test_se"), _arr(state,
                                                                           "sweep_values")
    if mean is not None:
        for i in range(mean.shape[0]):
            ok = np.isfinite(mean[i])
            pts = (sv[ok], mean[i][ok], np.nan_to_num(se[i][ok]))
            layers.append(hv.ErrorBars(pts, x_lab, ["test risk", "se"]).opts(
                color=PALETTE[i % 10]))
            layers.append(hv.Scatter(pts[:2], x_lab, "test risk").opts(
                color=PALETTE[i % 10], size=6))
    if not layers:
        return hv.Curve([], x_lab, "test risk")
    return hv.Overlay(layers).opts(logx=True, logy=True, title="Test risk vs " + x_lab,
                                   legend_position="right", width=640, height=360)


def double_descent(state: ViewState):
    """Smallest configured ridge vs the optimally tuned risk: the spike at k = n (or
    n = k) and its disappearance at the optimal ridge (Theorem 1)."""
    import holoviews as hv

    xs = _arr(state, "theory_sweep_fine")
    x_lab = _axis(state)
    if xs is None:
        return hv.Curve([], x_lab, "test risk")
    te, ridges = _arr(state, "theory_test_fine"), _arr(state, "ridges")
    i = int(np.argmin(ridges))
    fixed = state.config.n if state.config.sweep == "k" else state.config.k
    return (hv.Curve((xs, _clip(te[i])), x_lab, "test risk", label=f"δ={ridges[i]:.3g}")
            * hv.Curve((xs, _clip(_arr(state, "theory_opt_fine"))), x_lab, "test risk",
                       label="optimal δ").opts(color="black", line_dash="dashed")
            * hv.VLine(float(fixed)).opts(color="gray", line_dash="dotted")).opts(
        logx=True, logy=True, title="Double descent at fixed small ridge vs optimal ridge",
        width=640, height=320, legend_position="top_right")


def phase_diagram(state: ViewState):
    """Continuum optimal fitting ratio R* over (alpha, beta) at the config's relative
    noise, with the zero-ridge boundary beta = alpha (1 + (alpha - 1) sigma_rel^2)."""
    import holoviews as hv

    from orthoviz.random_features.theory import optimal_fitting_ratio

    a = np.linspace(1.05, 3.0, 60)
    b = np.linspace(1.02, 3.0, 60)
    noise = float(getattr(state.config, "noise_rel", 0.0))
    R = optimal_fitting_ratio(a[None, :], b[:, None], noise)  # (beta, alpha)
    img = hv.Image((a, b, R), ["alpha", "beta"], "R*").opts(
        cmap="viridis", colorbar=True, clim=(0, 1))
    edge = a * (1 + (a - 1) * noise)
    keep = edge <= b[-1]
    bound = hv.Curve((a[keep], edge[keep]), "alpha", "beta", label="δ* = 0 above").opts(
        color="white", line_dash="dashed")
    here = hv.Scatter([(state.config.alpha, state.config.beta)], "alpha", "beta").opts(
        color="red", size=9, marker="x")
    return (img * bound * here).opts(
        title=f"Optimal fitting ratio R* (σ²_rel = {noise:g})", width=480, height=400)


def risk_vs_fitting_ratio(state: ViewState):
    """Continuum KRR test risk against the fitting ratio R = E_tr/E_te for the config's
    (alpha, beta, sigma_rel^2), with the optimum R* marked."""
    import holoviews as hv

    from orthoviz.random_features.theory import optimal_fitting_ratio, powerlaw_test_risk

    cfg = state.config
    a, b, noise = cfg.alpha, cfg.beta, cfg.noise_rel
    R = np.linspace(0, 0.98, 200)
    E = powerlaw_test_risk(R, a, b, noise)
    r_star = optimal_fitting_ratio(a, b, noise)
    e_star = float(powerlaw_test_risk(r_star, a, b, noise))
    return (hv.Curve((R, E), "fitting ratio E_tr/E_te", "test risk (n = 1 units)")
            * hv.VLine(r_star).opts(color="red", line_dash="dashed")
            * hv.Scatter([(r_star, e_star)]).opts(color="red", size=8)).opts(
        title=f"Test risk vs fitting ratio (α={a:g}, β={b:g}); R* = {r_star:.3f}",
        width=520, height=340)


def dataset_spectrum(state: ViewState):
    """A real data set's kernel spectrum lambda_i and target power v_i^2 with the
    measured exponents (alpha from 1/Tr K_n^-1, beta from the ridgeless curve)."""
    import holoviews as hv

    lam, v2 = _arr(state, "spectrum_eigenvalues"), _arr(state, "spectrum_target")
    if lam is None:
        return hv.Text(0.5, 0.5, "spectrum pane: choose spectrum = digits").opts(
            width=480, height=200, xaxis=None, yaxis=None)
    i = np.arange(1, lam.size + 1)
    ok = (lam > 0) & (v2 > 0)
    f = state.final or {}
    title = "Kernel spectrum"
    if "alpha_hat" in f:
        title += f": α̂ = {f['alpha_hat']:.2f}, β̂ = {f['beta_hat']:.2f}"
    return (hv.Scatter((i[ok], lam[ok]), "mode i", "value", label="λ_i").opts(size=3)
            * hv.Scatter((i[ok], v2[ok]), "mode i", "value", label="v_i²").opts(
                size=3, alpha=0.5)).opts(logx=True, logy=True, title=title, width=520,
                                         height=340)


VIEWS = Views(
    curves=[
    ],
    panes=[
        Pane("Risk vs size", risk_vs_size,
             "Theory (curves) and experiment (points ± SE) per ridge; dashed: optimal δ"),
        Pane("Double descent", double_descent,
             "Fixed small ridge spikes at k = n; the optimal ridge is monotone"),
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
)
