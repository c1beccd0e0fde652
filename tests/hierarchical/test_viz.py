"""Each view builds from a tiny run's state (no browser); the declared curves name the
run's scalars and coordinates and reduce trials to mean ± SE."""

import numpy as np
import pytest

hv = pytest.importorskip("holoviews")
pytest.importorskip("holoviews.plotting.bokeh")  # .opts() needs a loaded backend

from orthoviz.hierarchical import Hierarchical  # noqa: E402
from orthoviz.viz.hierarchical import VIEWS  # noqa: E402
from orthoviz.viz.spec import ViewState, views_for  # noqa: E402


@pytest.fixture(scope="module")
def states():
    exp = Hierarchical.from_preset("smoke")
    recs = list(exp.run(seed=0, device="cpu"))
    th = exp.theory()
    rows = [r.row() for r in recs]
    arrays = {}
    for r in recs:
        arrays.update(r.arrays or {})
    first = ViewState(exp, th, {}, [])  # first paint: theory only, no run yet
    mid = ViewState(exp, th, dict(recs[0].arrays or {}), rows[:1])
    end = ViewState(exp, th, arrays, rows, dict(recs[-1].scalars))
    return first, mid, end


def test_views_found():
    assert views_for(Hierarchical) is VIEWS and VIEWS.panes and VIEWS.intro


def test_each_pane_builds_at_every_stage(states):
    for state in states:
        for pane in VIEWS.panes:
            el = pane.build(state)
            assert isinstance(el, hv.core.Dimensioned), pane.title


def test_panes_draw_the_run_arrays(states):
    *_, end = states
    scatter = VIEWS.panes[1].build(end)
    np.testing.assert_array_equal(scatter.dimension_values(0), end.arrays["scatter_p"])
    link = VIEWS.panes[2].build(end)
    curve = [el for el in link if isinstance(el, hv.Curve)][0]
    np.testing.assert_array_equal(curve.dimension_values(1), end.arrays["link_fit"])


def test_curves_name_record_scalars_and_coordinates(states):
    *_, end = states
    point = next(r for r in end.rows if r["phase"] == "point" and
                 r["model"] == "three_layer")
    for c in VIEWS.curves:
        assert set(c.metrics) <= set(point), c.title
        for coord in (c.x_for(end.config), c.by, c.reduce):
            assert coord is None or coord in Hierarchical.coords


def test_test_loss_curve_is_the_mean_and_se_over_trials(states):
    """Checked against numpy on the same rows: HoloViews' aggregate, not ours."""
    from orthoviz.viz import curves as cv

    *_, end = states
    spec = VIEWS.curves[0]
    fig = cv.figure(end.rows, spec, end.config, end.theory)
    spreads = [el for el in fig if isinstance(el, hv.Spread)]
    assert len(spreads) == len(end.config.models)
    pts = [r for r in end.rows if r["phase"] == "point"]
    for el in spreads:
        model = el.label.split("=")[-1]
        for n, m, se in zip(el.dimension_values(0), el.dimension_values(1),
                            el.dimension_values(2), strict=True):
            vals = [r["test_loss"] for r in pts if r["n"] == n and r["model"] == model]
            assert len(vals) == end.config.trials
            assert m == pytest.approx(np.mean(vals), rel=1e-12)
            assert se == pytest.approx(np.std(vals, ddof=1) / np.sqrt(len(vals)), rel=1e-9)
    # the theory overlay: the kernel plateau and the d^k mark, dashed
    dashed = [el for el in fig if isinstance(el, hv.Curve) and "theory" in el.label]
    assert {el.label for el in dashed} == {"model=kernel (theory)", "model=n = d^2 (theory)"}
