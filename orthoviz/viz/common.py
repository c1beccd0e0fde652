"""Shared HoloViews helpers: the backend, placeholders, panes and the figure layout.

Used by the live explorer (``orthoviz.ui``) and by the static export
(:mod:`orthoviz.viz.export`), so a saved figure looks like the live one. Nothing here
computes a metric: the helpers only select, reshape and style numbers the run produced.
"""

from __future__ import annotations

import holoviews as hv

from orthoviz.viz.curves import CURVE_HEIGHT, PALETTE, figure
from orthoviz.viz.spec import Pane, Views, ViewState

__all__ = ["CURVE_HEIGHT", "PALETTE", "build_pane", "ensure_bokeh", "figure_layout",
           "is_placeholder", "placeholder"]


def ensure_bokeh() -> None:
    """Load HoloViews' bokeh backend once (idempotent; no-op when already loaded)."""
    # importing holoviews.plotting.bokeh alone marks the backend loaded without building
    # the option builders (hv.opts.Overlay), so check those too
    loaded = hv.Store.current_backend == "bokeh" and "bokeh" in hv.Store.loaded_backends()
    if not loaded or not hasattr(hv.opts, "Overlay"):
        hv.extension("bokeh", logo=False)
    # canvas, not WebGL (HoloViews' default): our plots hold at most thousands of
    # points, where WebGL only adds a copy of each frame into the canvas; in a browser
    # without a GPU (a lab VM, a remote desktop, headless) WebGL is emulated on the CPU.
    # Measured in headless Chromium, one NC page during a run: 6.5 -> 4.1 s of browser
    # CPU for the same updates (a class on one 2-core machine: the browsers' CPU is
    # what starves the server)
    hv.renderer("bokeh").webgl = False
    # W-1005 checks width/height only; plots sized by frame_width/frame_height (NC's
    # 3-D frames) are fixed-size too. Unsilenced, every served NC page logged it twice
    from bokeh.core.validation import silence
    from bokeh.core.validation.warnings import FIXED_SIZING_MODE

    silence(FIXED_SIZING_MODE, True)


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
    items = [figure(state.rows, c, state.config, state.theory) for c in views.curves]
    for p in views.panes:
        obj = build_pane(p, state)
        items.append(obj.relabel(p.title) if hasattr(obj, "relabel") else obj)
    if not items:
        items = [placeholder("nothing to draw")]
    return hv.Layout(items).cols(2).opts(shared_axes=False)
