"""Each pane builds a HoloViews element from a tiny run's state (no browser)."""

import pytest

hv = pytest.importorskip("holoviews")
pytest.importorskip("holoviews.plotting.bokeh")  # .opts() needs a loaded backend

from orthoviz.random_features import RandomFeatures  # noqa: E402
from orthoviz.runtime.collect import collect  # noqa: E402
from orthoviz.viz.random_features import VIEWS  # noqa: E402
from orthoviz.viz.spec import ViewState, views_for  # noqa: E402


@pytest.fixture(scope="module")
def states():
    exp = RandomFeatures.from_preset("smoke")
    recs = collect(exp.run(seed=0, device="cpu"))
    th = exp.theory()
    rows = [r.row() for r in recs[:-1]]
    mid = ViewState(exp, th, dict(recs[0].arrays), rows[:1])  # after one record
    end = ViewState(exp, th, dict(recs[-1].arrays), rows, dict(recs[-1].scalars))
    return mid, end


def test_views_found():
    assert views_for(RandomFeatures) is VIEWS and VIEWS.panes and VIEWS.intro


def test_each_pane_builds(states):
    for state in states:
        for pane in VIEWS.panes:
            el = pane.build(state)
            assert isinstance(el, hv.core.Dimensioned), pane.title


def test_curves_name_record_scalars(states):
    _, end = states
    for c in VIEWS.curves:
        assert set(c.metrics) <= set(end.rows[-1])
