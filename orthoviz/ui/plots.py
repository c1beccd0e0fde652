"""Live plots of the explorer: Buffer-backed declared curves and Pipe-backed panes.

Each object belongs to one explorer (one session); nothing here is module-level state.
Nothing here computes a metric or a theory: rows, arrays and the run's cached theory
come in, HoloViews elements go out (:mod:`orthoviz.viz.curves`).
"""

from __future__ import annotations

import time
from dataclasses import replace

import holoviews as hv
import panel as pn

from orthoviz.viz import curves as cv
from orthoviz.viz.common import build_pane, is_placeholder, placeholder
from orthoviz.viz.spec import Curves, Pane, ViewState
from orthoviz.viz.style import DEFAULT, Style, Styles, styled

BUFFER_LENGTH = 5000  # rows of a step curve kept in the browser (the Runner keeps more)
#: a pane redraws at most once per this many times its last draw's cost (and at most
#: max_hz): the 3-D frames or Gram matrices of a run cost 0.1-0.3 s of the event loop,
#: which every session of a class shares; the step line and the curves stay live.
PANE_COST_FACTOR = 8.0
SWEEP_LENGTH = 200_000  # rows of a reduced/grouped group: every sweep point is data


def _doc_text(text: str) -> pn.pane.Markdown:
    return pn.pane.Markdown(text, sizing_mode="stretch_width",
                            styles={"font-size": "0.9em", "color": "#555"})


class LiveCurves:
    """One declared :class:`Curves` group: a length-capped ``hv.streams.Buffer`` of the
    group's columns (x, by, reduce, metrics) drawn as one DynamicMap; the theory
    (values or curves) dashed. Only new rows travel to the Buffer; the callback regroups
    and reduces the buffered rows with HoloViews on each refresh.

    With ``logy="auto"`` the axis starts linear and switches to log once the positive
    values span more than two decades (the plot is rebuilt once).
    """

    def __init__(self, spec: Curves, config, theory: dict | None = None):
        self.spec = spec
        self.config, self.theory = config, dict(theory or {})
        self.colors = cv.Colors()
        self.style = DEFAULT
        # linked_axes=False: Panel would merge the ranges of every plot on the page
        # with the same dimensions into one (start 0 from an empty plot on a log axis:
        # no ticks, lines off the frame) and walk the whole page to do it at each render
        self.pane = pn.pane.HoloViews(sizing_mode="stretch_width", linked_axes=False,
                                      min_height=cv.CURVE_HEIGHT)
        self._new_buffer()
        items = [self.pane] + ([_doc_text(spec.doc)] if spec.doc else [])
        self.panel = pn.Column(*items, sizing_mode="stretch_width")

    def _new_buffer(self) -> None:
        self.columns = cv.columns(self.spec, self.config)
        length = BUFFER_LENGTH if self.spec.simple else SWEEP_LENGTH
        self.buffer = hv.streams.Buffer(cv.frame([], self.spec, self.config),
                                        length=length, index=False)
        self.logy = self.spec.logy is True
        self._lo, self._hi = float("inf"), float("-inf")
        self._pending: list[dict] = []
        # the by-values declared or seen: each has its glyphs in every frame
        self._declared = cv.declared_keys(self.spec, self.config)  # a snapshot: the
        self._keys: list = list(self._declared)  # config may be changed in place
        self._redraw()

    def _redraw(self) -> None:
        spec, config, logy, colors = self.spec, self.config, self.logy, self.colors
        lines = cv.theory(spec, config, self.theory, logy, colors)  # once per theory
        keys = list(self._keys)  # fixed for this DynamicMap: a new key redraws
        style, styles = self.style, Styles()  # this plot's frames share options

        # a plain closure (no bound method): avoids the stream-subscriber reference
        # cycles of holoviz/holoviews #6934
        def draw(data, spec=spec, config=config, lines=lines, logy=logy, colors=colors,
                 keys=keys, style=style, styles=styles):
            return cv.overlay(data, spec, config, lines, logy, colors, keys, style, styles)

        self.pane.min_height = style.height(cv.CURVE_HEIGHT)
        self.pane.object = hv.DynamicMap(draw, streams=[self.buffer])

    def set_style(self, style: Style) -> None:
        """Draw at another size (a new plot; the buffered rows stay)."""
        if style != self.style:
            self.style = style
            self._redraw()

    def set_config(self, config, theory: dict) -> None:
        """A new run or config: new columns need a new Buffer; new theory a redraw."""
        old_cols, old_theory = self.columns, self.theory
        self.config, self.theory = config, dict(theory or {})
        if cv.columns(self.spec, config) != old_cols:
            self._new_buffer()
            return
        # this config's declared lines, then the lines seen, less those only the old
        # config declared (e.g. a solver no longer chosen) with no rows in the buffer
        keys, old = cv.declared_keys(self.spec, config), self._declared
        self._declared = list(keys)
        shown = cv.line_keys(self.buffer.data, self.spec)
        keys += [k for k in self._keys if k not in keys and (k not in old or k in shown)]
        if keys != self._keys or not _same(self.theory, old_theory, self.spec):
            self._keys = keys
            self._redraw()

    def clear(self, reset_axes: bool = False) -> None:
        """Empty the buffer; ``reset_axes`` also returns an "auto" log axis to linear
        (a rebuild: only when the config changed). An empty buffer (a page's first
        run) sends nothing: each clear is a plot refresh (~70 ms of the loop), and a
        class pressing Start together queued a dozen of them ahead of a Stop."""
        if len(self.buffer.data):
            self.buffer.clear()
        self._pending = []
        self._lo, self._hi = float("inf"), float("-inf")
        if reset_axes and self.spec.logy == "auto" and self.logy:
            self.logy = False
            self._redraw()

    def add(self, rows: list[dict]) -> None:
        """Queue history rows for the next :meth:`flush` (cheap: no drawing)."""
        self._pending.extend(rows)

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def flush(self) -> bool:
        """Draw the queued rows: one Buffer.send. True when something was sent."""
        rows, self._pending = self._pending, []
        return self.send(rows)

    def send(self, rows: list[dict]) -> bool:
        """Append history rows: one Buffer.send. True when something was sent."""
        df = cv.frame(rows, self.spec, self.config)
        if df.empty:
            return False
        vals = df[self.spec.metrics].to_numpy().ravel()
        vals = vals[vals == vals]
        if vals.size:
            self._lo, self._hi = min(self._lo, vals.min()), max(self._hi, vals.max())
        new_keys = [k for k in cv.line_keys(df, self.spec) if k not in self._keys]
        self._keys += new_keys
        rebuild = bool(new_keys)  # a new line: new glyphs, so a new plot (never a patch
        # that changes a live legend, which Bokeh's browser side cannot apply)
        if self.spec.logy == "auto" and not self.logy and \
                cv.wants_log(self.spec, [self._lo, self._hi]):
            self.logy = rebuild = True
        if rebuild:
            self._redraw()  # the new plot has glyphs for every key before data come
        self.buffer.send(df)
        return True


