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
    """One algorithm pane fed by an ``hv.streams.Pipe`` carrying a :class:`ViewState`.

    The first drawable state fixes the pane's shape: an element or overlay becomes one
    DynamicMap; a Layout becomes one DynamicMap per item, all on the same Pipe and one
    cached build per state. Later states only update data (no new Bokeh models), at
    most ``max_hz`` times a second and only when the rows or arrays changed.
    """

    def __init__(self, pane: Pane, max_hz: float = 1.0):
        self.spec, self.min_interval = pane, 1.0 / max_hz
        self.pipe = hv.streams.Pipe(data=None)
        self._last_sent, self._signature, self._live = 0.0, None, False
        self.pane = pn.pane.HoloViews(placeholder("press Start", pane.title),
                                      sizing_mode="stretch_width", min_height=CURVE_HEIGHT)
        items = [self.pane]
        if pane.doc:
            items.append(pn.pane.Markdown(pane.doc, sizing_mode="stretch_width",
                                          styles={"font-size": "0.9em", "color": "#555"}))
        self.panel = pn.Column(*items, sizing_mode="stretch_width")

    def _attach(self, state: ViewState) -> None:
        first = build_pane(self.spec, state)
        if is_placeholder(first):
            self.pane.object = first  # nothing drawable yet: try again with the next state
            return
        spec = self.spec
        layout = isinstance(first, hv.Layout)
        items = list(first) if layout else [first]
        cache = {"state": state, "obj": first}

        def build(data):
            # one build per state, shared by the DynamicMaps of a Layout's items
            if data is not None and data is not cache["state"]:
                obj = build_pane(spec, data)
                n = len(list(obj)) if isinstance(obj, hv.Layout) else 1
                if not is_placeholder(obj) and isinstance(obj, hv.Layout) == layout \
                        and n == len(items):
                    cache["obj"] = obj
                cache["state"] = data
            return list(cache["obj"]) if layout else [cache["obj"]]

        def item(i):
            # plain closures (no bound methods): see holoviz/holoviews #6934
            def render(data, i=i):
                el = build(data)[i]
                return el if type(el) is type(items[i]) else items[i]

            return hv.DynamicMap(render, streams=[self.pipe]).opts(framewise=True)

        self.pipe = hv.streams.Pipe(data=state)
        dmaps = [item(i) for i in range(len(items))]
        if layout:
            cols = getattr(first, "_max_cols", None) or len(items)
            obj = hv.Layout(dmaps).cols(cols).opts(shared_axes=False)
        else:
            obj = dmaps[0]
        self.pane.object = obj
        self._live = True

    @property
    def live(self) -> bool:
        """True once the pane shows a DynamicMap (later states only update data)."""
        return self._live

    def send(self, state: ViewState, force: bool = False) -> bool:
        """Push a state if the data changed and the last push is 1/max_hz s old."""
        now = time.monotonic()
        signature = (len(state.rows), id(state.arrays.get(next(iter(state.arrays), None)))
                     if state.arrays else None, state.final is not None)
        if signature == self._signature or (
            not force and now - self._last_sent < self.min_interval
        ):
            return False
        self._last_sent, self._signature = now, signature
        if not self._live:
            self._attach(state)
        else:
            self.pipe.send(state)
        return True

    def clear(self) -> None:
        self._live, self._last_sent, self._signature = False, 0.0, None
        self.pipe = hv.streams.Pipe(data=None)
        self.pane.object = placeholder("press Start", self.spec.title)
