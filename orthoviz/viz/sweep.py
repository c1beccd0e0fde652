"""Figures of a sweep's results table: a heatmap of a metric over two grid axes (the
mean over seeds) and the metric against the first axis, one line per value of the
second (mean ± SE over seeds), with the theory beside them where the experiment offers
one. The lines are a declared :class:`~orthoviz.viz.spec.Curves` group drawn by
:mod:`orthoviz.viz.curves`; the means are HoloViews' ``Dataset.aggregate``.

Nothing here runs a sweep or touches a page: the explorer's sweep view
(:mod:`orthoviz.ui.sweep_view`) and a notebook call these with the table's rows.
"""

from __future__ import annotations

import itertools
import json
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import holoviews as hv
import numpy as np
import pandas as pd

from orthoviz.viz import curves as cv
from orthoviz.viz.common import placeholder
from orthoviz.viz.spec import Curves, SweepSpec

SEED = "seed"
THEORY = "theory"
HEIGHT = 340


@dataclass
class Axes:
    """What to draw: the two grid axes, the metric, the curves' x column and labels."""

    a1: str
    a2: str | None
    metric: str
    x: str | None = None  # curves' x column (default a1)
    labels: Mapping[str, str] | None = None
    logx: bool = False
    logy: bool | str = "auto"

    def label(self, col: str | None) -> str | None:
        """A table column's name on the figures (``sweep_values`` -> ``k``)."""
        return (self.labels or {}).get(col, col) if col else None

    @property
    def A1(self) -> str:  # noqa: N802 - the drawn column of a1
        return self.label(self.a1)

    @property
    def A2(self) -> str | None:  # noqa: N802
        return self.label(self.a2)

    @property
    def X(self) -> str:  # noqa: N802 - the curves' x column, drawn name
        return self.label(self.x or self.a1)

    @classmethod
    def from_spec(cls, spec: SweepSpec | None, a1: str, a2: str | None, metric: str):
        if spec is None:
            return cls(a1, a2, metric)
        x = spec.x if tuple(spec.axes) == (a1, a2) else None
        return cls(a1, a2, metric, x, spec.labels, spec.logx, spec.logy)


def scalar(v: Any) -> Any:
    """A grid value as drawn: a one-element list parameter (``"[8]"`` in the table, or
    ``[8]``) as its element; anything else unchanged."""
    if isinstance(v, str) and v.startswith("["):
        try:
            v = json.loads(v)
        except ValueError:
            return v
    if isinstance(v, list | tuple) and len(v) == 1:
        return v[0]
    return v


def frame(rows: Iterable[Mapping[str, Any]], ax: Axes) -> pd.DataFrame:
    """The finished rows that carry a finite ``ax.metric``: the axes (as scalars), the
    curves' x, the seed and the metric, under their drawn names (:meth:`Axes.label`)."""
    cols = list(dict.fromkeys(c for c in (ax.a1, ax.a2, ax.x, SEED) if c))
    out = []
    for r in rows:
        v = r.get(ax.metric)
        if r.get("status") != "finished" or not cv.finite(v) or any(
                c not in r for c in cols):
            continue
        out.append([scalar(r[c]) for c in cols] + [float(v)])
    return pd.DataFrame(out, columns=[ax.label(c) for c in cols] + [ax.metric])


def heat_data(df: pd.DataFrame, ax: Axes) -> pd.DataFrame:
    """Mean of the metric over seeds at each (a1, a2): HoloViews' aggregate."""
    kd = [ax.A1, ax.A2]
    if df.empty:
        return pd.DataFrame(columns=kd + [ax.metric])
    ds = hv.Dataset(df, kdims=kd + [SEED], vdims=[ax.metric])
    return ds.aggregate(kd, function=np.mean).dframe()


def _order(col: pd.Series) -> pd.Series:
    """Sort key: numbers by value, anything else as text."""
    num = pd.to_numeric(col, errors="coerce")
    return num if num.notna().all() else col.astype(str)


def _heat(data: pd.DataFrame, ax: Axes, title: str, clim) -> hv.HeatMap:
    logz = ax.logy is True and clim[0] > 0
    # categorical axes in numeric order: one equal cell per grid value
    data = data.sort_values([ax.A1, ax.A2], key=_order).astype({ax.A1: str, ax.A2: str})
    return hv.HeatMap(data, [ax.A1, ax.A2], ax.metric).opts(
        title=title, colorbar=True, cmap="viridis", tools=["hover"], clim=clim, logz=logz,
        responsive=True, height=HEIGHT, framewise=True)