def _same(a: dict, b: dict, spec: Curves) -> bool:
    """Whether the theory entries a group draws are the same: the same objects (theory
    is cached per config), or equal values (another config with the same prediction,
    e.g. an opened run's: no new plot)."""
    from orthoviz.ui.theory import same_theory

    return all(a.get(k) is b.get(k) or same_theory(a.get(k), b.get(k))
               for k in spec.theory.values())


_UNSHARED: list = []


def _unshared_axes():
    """A Layout whose options tree says ``shared_axes=False``, made once; a live
    Layout takes its id. ``.opts`` on the live Layout itself would also give each of
    its DynamicMaps that tree (HoloViews propagates a Layout's new options id to the
    DynamicMaps in it), and a DynamicMap applies its tree to every frame it returns:
    a new options tree per frame, a fifth of a 3-D geometry draw's CPU."""
    if not _UNSHARED:
        _UNSHARED.append(hv.Layout([hv.Curve([])]).opts(shared_axes=False))
    return _UNSHARED[0]


class LivePane:
    """One algorithm pane fed by an ``hv.streams.Pipe`` carrying a :class:`ViewState`.

    The first drawable state fixes the pane's shape: an element or overlay becomes one
    DynamicMap; a Layout becomes one DynamicMap per item, all on the same Pipe and one
    cached build per state. Later states only update data (no new Bokeh models), at
    most ``max_hz`` times a second, no sooner than PANE_COST_FACTOR times the last
    draw's cost, and only when the rows, arrays or theory changed (a version
    signature, never ``id()``).
    """

    def __init__(self, pane: Pane, max_hz: float = 1.0):
        self.spec, self.min_interval = pane, 1.0 / max_hz
        #: on the page now (False: in a tab not shown, which the pump skips; the tab's
        #: owner sends the current state when it is shown)
        self.shown = True
        self.pipe = hv.streams.Pipe(data=None)
        self._last_sent, self._signature, self._live = 0.0, None, False
        self._shape, self._cost = None, 0.0
        self.style = DEFAULT
        self._state: ViewState | None = None  # the last state sent (a restyle redraws it)
        self._styles: Styles | None = None  # the shown plot's (set when it attaches)
        self.pane = pn.pane.HoloViews(placeholder("computing the theory…", pane.title),
                                      sizing_mode="stretch_width", linked_axes=False,
                                      min_height=cv.CURVE_HEIGHT)
        self.view = {k: v[2] for k, v in pane.controls.items()}
        self.sliders = []
        for name, (lo, hi, value, label) in pane.controls.items():
            w = pn.widgets.IntSlider(name=label, start=int(lo), end=int(hi), value=int(value),
                                     sizing_mode="stretch_width")
            w.param.watch(lambda e, name=name: self._control(name, e.new), "value")
            self.sliders.append(w)
        controls = [pn.Row(*self.sliders, sizing_mode="stretch_width")] if self.sliders else []
        items = [self.pane, *controls] + ([_doc_text(pane.doc)] if pane.doc else [])
        self.panel = pn.Column(*items, sizing_mode="stretch_width")

    def _attach(self, state: ViewState) -> None:
        # a new plot: its frames share a new Styles (the old plot's trees go with it)
        styles = self._styles = Styles()
        state = self._state = replace(state, styles=styles)
        first = build_pane(self.spec, state)
        if is_placeholder(first):
            self.pane.object = first  # nothing drawable yet: try again with the next state
            return
        spec, style = self.spec, self.style
        layout = isinstance(first, hv.Layout)
        items = list(first) if layout else [first]
        cache = self._cache = {"state": state, "obj": first}

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
            def render(data, i=i, style=style, styles=styles):
                el = build(data)[i]
                # framewise on the frame, not the DynamicMap: a DynamicMap's options
                # are applied to each frame anew (a new options tree per frame)
                return styled(el if type(el) is type(items[i]) else items[i], style,
                              styles=styles, framewise=True)

            return hv.DynamicMap(render, streams=[self.pipe])

        self.pipe = hv.streams.Pipe(data=state)
        self._shape = (layout, [type(x) for x in items])
        dmaps = [item(i) for i in range(len(items))]
        if layout:
            cols = getattr(first, "_max_cols", None) or len(items)
            obj = hv.Layout(dmaps).cols(cols)
            obj.id = _unshared_axes().id  # not .opts: see _unshared_axes
        else:
            obj = dmaps[0]
        self.pane.object = obj
        self._live = True

    @property
    def live(self) -> bool:
        """True once the pane shows a DynamicMap (later states only update data)."""
        return self._live

    def send(self, state: ViewState, signature, force: bool = False) -> bool:
        """Push a state if its signature changed and the last push is 1/max_hz s old."""
        now = time.monotonic()
        if signature == self._signature or (
            not force and now - self._last_sent < max(self.min_interval,
                                                      PANE_COST_FACTOR * self._cost)
        ):
            return False
        self._last_sent, self._signature = now, signature
        self._show(state)
        self._cost = time.monotonic() - now
        return True

    def shows(self, signature) -> bool:
        """Whether the last state pushed had this signature."""
        return signature == self._signature

    def _show(self, state: ViewState) -> None:
        # the pane's own control values and the plot's Styles travel with every state
        state = replace(state, view=dict(self.view) if self.view else state.view,
                        styles=self._styles)
        self._state = state
        if not self._live or not self._same_shape(state):
            self._attach(state)
        else:
            self.pipe.send(state)

    def _control(self, name: str, value: float) -> None:
        """A slider moved: redraw the last state with the new value (no new data)."""
        self.view[name] = value
        if self._state is not None:
            self._show(self._state)

    def _same_shape(self, state: ViewState) -> bool:
        """Whether ``state`` draws as the same kind of object (a Layout of as many
        items, each of the same element type): then the DynamicMaps take it; else the
        pane re-attaches."""
        obj = build_pane(self.spec, state)
        if is_placeholder(obj):
            return True  # keep what is shown
        items = list(obj) if isinstance(obj, hv.Layout) else [obj]
        if (isinstance(obj, hv.Layout), [type(x) for x in items]) != self._shape:
            return False  # e.g. a "start a run" text becoming a plot: re-attach
        self._cache.update(state=state, obj=obj)  # the DynamicMaps reuse this build
        return True

    def set_style(self, style: Style) -> None:
        """Draw at another size: new plots from the last state sent."""
        if style == self.style:
            return
        self.style = style
        self.pane.min_height = style.height(cv.CURVE_HEIGHT)
        if self._live and self._state is not None:
            self._attach(self._state)

    def clear(self) -> None:
        """Forget the shape (a new config may change it); the next state re-attaches."""
        self._live, self._last_sent, self._signature = False, 0.0, None
        self.pipe = hv.streams.Pipe(data=None)
        self.pane.object = placeholder("computing the theory…", self.spec.title)


def pane_tabs(panes: list[LivePane], on_shown, open_pane: str | None = None) -> pn.Tabs:
    """The panes as tabs, only the open one rendered (``dynamic``): opening a page costs
    its server and its browser the open pane's plots, not every pane's (NC: 7 figures
    instead of 13), and live draws skip the panes not shown. ``on_shown()`` is called
    when another tab opens (from the browser's event): it must send that pane the
    current state, which it skipped while hidden. ``open_pane``: the title of the tab
    open first (default the first)."""
    titles = [p.spec.title for p in panes]
    tabs = pn.Tabs(*zip(titles, [p.panel for p in panes]), dynamic=True,
                   active=titles.index(open_pane) if open_pane in titles else 0,
                   sizing_mode="stretch_width")
    for i, p in enumerate(panes):
        p.shown = i == tabs.active

    def opened(event):
        for i, p in enumerate(panes):
            p.shown = i == event.new
        on_shown()

    tabs.param.watch(opened, "active")
    return tabs
