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
