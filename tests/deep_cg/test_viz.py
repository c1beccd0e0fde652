"""Each view of the two deep-cg experiments builds from a tiny run's state, and the
flags draw at first paint from the theory alone (no browser)."""

import numpy as np
import pytest

hv = pytest.importorskip("holoviews")
pytest.importorskip("holoviews.plotting.bokeh")  # .opts() needs a loaded backend

from orthoviz.deep_cg import DeepCG, DeepCGTrain  # noqa: E402
from orthoviz.viz import curves as cv  # noqa: E402
from orthoviz.viz.deep_cg import RACE, TRAIN, domain_flags  # noqa: E402
from orthoviz.viz.spec import ViewState, views_for  # noqa: E402


def _states(exp):
    recs = list(exp.run(seed=0, device="cpu"))
    th = exp.theory()
    rows = [r.row() for r in recs]
    arrays = {}
    for r in recs:
        arrays.update(r.arrays or {})
    first = ViewState(exp, th, {}, [])  # first paint: theory only
    mid = ViewState(exp, th, {}, rows[:3])
    end = ViewState(exp, th, arrays, rows, dict(recs[-1].scalars))
    return first, mid, end


@pytest.fixture(scope="module")
def race():
    return _states(DeepCG.from_preset("smoke"))


@pytest.fixture(scope="module")
def training():
    return _states(DeepCGTrain.from_preset("smoke"))


def test_each_experiment_finds_its_views():
    assert views_for(DeepCG) is RACE and views_for(DeepCGTrain) is TRAIN


@pytest.mark.parametrize("which", ["race", "training"])
def test_each_pane_and_curve_group_builds(which, request):
    views = RACE if which == "race" else TRAIN
    cls = DeepCG if which == "race" else DeepCGTrain
    for state in request.getfixturevalue(which):
        for pane in views.panes:
            assert isinstance(pane.build(state), hv.core.Dimensioned), pane.title
        for spec in views.curves:
            for coord in (spec.x_for(state.config), spec.by):
                assert coord in (None, "step") or coord in cls.coords
            fig = cv.figure(state.rows, spec, state.config, state.theory)
            assert isinstance(fig, hv.Overlay)


def test_flags_draw_at_first_paint_with_solid_fluid_and_air(race):
    first, *_ = race
    img = domain_flags(first)
    flags = first.theory["context"]["flags"]
    # displayed upside down (row 0 is the bottom of the domain), values unchanged
    np.testing.assert_array_equal(img.data if isinstance(img.data, np.ndarray)
                                  else img.dimension_values(2, flat=False),
                                  np.flipud(flags).astype(float))


def test_race_curves_have_one_line_per_solver_and_the_cg_bound(race):
    *_, end = race
    spec = RACE.curves[1]  # A-norm error with CG's bound dashed
    fig = cv.figure(end.rows, spec, end.config, end.theory)
    labels = {el.label for el in fig}
    assert {f"solver={s}" for s in end.config.solvers} <= labels
    assert "error_a solver=cg (theory)" in labels or "solver=cg (theory)" in labels
