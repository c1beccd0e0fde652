"""Live plots of the explorer: Buffer-backed metric curves and Pipe-backed panes.

Each object belongs to one explorer (one session); nothing here is module-level state.
"""

from __future__ import annotations

import time

import holoviews as hv
import pandas as pd
import panel as pn

from orthoviz.viz.common import (
    CURVE_HEIGHT,
    build_pane,
    curve,
    finite,
    is_placeholder,
    placeholder,
    theory_lines,
    theory_values,
    wants_log,
)
from orthoviz.viz.spec import Curves, Pane, ViewState

BUFFER_LENGTH = 5000  # rows kept per metric in the browser; the full history stays on the Runner


class LiveCurves:
    """One Curves group: one length-capped ``hv.streams.Buffer`` holding ``step`` and the
    group's metrics (NaN where a record lacks one), drawn as one DynamicMap of overlaid
    Curves with the theory values as dashed lines: one plot refresh per flush.

    With ``logy="auto"`` the axis starts linear and switches to log once the positive
    values span more than two decades (the plot is rebuilt once).
    """

    def __init__(self, curves: Curves, theory: dict | None = None,
                 length: int = BUFFER_LENGTH):
        self.curves, self.theory, self.length = curves, dict(theory or {}), length
        self.columns = ["step", *curves.metrics]
        self.buffer = hv.streams.Buffer(self._frame([]), length=length, index=False)
        self.logy = curves.logy is True
        self._seen: list[float] = []
        self.pane = pn.pane.HoloViews(self._dmap(), sizing_mode="stretch_width",
                                      min_height=CURVE_HEIGHT)
        items = [self.pane]
        if curves.doc:
            items.append(pn.pane.Markdown(curves.doc, sizing_mode="stretch_width",
                                          styles={"font-size": "0.9em", "color": "#555"}))
        self.panel = pn.Column(*items, sizing_mode="stretch_width")

    def _frame(self, rows: list[dict]) -> pd.DataFrame:
        df = pd.DataFrame([[r.get(c) if finite(r.get(c)) else None for c in self.columns]
                           for r in rows], columns=self.columns, dtype="float64")
        return df.astype({"step": "int64"})

    def _dmap(self) -> hv.DynamicMap:
        curves, logy = self.curves, self.logy
        lines = theory_lines(curves, self.theory, logy)

        # a plain closure (no bound method, no partial): avoids the stream-subscriber
        # reference cycles of holoviz/holoviews #6934
        def overlay(data, curves=curves, logy=logy, lines=lines):
            elems = []
            for m in curves.metrics:
                col = data[m]
                # sparse metrics (evaluated every k steps) would draw as isolated NaN-
                # separated points; only they lose Bokeh's patch streaming
                d = data if not col.isna().any() else data[["step", m]].dropna()
                elems.append(curve(d, curves, m, logy))
            return hv.Overlay(elems + lines)

        return hv.DynamicMap(overlay, streams=[self.buffer]).opts(
            hv.opts.Overlay(title=curves.title, legend_position="right", responsive=True,
                            height=CURVE_HEIGHT))

    def set_theory(self, theory: dict) -> None:
        """New theory (the config changed): rebuild the plot if its lines moved."""
        old = theory_values(self.curves, self.theory)
        self.theory = dict(theory or {})
        if theory_values(self.curves, self.theory) != old:
            self.pane.object = self._dmap()

    def clear(self) -> None:
        self.buffer.clear()
        self._seen = []
        if self.curves.logy == "auto" and self.logy:
            self.logy = False
            self.pane.object = self._dmap()

    def send(self, rows: list[dict]) -> None:
        """Append history rows (step, phase, scalars): one Buffer.send."""
        rows = [r for r in rows if any(finite(r.get(m)) for m in self.curves.metrics)]
        if not rows:
            return
        df = self._frame(rows)
        self._seen.extend(v for m in self.curves.metrics for v in df[m].dropna())
        if self.curves.logy == "auto" and not self.logy and wants_log(self.curves, self._seen):
            self.logy = True
            self.pane.object = self._dmap()
        self.buffer.send(df)
        if len(self._seen) > 4 * self.length:  # keep only what decides the axis
            self._seen = [min(self._seen), max(self._seen)]


class LivePane:
    """One algorithm pane fed by an ``hv.streams.Pipe`` carrying a :class:`ViewState`,
    refreshed at most ``max_hz`` times a second (the last state is always shown)."""

    def __init__(self, pane: Pane, max_hz: float = 5.0):
        self.spec, self.min_interval = pane, 1.0 / max_hz
        self.pipe = hv.streams.Pipe(data=None)
        self._last_sent = 0.0
        self._static = False  # a builder returning a Layout cannot live in a DynamicMap
        self.pane = pn.pane.HoloViews(placeholder("press Start", pane.title),
                                      sizing_mode="stretch_width", min_height=CURVE_HEIGHT)
        items = [self.pane]
        if pane.doc:
            items.append(pn.pane.Markdown(pane.doc, sizing_mode="stretch_width",
                                          styles={"font-size": "0.9em", "color": "#555"}))
        self.panel = pn.Column(*items, sizing_mode="stretch_width")
        self._live = False

    def _attach(self, state: ViewState) -> None:
        first = build_pane(self.spec, state)
        if is_placeholder(first):
            self.pane.object = first  # nothing drawable yet: try again with the next state
            return
        if isinstance(first, hv.Layout | hv.NdLayout | hv.GridSpace):
            self._static = True
            self.pane.object = first
            return
        spec, last = self.spec, {"el": first}

        def render(data, spec=spec, last=last):
            if data is None:
                return last["el"]
            el = build_pane(spec, data)
            if is_placeholder(el) or type(el) is not type(last["el"]):
                return last["el"]  # keep the previous view when a state cannot be drawn
            last["el"] = el
            return el

        self.pipe = hv.streams.Pipe(data=state)
        self.pane.object = hv.DynamicMap(render, streams=[self.pipe]).opts(framewise=True)
        self._live = True

    def send(self, state: ViewState, force: bool = False) -> bool:
        """Push a state unless one was pushed less than 1/max_hz seconds ago."""
        now = time.monotonic()
        if not force and now - self._last_sent < self.min_interval:
            return False
        self._last_sent = now
        if self._static:
            self.pane.object = build_pane(self.spec, state)
        elif not self._live:
            self._attach(state)
        else:
            self.pipe.send(state)
        return True

    def clear(self) -> None:
        self._live, self._static, self._last_sent = False, False, 0.0
        self.pipe = hv.streams.Pipe(data=None)
        self.pane.object = placeholder("press Start", self.spec.title)
