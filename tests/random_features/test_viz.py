"""Each pane builds a HoloViews element from a tiny run's state (no browser)."""

import pytest

hv = pytest.importorskip("holoviews")
pytest.importorskip("holoviews.plotting.bokeh")  # .opts() needs a loaded backend

from orthoviz.random_features import RandomFeatures  # noqa: E402
from orthoviz.viz.random_features import VIEWS  # noqa: E402
from orthoviz.viz.spec import ViewState, views_for  # noqa: E402


@pytest.fixture(scope="module")
def states():
    exp = RandomFeatures.from_preset("smoke")
    recs = list(exp.run(seed=0, device="cpu"))
    th = exp.theory()
    rows = [r.row() for r in recs]
    first = ViewState(exp, th, {}, [])  # first paint: theory only, no run yet
    mid = ViewState(exp, th, {}, rows[:1])  # after one record
    end = ViewState(exp, th, dict(recs[-1].arrays), rows, dict(recs[-1].scalars))
    return first, mid, end


def test_views_found():
    assert views_for(RandomFeatures) is VIEWS and VIEWS.panes and VIEWS.intro


def test_each_pane_builds(states):
    for state in states:
        for pane in VIEWS.panes:
            el = pane.build(state)
            assert isinstance(el, hv.core.Dimensioned), pane.title


def test_curves_name_record_scalars_and_coordinates(states):
    *_, end = states
    point = next(r for r in end.rows if r["phase"] == "point")
    for c in VIEWS.curves:
        assert set(c.metrics) <= set(point)
        for coord in (c.x_for(end.config), c.by, c.reduce):
            assert coord is None or coord in RandomFeatures.coords


def test_declared_curve_reduces_trials_to_mean_and_standard_error(states):
    """The risk curve's line is the mean over trials and its band the standard error,
    computed by HoloViews: checked against numpy on the same rows."""
    import numpy as np

    from orthoviz.viz import curves as cv

    *_, end = states
    spec = VIEWS.curves[0]
    fig = cv.figure(end.rows, spec, end.config, end.theory)
    spreads = [el for el in fig if isinstance(el, hv.Spread)]
    assert len(spreads) == len(end.config.ridges)
    pts = [r for r in end.rows if r["phase"] == "point"]
    for el in spreads:
        for k, m, se in zip(el.dimension_values(0), el.dimension_values(1),
                            el.dimension_values(2)):
            vals = [r["test_risk"] for r in pts if r["k"] == k and
                    abs(r["ridge"] - float(el.label.split("=")[-1])) <= 1e-3 * r["ridge"]]
            assert len(vals) == end.config.trials
            assert m == pytest.approx(np.mean(vals), rel=1e-12)
            assert se == pytest.approx(np.std(vals, ddof=1) / np.sqrt(len(vals)), rel=1e-9)


def test_a_single_trial_draws_its_mean_with_no_band_and_no_warning(states):
    """A live plot's first points have one trial each: the line is that trial, the
    band is zero wide, and scipy's small-sample warning is not raised (it filled the
    server log once per session)."""
    import warnings

    from orthoviz.viz import curves as cv

    *_, end = states
    first = [r for r in end.rows if r["phase"] == "point" and r["trial"] == 0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = cv.figure(first, VIEWS.curves[0], end.config, end.theory)
    spreads = [el for el in fig if isinstance(el, hv.Spread)]
    assert spreads and all((el.dimension_values(2) == 0).all() for el in spreads)
    for el in spreads:
        for k, m in zip(el.dimension_values(0), el.dimension_values(1)):
            [val] = [r["test_risk"] for r in first if r["k"] == k and abs(
                r["ridge"] - float(el.label.split("=")[-1])) <= 1e-3 * r["ridge"]]
            assert m == val  # the mean of one value is that value, exactly


def _marker(overlay, cls):
    return next(el for el in overlay if isinstance(el, cls) and len(el) == 1)


@pytest.fixture(scope="module")
def digits():
    """A data set's theory: its context carries the measured exponents."""
    exp = RandomFeatures.from_preset("smoke", spectrum="digits", population=600,
                                     n=64, sweep_values=[16, 64])
    return ViewState(exp, exp.theory(), {}, [])


def test_panes_use_the_measured_exponents_of_a_data_set(digits):
    """Phase diagram marker at (α̂, β̂); fitting-ratio optimum at the closed form
    R* = ((α̂ − β̂) / ((α̂ − 1) β̂))² for α̂ > β̂ at zero relative noise (0 otherwise):
    the root of the stationarity condition, solved by hand, not by the theory code."""
    from orthoviz.random_features import train
    from orthoviz.viz.random_features import phase_diagram, risk_vs_fitting_ratio

    ex = train.build_task(digits.config).exponents
    a, b = float(ex["alpha"]), float(ex["beta"])
    assert digits.config.noise_rel == 0.0 and (a, b) != (1.5, 1.5)
    ctx = digits.theory["context"]
    assert (ctx["alpha_hat"], ctx["beta_hat"]) == (a, b)
    marker = _marker(phase_diagram(digits), hv.Scatter)
    assert marker.iloc[0, 0] == pytest.approx(a) and marker.iloc[0, 1] == pytest.approx(b)
    assert f"{a:.2f}, {b:.2f}" in marker.label
    fit = risk_vs_fitting_ratio(digits)
    r_star = ((a - b) / ((a - 1) * b)) ** 2 if a > b else 0.0
    pt = _marker(fit, hv.Scatter)
    assert pt.iloc[0, 0] == pytest.approx(r_star, rel=1e-6, abs=1e-12)
    curve = next(el for el in fit if isinstance(el, hv.Curve))
    assert f"measured α̂, β̂ = {a:.3g}, {b:.3g}" in curve.label


def test_optimum_marker_is_inside_the_axis_when_alpha_equals_beta():
    """α = β without noise: R* = 0, the optimum sits at the left end of the curve; the
    axis starts below 0 so the marker is drawn inside the frame, not on its edge."""
    from orthoviz.viz.random_features import risk_vs_fitting_ratio

    exp = RandomFeatures.from_preset("smoke", alpha=1.5, beta=1.5, noise_rel=0.0)
    fit = risk_vs_fitting_ratio(ViewState(exp, exp.theory(), {}, []))
    x = _marker(fit, hv.Scatter).iloc[0, 0]
    lo, hi = fit.opts.get().kwargs["xlim"]
    assert x == 0.0 and lo < x - 0.02 * (hi - lo)
