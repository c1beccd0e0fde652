"""Plot sizes for a screen or a room, and readable log axes (HoloViews opts + Bokeh).

A :class:`Style` scales fonts and heights; :func:`styled` applies it to anything a
view builds (an element, an overlay or a layout of them) without touching the data,
so the live explorer, the export and a notebook draw the same figure at either size.
Legends go inside the plot (``legend_position`` of the view, background half
transparent), so a legend never takes width from the plot area.

Log axes get :data:`LOG_TICKS` (a Bokeh ``CustomJSTicker``): Bokeh's own LogTicker
labels only multiples of one linear step when a range spans under two decades, so on
``[0.03, 0.5]`` nothing below 0.1 had a label. Here every decade in view is labelled,
with 2 and 5 between them when few decades are shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import holoviews as hv

__all__ = ["DEFAULT", "PRESENTATION", "STYLES", "Style", "Styles", "log_ticks", "plain_opts",
           "styled"]


@dataclass(frozen=True)
class Style:
    """How large a figure draws: font scale, height factor, legend placement."""

    name: str
    fontscale: float = 1.0
    height_scale: float = 1.0
    legend_alpha: float = 0.6  # legend background: lines stay visible under it
    #: fixed sizes that ``fontscale`` must not blow up: a long title or a legend of
    #: many lines would cover the plot
    fontsize: tuple[tuple[str, str], ...] = ()

    def height(self, h: int | None) -> int | None:
        return None if h is None else int(round(h * self.height_scale))


DEFAULT = Style("default")
PRESENTATION = Style("presentation", fontscale=1.45, height_scale=1.4,
                     fontsize=(("title", "13pt"), ("legend", "10pt")))
STYLES = {s.name: s for s in (DEFAULT, PRESENTATION)}

# Major ticks for a log axis, in the browser (the range changes on zoom and live data):
# every decade; with mantissas 2 and 5 (or 2..9) when the range is short; every k-th
# decade when it is long. Minor ticks: 1..9 x each decade (only when few decades).
_MAJOR = """
const lo = Math.min(cb_data.start, cb_data.end), hi = Math.max(cb_data.start, cb_data.end);
if (!(lo > 0) || !isFinite(hi)) return [];
const d0 = Math.floor(Math.log10(lo)), d1 = Math.ceil(Math.log10(hi));
const span = Math.log10(hi / lo);
const pick = (ms, step) => {
  const out = [];
  for (let d = d0; d <= d1; d++) {
    if ((d - d0) % step) continue;
    for (const m of ms) { const t = m * Math.pow(10, d); if (t >= lo && t <= hi) out.push(t); }
  }
  return out;
};
let t;
if (span < 0.7) t = pick([1, 2, 3, 4, 5, 6, 7, 8, 9], 1);
else if (span < 2.5) t = pick([1, 2, 5], 1);
else t = pick([1], Math.max(1, Math.ceil(span / 7)));
if (t.length < 2) t = pick([1, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9], 1);
return t;
"""
_MINOR = """
const lo = Math.min(cb_data.start, cb_data.end), hi = Math.max(cb_data.start, cb_data.end);
if (!(lo > 0) || !isFinite(hi) || Math.log10(hi / lo) > 8) return [];
const out = [];
for (let d = Math.floor(Math.log10(lo)); d <= Math.ceil(Math.log10(hi)); d++)
  for (let m = 1; m < 10; m++) {
    const t = m * Math.pow(10, d);
    if (t >= lo && t <= hi) out.push(t);
  }
return out;
"""
# Labels: "10^k" as Unicode superscripts at decades, plain numbers between them
_LABEL = """
const t = tick;
if (!(t > 0)) return String(t);
const e = Math.round(Math.log10(t));
const sup = {"-": "⁻", "0": "⁰", "1": "¹", "2": "²", "3": "³", "4": "⁴", "5": "⁵",
             "6": "⁶", "7": "⁷", "8": "⁸", "9": "⁹"};