def heatmap(df: pd.DataFrame, ax: Axes, theory: pd.DataFrame | None = None):
    """The mean over seeds on (a1, a2); the theory's heatmap beside it, on the same
    colour scale, where there is one."""
    if ax.a2 is None:
        return placeholder("a heatmap needs two grid axes", "Heatmap")
    data = heat_data(df, ax)
    if data.empty:
        return placeholder("the heatmap fills in as cells finish", f"{ax.metric} (mean)")
    vals = data[ax.metric].tolist()
    has_theory = theory is not None and ax.metric in theory and len(theory)
    if has_theory:
        vals += theory[ax.metric].tolist()
    clim = (float(np.nanmin(vals)), float(np.nanmax(vals)))
    measured = _heat(data, ax, f"{ax.metric}: mean over seeds", clim)
    if not has_theory:
        return measured
    return (measured + _heat(theory[[ax.A1, ax.A2, ax.metric]], ax,
                             f"{ax.metric}: theory", clim)).cols(2)


def curves(df: pd.DataFrame, ax: Axes, theory: pd.DataFrame | None = None,
           marks: Mapping[Any, float] | None = None, keys: list | None = None) -> hv.Overlay:
    """The metric against the x column, one line per a2 value (mean ± SE over seeds),
    the theory dashed in the same colours, and a dotted mark per a2 value. ``keys``:
    every a2 value of the grid (a live plot keeps the same glyphs in every frame)."""
    spec = Curves(f"{ax.metric} vs {ax.X}", [ax.metric], x=ax.X, by=ax.A2,
                  reduce=SEED, logx=ax.logx, logy=ax.logy,
                  theory={ax.metric: THEORY} if theory is not None else {})
    values = df[ax.metric].tolist() + (theory[ax.metric].tolist()
                                       if theory is not None and ax.metric in theory else [])
    logy = cv.wants_log(spec, values)
    colors = cv.Colors()
    tcols = [c for c in (ax.X, ax.metric, ax.A2) if c]
    elements = []
    if theory is not None and set(tcols) <= set(theory):
        elements = cv.theory(spec, None, {THEORY: {c: theory[c].to_numpy() for c in tcols}},
                             logy, colors)
    for key, x in (marks or {}).items():
        name = f"{ax.A2}={key}" if ax.a2 else ""
        elements.append(hv.VLine(float(x), label=f"{name} ({x:.3g})".strip()).opts(
            color=colors(key), line_dash="dotted", line_width=1.5))
    keys = list(dict.fromkeys([*(keys or []), *cv.line_keys(df, spec), *(marks or {})]))
    if ax.a2:  # a marker per mean: a line of one point shows too
        means = pd.DataFrame(columns=[ax.X, ax.A2, ax.metric]) if df.empty else hv.Dataset(
            df, [ax.X, ax.A2, SEED], ax.metric).aggregate([ax.X, ax.A2],
                                                          function=np.mean).dframe()
        groups = dict(iter(means.groupby(ax.A2, sort=False)))
        for key in keys:
            g = groups.get(key, means.iloc[0:0])
            g = g[g[ax.metric] > 0] if logy else g
            label = cv._label(spec, ax.metric, key)  # the line's: one legend entry
            elements.append(hv.Scatter(g, ax.X, ax.metric, label=label).opts(
                color=colors(key), size=7))
    with warnings.catch_warnings():  # one seed: no standard error (the band is empty)
        warnings.filterwarnings("ignore", "One or more sample arguments is too small")
        return cv.overlay(df, spec, None, elements, logy, colors,
                          keys if ax.a2 else None).opts(height=HEIGHT)


def theory_table(cls, preset: str, grid: Mapping[str, list], spec: SweepSpec | None,
                 ax: Axes) -> tuple[pd.DataFrame | None, dict]:
    """The theory of every (a1, a2) cell config (``spec.theory``: a column per metric
    it predicts) and the mark of every a2 value (``spec.mark``). Runs the experiment's
    theory: call it off the event loop."""
    if spec is None or (spec.theory is None and spec.mark is None):
        return None, {}
    rest = {k: v[0] for k, v in grid.items() if k not in (ax.a1, ax.a2)}
    rows, marks = [], {}
    a2_values = grid.get(ax.a2, [None]) if ax.a2 else [None]
    for v1, v2 in itertools.product(grid[ax.a1], a2_values):
        values = {ax.a1: v1, **({ax.a2: v2} if ax.a2 else {}), **rest}
        exp = cls.from_preset(preset).set(**values)
        key = scalar(getattr(exp, ax.a2)) if ax.a2 else None
        if spec.mark is not None:
            marks[key] = spec.mark(exp)
        if spec.theory is not None and ax.x is None:
            rows.append({ax.A1: scalar(getattr(exp, ax.a1)),
                         **({ax.A2: key} if ax.a2 else {}), **spec.theory(exp)})
    return (pd.DataFrame(rows) if rows else None), marks
