"""Lines a config names (ridges, models, solvers) have their glyphs before the run's
first rows: a run's first draw streams data into the page's plot instead of building
a new one (0.1-0.5 s of the server's event loop per group), and a line that a new
config no longer names leaves the legend."""

from __future__ import annotations

import pytest

pytest.importorskip("panel")

from orthoviz.ui.plots import LiveCurves  # noqa: E402
from orthoviz.viz import curves as cv  # noqa: E402

pytestmark = pytest.mark.ui


def counting(live: LiveCurves) -> list:
    calls = []
    redraw = live._redraw
    live._redraw = lambda: calls.append(1) or redraw()
    return calls


def test_a_runs_first_rows_do_not_rebuild_a_declared_plot():
    from orthoviz.random_features import RandomFeatures
    from orthoviz.viz.random_features import VIEWS

    exp = RandomFeatures.from_preset("smoke", ridges=[1e-3, 0.5])
    risk, spike = (LiveCurves(VIEWS.curves[i], exp) for i in (0, 1))
    assert risk._keys == [1e-3, 0.5]
    assert spike._keys == [1e-3]  # the group selects the smallest ridge
    calls = counting(risk)
    rows = [{"phase": "point", exp.sweep: 8, "trial": t, "ridge": r, "test_risk": 1.0 + t}
            for t in range(2) for r in (1e-3, 0.5)]
    assert risk.send(rows)
    assert calls == []  # data streamed into the plot built at page load
    # a ridge the config did not name still gets its line (one rebuild)
    assert risk.send([{**rows[0], "ridge": 2.0}])
    assert calls == [1] and risk._keys == [1e-3, 0.5, 2.0]


def test_a_line_no_longer_named_leaves_unless_it_has_rows():
    from orthoviz.deep_cg import DeepCG
    from orthoviz.viz.deep_cg import RACE

    spec = RACE.curves[0]
    default = DeepCG.from_preset("default")
    live = LiveCurves(spec, default)
    assert live._keys == list(default.solvers) and "ic" in live._keys
    smoke = DeepCG.from_preset("smoke")
    assert "ic" not in smoke.solvers
    # the explorer changes its config in place: the old declared lines are remembered
    default.param.update(solvers=list(smoke.solvers))
    live.set_config(default, {})
    assert live._keys == list(smoke.solvers)  # no empty "solver=ic" legend entry
    live.set_config(smoke, {})
    assert live._keys == list(smoke.solvers)
    # rows of a solver the new config drops stay drawn while they are in the buffer
    live.send([{"phase": "iter", "solver": "ic", "iteration": 0, "residual": 1.0}])
    live.set_config(DeepCG.from_preset("smoke", maxiter=200), {})
    assert "ic" in live._keys
    assert cv.declared_keys(spec, smoke) == list(smoke.solvers)


@pytest.mark.parametrize("key", ["neural-collapse", "random-features", "hierarchical",
                                 "deep-cg"])
def test_every_pane_draws_a_finished_smoke_run(key):
    """A pane whose builder raises shows "waiting for data (Error)" instead of
    breaking the page; after a finished run no pane may be in that state (a builder
    named like a view helper once shadowed deep CG's, and two panes said so)."""
    from orthoviz.ui import Explorer
    from orthoviz.viz.common import build_pane, is_placeholder

    ex = Explorer(key, preset="smoke")
    try:
        assert ex.start()
        ex.runner.join(120)
        assert ex.runner.status == "finished", ex.runner.message
        state = ex._state(ex.runner)
        for pane in ex.panes:
            obj = build_pane(pane.spec, state)
            assert not (is_placeholder(obj) and "waiting for data (" in obj.text), \
                (pane.spec.title, obj.text)
    finally:
        ex.teardown()
