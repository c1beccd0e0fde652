"""Declared curve groups (:class:`~orthoviz.viz.spec.Curves`) drawn with HoloViews.

One builder serves the live explorer (a DynamicMap over an ``hv.streams.Buffer`` of
rows) and the static export (the same rows from a run folder), so both look alike.
Grouping and the mean ± standard-error reduction over trials are HoloViews'
(``Dataset.aggregate`` with ``spreadfn``, ``Dataset.to(..., groupby=...)``); the code
here only selects columns and styles lines. Nothing here computes a metric or theory.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import holoviews as hv
import numpy as np
import pandas as pd
from scipy import stats

from orthoviz.viz.spec import Curves
from orthoviz.viz.style import DEFAULT, Style, Styles, log_ticks, plain_opts

#: one colour per line (Bokeh's Category10); a theory line takes its run line's colour
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
CURVE_HEIGHT = 300
DECADES = 2.0  # "auto" log axis when positive values span more than this many decades
SPECIAL = {"optimal": "black"}  # theory-only lines (RF's optimal-ridge envelope)


def finite(v: Any) -> bool:
    """True for a real, finite number (not bool, not an array)."""
    return isinstance(v, int | float | np.floating | np.integer) and not isinstance(
        v, bool) and math.isfinite(v)


def columns(spec: Curves, config) -> list[str]:
    """The row columns a group needs: x, by, reduce, then its metrics."""
    keys = [spec.x_for(config), spec.by, spec.reduce]
    return list(dict.fromkeys(k for k in keys if k)) + list(spec.metrics)


def frame(rows: Iterable[Mapping[str, Any]], spec: Curves, config) -> pd.DataFrame:
    """The rows this group draws, as a long-form DataFrame (non-finite metrics as NaN).

    Rows are kept when their phase matches ``spec.phase`` (if set), their coordinates
    match ``spec.select(config)`` (if set), they carry the x column and at least one
    finite metric.
    """
    cols = columns(spec, config)
    x = cols[0]
    sel = spec.select(config) if spec.select else {}
    out = []
    for r in rows:
        if spec.phase and r.get("phase") != spec.phase:
            continue
        if x not in r or any(r.get(k) != v for k, v in sel.items()):
            continue
        vals = [r.get(m) for m in spec.metrics]
        if not any(finite(v) for v in vals):
            continue
        out.append([r.get(c) for c in cols[: len(cols) - len(vals)]]
                   + [float(v) if finite(v) else np.nan for v in vals])
    df = pd.DataFrame(out, columns=cols)
    for m in spec.metrics:
        df[m] = df[m].astype("float64")
    return df


def wants_log(spec: Curves, values: Iterable[float]) -> bool:
    """Log y axis: forced by ``logy=True``, or ``"auto"`` and the positive values span
    more than :data:`DECADES` decades with none <= 0."""
    if spec.logy is True:
        return True
    if spec.logy != "auto":
        return False
    vals = [float(v) for v in values if finite(v)]
    if not vals or min(vals) <= 0:
        return False
    return math.log10(max(vals) / min(vals)) > DECADES


class Colors:
    """Stable colours for line keys, assigned in order of first sight (theory first),
    so a run line and its theory line share a colour and nothing shifts while a run
    fills in."""

    def __init__(self):
        self._map: dict[Any, str] = {}

    def __call__(self, key) -> str:
        if isinstance(key, str) and key in SPECIAL:
            return SPECIAL[key]
        if key not in self._map:
            self._map[key] = PALETTE[len(self._map) % len(PALETTE)]
        return self._map[key]


def _label(spec: Curves, metric: str, key) -> str:
    if spec.by is None:
        return metric
    k = f"{key:.3g}" if isinstance(key, float) else str(key)
    return f"{spec.by}={k}" if len(spec.metrics) == 1 else f"{metric} {spec.by}={k}"


def _items(obj) -> list[tuple[Any, Any]]:
    """(key, element) pairs of a HoloMap/NdOverlay made by ``Dataset.to``, or one pair."""
    if isinstance(obj, hv.core.ndmapping.UniformNdMapping):
        return [(k[0] if isinstance(k, tuple) and len(k) == 1 else k, v)
                for k, v in obj.items()]
    return [(None, obj)]


def measured(df: pd.DataFrame, spec: Curves, config, logy: bool, colors: Colors,
             keys: list | None = None, styles: Styles | None = None) -> list:
    """Run lines (and standard-error bands when ``reduce`` is set) of one group.

    A plain metric-vs-step group builds one Curve per metric straight from the rows
    (element construction dominates a live draw's cost); grouped and reduced groups go
    through HoloViews' Dataset grouping and aggregation. ``styles``: a live plot's
    :class:`Styles` (frames share options trees).
    """
    opts = styles or plain_opts
    x = spec.x_for(config)
    if spec.simple:  # one Curve per metric in every frame, empty or not: a live plot
        # whose set of glyphs changes between frames breaks Bokeh's legend on the page
        out = []
        for m in spec.metrics:
            d = df[[x, m]]
            d = d[d[m] > 0] if logy else d.dropna()
            out.append(opts(hv.Curve(d, x, m, label=m), color=colors(m), line_width=2))
        return out
    kd = [x] + ([spec.by] if spec.by else [])
    out = []
    for m in spec.metrics:
        d = df.dropna(subset=[m])
        if logy:
            d = d[d[m] > 0]
        err = f"{m}_sem"
        if spec.reduce and not d.empty:  # HoloViews reduces over the trials
            ds = hv.Dataset(d, kdims=kd + [spec.reduce], vdims=[m])
            d = ds.aggregate(kd, function=np.mean, spreadfn=sem).dframe()
            d[err] = d[err].fillna(0.0)  # one trial: no band yet
        # one line per key from the (reduced) table: plain elements built straight
        # from its groups (element construction dominates a live draw; HoloViews'
        # Dataset.to(groupby=...) builds several intermediate Datasets per line)
        groups = {} if d.empty else (dict(iter(d.groupby(spec.by, sort=False)))
                                     if spec.by else {None: d})
        # the same glyphs in every frame: every key seen so far, empty where no data
        for key in (keys if keys is not None else list(groups)) if spec.by else [None]:
            c = colors(key if spec.by else m)
            g = groups.get(key)
            g = g.sort_values(x) if g is not None else pd.DataFrame(
                {x: [], m: [], err: []})
            label = _label(spec, m, key)
            if spec.reduce:
                out.append(opts(hv.Spread(g, x, [m, err], label=label),
                                color=c, alpha=0.2, line_alpha=0))
            out.append(opts(hv.Curve(g, x, m, label=label), color=c, line_width=2))
    return out


def sem(x) -> float:
    """scipy's standard error of the mean; NaN for a single trial without scipy's
    SmallSampleWarning (a live plot's first points have one trial: no band yet).
    HoloViews names the spread column after the function: ``<metric>_sem``."""
    return stats.sem(x) if len(x) > 1 else np.nan


def declared_keys(spec: Curves, config) -> list:
    """The ``by`` values the config says a run draws (``spec.keys``), narrowed to
    ``spec.select``'s value of ``by`` when it fixes one; [] when not declared."""
    if not spec.by or spec.keys is None:
        return []
    keys = list(dict.fromkeys(spec.keys(config)))
    sel = spec.select(config) if spec.select else {}
    return [k for k in keys if k == sel[spec.by]] if spec.by in sel else keys


def line_keys(df: pd.DataFrame, spec: Curves) -> list:
    """The ``by`` values present in ``df`` (first-seen order), [] without ``by``."""
    if not spec.by or spec.by not in df:
        return []
    return list(dict.fromkeys(df[spec.by].tolist()))


def theory(spec: Curves, config, values: Mapping[str, Any], logy: bool,
           colors: Colors) -> list:
    """Dashed theory: a horizontal line per scalar, dashed curves per curve column set."""
    x = spec.x_for(config)
    out = []
    for m, key in spec.theory.items():
        v = values.get(key)
        if finite(v):
            if not (logy and v <= 0):
                out.append(hv.HLine(float(v), label=f"{m} (theory)").opts(
                    color=colors(m), line_dash="dashed", line_width=1.5))
            continue
        if not isinstance(v, Mapping) or x not in v or m not in v:
            continue
        df = pd.DataFrame({c: np.asarray(v[c]) for c in (x, m, spec.by) if c and c in v})
        df[m] = df[m].astype(float)
        df = df[np.isfinite(df[m]) & ((df[m] > 0) if logy else True)]
        if spec.by and spec.by in df:
            lines = hv.Dataset(df, [x, spec.by], m).to(hv.Curve, x, m, groupby=spec.by)
        else:
            lines = hv.Curve(df, x, m)
        for k, el in _items(lines):
            c = colors(k if spec.by else m)
            name = "theory" if k is None else f"{_label(spec, m, k)} (theory)"
            out.append(el.relabel(name).opts(color=c, line_dash="dashed", line_width=1.5))
    return out


def overlay(df: pd.DataFrame, spec: Curves, config, theory_elements: list,
            logy: bool, colors: Colors, keys: list | None = None,
            style: Style = DEFAULT, styles: Styles | None = None) -> hv.Overlay:
    """The run's lines over the theory's (built once per theory by :func:`theory`, so
    its keys took the first colours and a live draw does not rebuild them). ``keys``:
    the ``by`` values to draw a line for (live plots pass every key seen so far).
    The legend sits inside the plot (``spec.legend``), half transparent. ``styles``:
    a live plot's :class:`Styles`."""
    run = measured(df, spec, config, logy, colors, keys, styles)
    x = spec.x_for(config)
    items = list(theory_elements) + run or [hv.Curve([], x, spec.metrics[0])]
    return (styles or plain_opts)(hv.Overlay(items),
        title=spec.title, logx=spec.logx, logy=logy, responsive=True, framewise=True,
        height=style.height(CURVE_HEIGHT), fontscale=style.fontscale,
        fontsize=dict(style.fontsize) or None,
        legend_position=spec.legend,
        legend_opts={"background_fill_alpha": style.legend_alpha}, hooks=[log_ticks],
        show_grid=True, xlabel=x, ylabel=spec.metrics[0] if len(spec.metrics) == 1 else "")


def figure(rows: list[Mapping[str, Any]], spec: Curves, config,
           values: Mapping[str, Any], style: Style = DEFAULT,
           styles: Styles | None = None) -> hv.Overlay:
    """An overlay of a group from history rows: static (export, reopened runs), or a
    live pane's frame when given its ``styles``."""
    df = frame(rows, spec, config)
    logy = wants_log(spec, df[spec.metrics].to_numpy().ravel().tolist())
    colors = Colors()
    return overlay(df, spec, config, theory(spec, config, values, logy, colors), logy,
                   colors, style=style, styles=styles)