if (Math.abs(t / Math.pow(10, e) - 1) < 1e-9) {
  if (e >= -2 && e <= 3) return String(+t.toPrecision(1));
  return "10" + String(e).split("").map(c => sup[c]).join("");
}
if (t >= 1e-3 && t < 1e4) return String(+t.toPrecision(2));
return t.toExponential(1).replace("e", "·10^").replace("+", "");
"""


LOG_AXIS_ROOM = 62  # px left of a log y axis: "10⁻⁵" and the axis label


def log_ticks(plot, element) -> None:
    """HoloViews hook: readable ticks on whichever Bokeh axes are logarithmic."""
    from bokeh.models import CustomJSTicker, CustomJSTickFormatter, LogAxis

    fig = plot.state
    for axis in list(getattr(fig, "xaxis", [])) + list(getattr(fig, "yaxis", [])):
        # once per axis: hooks run at every frame, and new ticker models at each one
        # made every live update change the page's model graph (a walk of the whole
        # page on the server, new models to build in the browser)
        if isinstance(axis, LogAxis) and not isinstance(axis.ticker, CustomJSTicker):
            axis.ticker = CustomJSTicker(major_code=_MAJOR, minor_code=_MINOR)
            axis.formatter = CustomJSTickFormatter(code=_LABEL)
    if any(isinstance(a, LogAxis) for a in getattr(fig, "yaxis", [])):
        # room for the labels before they exist. Seen in Chromium: with the custom
        # ticker, a thin strip at the canvas's left edge keeps an earlier paint (line
        # ends, label pieces) until the page is resized; a fixed left border makes
        # the strip narrower, it does not remove it (without the hook it is absent)
        fig.min_border_left = max(fig.min_border_left or 0, LOG_AXIS_ROOM)


def _has_log(el) -> bool:
    o = hv.Store.lookup_options("bokeh", el, "plot").kwargs
    return bool(o.get("logx") or o.get("logy"))


def _legend(el) -> str | None:
    pos = hv.Store.lookup_options("bokeh", el, "plot").kwargs.get("legend_position")
    if pos in (None, "right", "left", "top", "bottom"):  # outside the frame: move in
        return "top_right"
    return pos


class Styles:
    """``element.opts(**options)`` for the frames of one live plot, with one options
    tree per (element type, label, options given before, options): the first element
    given them builds the tree (HoloViews' ``.opts`` clones the element and copies
    the trees of everything in it, ~1-3 ms a call), later ones only take its id.
    Measured (benchmarks/live_styles.py, 4 passes): a 3-D geometry draw 0.60-0.63x
    the server CPU of per-frame options, the Grams 0.76-0.85x, a curve group
    0.76-0.88x; the other panes of a run (NC, hierarchical, deep-CG) 0.58-0.73x.
    HoloViews keeps a tree while an
    element with its id lives; this object holds the first one, so the trees go with
    the plot that owns it.

    Options that change from frame to frame (a title with a number in it) make a key
    per value: past :attr:`MAX_TREES` keys, a plot's new ones are applied as
    :func:`plain_opts` does and not kept, so a long run cannot grow the cache."""

    MAX_TREES = 64  # a live pane has at most a few dozen elements of fixed options

    def __init__(self):
        self._first: dict[tuple, Any] = {}

    @property
    def kept(self) -> int:
        """How many options trees this plot keeps (no ``__len__``: an empty Styles
        must stay true for ``state.styles or plain_opts``)."""
        return len(self._first)

    def __call__(self, el, **options):
        # el.id: two elements alike but for options given earlier (a pane's measured
        # and predicted frames) must not share; a live frame's elements take stable ids
        key = (type(el), el.label, el.id, repr(sorted(options.items())))
        first = self._first.get(key)
        if first is None:
            if len(self._first) >= self.MAX_TREES:
                return el.opts(**options)
            self._first[key] = first = el.opts(**options)
            return first
        el.id = first.id  # the same tree: no clone, no new tree
        return el


def plain_opts(el, **options):
    """``el.opts(**options)``: where frames are not redrawn (export, notebooks,
    reopened runs) there is nothing to share."""
    return el.opts(**options)


def styled(obj, style: Style = DEFAULT, width: int | None = None,
           styles: Styles | None = None, **extra):
    """``obj`` drawn at ``style`` (a clone; the data are shared). ``width``: a fixed
    width in pixels instead of a responsive one (static export: a saved page has no
    container to stretch into). ``styles``: a live plot's :class:`Styles` (its frames
    share the options trees). ``extra``: more plot or normalisation options of the
    top element (those its type takes), e.g. a live pane's ``framewise=True``."""
    if isinstance(obj, hv.Layout):
        items = list(obj)
        cols = getattr(obj, "_max_cols", None) or len(items)
        w = None if width is None else max(160, width // max(1, min(cols, len(items))))
        return hv.Layout([styled(x, style, w, styles, **extra) for x in items]).cols(cols).opts(
            shared_axes=False)
    if isinstance(obj, hv.DynamicMap) or not isinstance(obj, hv.core.Dimensioned):
        return obj
    plot = hv.Store.lookup_options("bokeh", obj, "plot").kwargs
    kw: dict = {"fontscale": style.fontscale, **extra}
    if style.fontsize:
        kw["fontsize"] = dict(style.fontsize)
    fixed_frame = plot.get("frame_height") is not None  # sized to fit its cell: kept
    if not fixed_frame and plot.get("height") is not None:
        kw["height"] = style.height(plot["height"])
    if width is not None and not fixed_frame:
        kw.update(responsive=False, width=width)
    if isinstance(obj, hv.Overlay | hv.Curve | hv.Scatter | hv.Spread):
        kw["legend_position"] = _legend(obj)
        kw["legend_opts"] = {"background_fill_alpha": style.legend_alpha,
                             **(plot.get("legend_opts") or {})}
    hooks = list(plot.get("hooks") or [])
    if log_ticks not in hooks and (_has_log(obj) or isinstance(obj, hv.Overlay)):
        kw["hooks"] = hooks + [log_ticks]
    allowed = _allowed(obj)
    return (styles or plain_opts)(obj, clone=True,
                                  **{k: v for k, v in kw.items() if k in allowed})


def _allowed(obj) -> set[str]:
    """Plot and normalisation options (``framewise``, ``axiswise``) the bokeh backend
    accepts for ``obj``'s type (a Table has no ``fontscale`` or ``responsive``)."""
    try:
        tree = hv.Store.options(backend="bokeh")[type(obj).__name__]
        return set(tree.groups["plot"].allowed_keywords) | set(
            tree.groups["norm"].allowed_keywords)
    except (KeyError, AttributeError):
        return set()
