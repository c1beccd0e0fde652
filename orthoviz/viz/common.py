"""Shared HoloViews builders: metric curves, theory lines, figure layouts.

Used by the live explorer (``orthoviz.ui``) and by the static export
(:mod:`orthoviz.viz.export`), so a saved figure looks like the live one. Nothing here
computes a metric: the helpers only select, reshape and style numbers the run produced.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import holoviews as hv

from orthoviz.viz.spec import Curves, Pane, Views, ViewState

#: one colour per metric position in a group (Bokeh's Category10)
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
CURVE_HEIGHT = 280
DECADES = 2.0  # "auto" log axis when positive values span more than this many decades


def ensure_bokeh() -> None:
    """Load HoloViews' bokeh backend once (idempotent; no-op when already loaded)."""
    # importing holoviews.plotting.bokeh alone marks the backend loaded without building
    # the option builders (hv.opts.Overlay), so check those too
    loaded = hv.Store.current_backend == "bokeh" and "bokeh" in hv.Store.loaded_backends()
    if not loaded or not hasattr(hv.opts, "Overlay"):
        hv.extension("bokeh", logo=False)


def finite(v: Any) -> bool:
    """True for a real, finite number (not bool, not an array)."""
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def metric_points(rows: Iterable[Mapping[str, Any]], metric: str) -> tuple[list, list]:
    """(steps, values) of ``metric`` over the rows where it is present and finite."""
    xs, ys = [], []
    for r in rows:
        v = r.get(metric)
        if finite(v):
            xs.append(r["step"])
            ys.append(float(v))
    return xs, ys


def span_decades(values: Iterable[float]) -> float:
    """log10(max/min) over the positive values (0 when fewer than two)."""
    pos = [v for v in values if finite(v) and v > 0]
    if len(pos) < 2:
        return 0.0
    return math.log10(max(pos) / min(pos))


def wants_log(curves: Curves, values: Iterable[float]) -> bool:
    """Log y axis for this group: forced by ``logy=True``, or ``"auto"`` and the
    positive values span more than :data:`DECADES` decades with no value <= 0."""
    if curves.logy is True:
        return True
    if curves.logy != "auto":
        return False
    vals = [v for v in values if finite(v)]
    return bool(vals) and min(vals) > 0 and span_decades(vals) > DECADES


def theory_values(curves: Curves, theory: Mapping[str, Any]) -> dict[str, float]:
    """metric -> scalar theory value for the group's theory lines (non-scalars skipped)."""
    out = {}
    for metric, key in curves.theory.items():
        v = theory.get(key)
        if finite(v):
            out[metric] = float(v)
    return out


def curve_style(curves: Curves, metric: str, logy: bool) -> dict[str, Any]:
    i = curves.metrics.index(metric) if metric in curves.metrics else 0
    return dict(color=PALETTE[i % len(PALETTE)], line_width=2, logy=logy,
                tools=["hover"], show_grid=True, responsive=True, height=CURVE_HEIGHT,
                xlabel="step", ylabel="", title=curves.title)


def curve(data, curves: Curves, metric: str, logy: bool) -> hv.Curve:
    """An hv.Curve of one metric; ``data`` is a DataFrame/dict with ``step`` and
    ``metric`` columns (as a Buffer holds it)."""
    return hv.Curve(data, "step", (metric, metric), label=metric).opts(
        **curve_style(curves, metric, logy)
    )


def theory_lines(curves: Curves, theory: Mapping[str, Any], logy: bool) -> list:
    """Dashed horizontal lines at the theory's limit for each metric of the group."""
    lines = []
    for metric, v in theory_values(curves, theory).items():
        if logy and v <= 0:
            continue  # a log axis cannot show it
        i = curves.metrics.index(metric) if metric in curves.metrics else 0
        lines.append(hv.HLine(v, label=f"{metric} (theory)").opts(
            color=PALETTE[i % len(PALETTE)], line_dash="dashed", line_width=1.5))
    return lines


def curves_figure(rows: list[Mapping[str, Any]], curves: Curves,
                  theory: Mapping[str, Any]) -> hv.Overlay:
    """A static overlay of a Curves group from history rows (export, reopened runs)."""
    data = {m: metric_points(rows, m) for m in curves.metrics}
    logy = wants_log(curves, [v for _, ys in data.values() for v in ys])
    elems = [curve({"step": xs, m: ys}, curves, m, logy) for m, (xs, ys) in data.items()]
    elems += theory_lines(curves, theory, logy)
    return hv.Overlay(elems).opts(title=curves.title, legend_position="right",
                                  responsive=True, height=CURVE_HEIGHT)


WAITING = "Waiting"  # the group of placeholder elements


def placeholder(text: str = "no data yet", title: str = "") -> hv.Text:
    """A text element shown where there is nothing to draw yet (group ``WAITING``)."""
    return hv.Text(0.5, 0.5, text, group=WAITING).opts(
        title=title, xaxis=None, yaxis=None, toolbar=None, responsive=True,
        height=CURVE_HEIGHT)


def is_placeholder(obj) -> bool:
    return isinstance(obj, hv.Text) and obj.group == WAITING


def build_pane(pane: Pane, state: ViewState):
    """``pane.build(state)``, or a placeholder when the state has nothing to draw yet
    (a pane's builder may assume arrays that arrive only after a few steps)."""
    try:
        return pane.build(state)
    except Exception as e:  # a missing array must not break the page
        return placeholder(f"waiting for data ({type(e).__name__})", pane.title)


def figure_layout(views: Views, state: ViewState) -> hv.Layout:
    """Every curves group and pane of ``views`` as one static layout, for export."""
    items = [curves_figure(state.rows, c, state.theory) for c in views.curves]
    for p in views.panes:
        obj = build_pane(p, state)
        items.append(obj.relabel(p.title) if hasattr(obj, "relabel") else obj)
    if not items:
        items = [placeholder("nothing to draw")]
    return hv.Layout(items).cols(2).opts(shared_axes=False)
