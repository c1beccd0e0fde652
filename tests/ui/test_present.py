"""Plots for a room: the Presentation switch, legends inside the plot, log-axis ticks.

The tick rule runs in the browser (Bokeh CustomJSTicker); it is checked by evaluating
the same JavaScript in headless Chromium on ranges where Bokeh's LogTicker labelled
nothing below the first linear step.
"""

from __future__ import annotations

import pytest

hv = pytest.importorskip("holoviews")
pytest.importorskip("panel")

from orthoviz.ui import Explorer  # noqa: E402
from orthoviz.viz import style as st  # noqa: E402
from orthoviz.viz.common import ensure_bokeh  # noqa: E402

ensure_bokeh()


def _log_overlay():
    return hv.Overlay([hv.Curve(([1, 2, 3], [0.5, 0.1, 0.03]), "step", "v", label="a")]).opts(
        logy=True, responsive=True, height=300, legend_position="right")


def test_styled_plot_has_log_ticks_and_its_legend_inside():
    from bokeh.models import CustomJSTicker, LogAxis

    fig = hv.render(st.styled(_log_overlay(), st.PRESENTATION, width=500), backend="bokeh")
    axis = fig.yaxis[0]
    assert isinstance(axis, LogAxis) and isinstance(axis.ticker, CustomJSTicker)
    assert not isinstance(fig.xaxis[0].ticker, CustomJSTicker)  # linear axes untouched
    assert fig.legend[0] in fig.center  # inside the frame, not in a side panel
    assert fig.width == 500 and fig.height == st.PRESENTATION.height(300)


def test_log_ticks_hook_adds_its_models_once():
    """The hook runs at every frame of a live plot: a second run must keep the axis's
    ticker and formatter (new models each frame changed the page's model graph at
    every update: a walk of the whole page, see orthoviz.ui.docmodels)."""
    fig = hv.render(st.styled(_log_overlay(), st.DEFAULT, width=500), backend="bokeh")
    axis = fig.yaxis[0]
    ticker, formatter = axis.ticker, axis.formatter
    plot = type("Plot", (), {"state": fig})()
    st.log_ticks(plot, None)
    assert axis.ticker is ticker and axis.formatter is formatter


def test_presentation_switch_restyles_every_live_plot():
    e = Explorer("neural-collapse", preset="smoke")
    try:
        assert all(x.style is st.DEFAULT for x in [*e.curves, *e.panes])
        e.presentation.switch.value = True
        assert all(x.style is st.PRESENTATION for x in [*e.curves, *e.panes])
        c = e.curves[0]
        assert c.pane.min_height == st.PRESENTATION.height(300)
        el = c.pane.object[()]  # the DynamicMap's current overlay
        opts = el.opts.get().kwargs
        assert opts["fontscale"] == st.PRESENTATION.fontscale
        assert opts["legend_position"] == c.spec.legend
        e.presentation.switch.value = False
        assert all(x.style is st.DEFAULT for x in [*e.curves, *e.panes])
    finally:
        e.teardown()


def test_restyling_keeps_the_rows_already_drawn():
    from orthoviz.neural_collapse import NeuralCollapse
    from orthoviz.ui.plots import LiveCurves
    from orthoviz.viz.neural_collapse import VIEWS

    exp = NeuralCollapse.from_preset("smoke")
    live = LiveCurves(VIEWS.curves[0], exp)
    rows = [{"step": s, "phase": "train", "objective": 1.0 / (s + 1)} for s in range(5)]
    live.send(rows)
    live.set_style(st.PRESENTATION)
    curve = next(el for el in live.pane.object[()] if el.label == "objective")
    assert list(curve.dimension_values("step")) == [0, 1, 2, 3, 4]


@pytest.mark.ui
@pytest.mark.parametrize("lo, hi, must", [
    (0.03, 0.5, [0.05, 0.1, 0.2, 0.5]),  # LogTicker labelled only 0.1 ... 0.5 here
    (2e-3, 4e-3, [2e-3, 3e-3, 4e-3]),  # under one decade: 1..9 mantissas
    (1e-4, 10, [1e-4, 1e-3, 1e-2, 0.1, 1, 10]),  # every decade
])
def test_log_ticks_label_the_lower_decades(page, lo, hi, must):
    ticks = page.evaluate(f"() => (new Function('cb_data', {st._MAJOR!r}))"
                          f"({{start: {lo}, end: {hi}}})")
    for t in must:
        assert any(abs(x / t - 1) < 1e-9 for x in ticks), (t, ticks)
    assert all(lo <= x <= hi for x in ticks) and len(ticks) <= 12
    label = page.evaluate(f"() => (new Function('tick', {st._LABEL!r}))(1e-4)")
    assert label == "10⁻⁴"


def test_live_plots_draw_on_a_canvas_not_webgl():
    """WebGL costs browsers without a GPU ~60% more CPU per update (orthoviz.viz.common);
    every explorer plot must come out with the canvas backend."""
    e = Explorer("neural-collapse", preset="smoke")
    try:
        figs = [hv.render(c.pane.object, backend="bokeh") for c in e.curves]
        assert figs and all(getattr(f, "output_backend", "canvas") == "canvas"
                            for f in figs)
    finally:
        e.teardown()


@pytest.mark.parametrize("app", ["neural-collapse", "random-features"])
def test_an_explorer_page_passes_bokehs_validation(app, caplog):
    """Bokeh validates each served document and logs what is not silenced: a page must
    log nothing (NC's frame-sized 3-D plots logged W-1005 twice per session)."""
    from bokeh.core.validation.check import check_integrity, process_validation_issues
    from bokeh.document import Document

    doc = Document()
    e = Explorer(app, preset="smoke")
    try:
        doc.add_root(e.main.get_root(doc))
        with caplog.at_level("WARNING", logger="bokeh"):
            process_validation_issues(check_integrity(list(doc.models)))
        assert [r.getMessage() for r in caplog.records if r.name.startswith("bokeh")] == []
    finally:
        e.teardown()
