"""A run as one saved page: title, config, notes, theory numbers, then the plots laid
out as the explorer lays them out (two columns, each plot at its page size).

The app's "Figures (HTML/PNG)" downloads and ``orthoviz export`` both write this page,
so an exported run reads like the page it came from. Plots get fixed pixel widths
(:data:`CELL_WIDTH` per column): a saved file has no container for responsive plots to
stretch into, which is what squashed them to ~30 px in a HoloViews grid.

Bokeh's JavaScript stays inline (about 1.5 MB of the file): an exported page must open
offline, from a Binder download or an e-mail attachment, with no CDN at hand.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import holoviews as hv

from orthoviz.viz.common import build_pane, ensure_bokeh, placeholder
from orthoviz.viz.curves import figure
from orthoviz.viz.spec import Views, ViewState
from orthoviz.viz.style import DEFAULT, Style, styled

CELL_WIDTH = 620  # px: one of the two plot columns of the explorer on a 1600 px screen
COLUMNS = 2


def _number(v: Any) -> str | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        try:
            import numpy as np

            if isinstance(v, np.generic) and np.ndim(v) == 0:
                v = v.item()
            else:
                return None
        except ImportError:  # pragma: no cover - numpy is a core dependency
            return None
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def theory_numbers(theory: Mapping[str, Any] | None) -> dict[str, str]:
    """The theory's scalar entries (and its ``context``'s), formatted: the key numbers
    of a run's predictions (curves and arrays are drawn, not listed)."""
    out: dict[str, str] = {}
    theory = theory or {}
    for src in (theory, theory.get("context") or {}):
        for k, v in src.items():
            s = _number(v)
            if s is not None:
                out[k] = s
    return out


def plain_html(text: Any) -> str:
    """:func:`orthoviz.ui.text.plain_html`, imported on use: a module-level import of
    ``orthoviz.ui`` would load the explorer (and loop back here) whenever the export
    is imported."""
    from orthoviz.ui.text import plain_html as escape

    return escape(text)


def _table(rows: Mapping[str, Any], head: str) -> str:
    body = "".join(f"<tr><td>{plain_html(k)}</td><td>{plain_html(v)}</td></tr>"
                   for k, v in rows.items())
    return (f"<h3>{plain_html(head)}</h3><table class='ov'><tbody>{body}</tbody>"
            "</table>")


_CSS = ("<style>table.ov{border-collapse:collapse;font-size:13px}"
        "table.ov td{border-bottom:1px solid #ddd;padding:2px 10px 2px 0}"
        "ul.ov{font-size:14px}</style>")


def header_html(title: str, intro: str, config: Mapping[str, Any],
                notes: Iterable[str], theory: Mapping[str, Any] | None) -> str:
    """Title, intro (the views' own Markdown), config, notes and theory numbers as HTML;
    every value from the run or the user is escaped (:func:`plain_html`)."""
    from markdown_it import MarkdownIt

    parts = [_CSS, f"<h1>{plain_html(title)}</h1>"]
    first, _, rest = intro.partition("\n")
    if first.lstrip("# ").strip() == title.strip():  # its heading repeats the title
        intro = rest
    if intro.strip():  # the views' intro is part of orthoviz, not user text
        parts.append(MarkdownIt().render(intro))
    notes = [n for n in notes if n]
    if notes:
        items = "".join(f"<li>{plain_html(n)}</li>" for n in notes)
        parts.append(f"<h3>Notes</h3><ul class='ov'>{items}</ul>")
    cfg = {k: v for k, v in config.items()}
    nums = theory_numbers(theory)
    tables = [_table(cfg, "Config")] + ([_table(nums, "Theory")] if nums else [])
    parts.append("<div style='display:flex;gap:40px;align-items:flex-start'>"
                 + "".join(f"<div>{t}</div>" for t in tables) + "</div>")
    return "".join(parts)


def plot_items(views: Views, state: ViewState, style: Style = DEFAULT,
               width: int = CELL_WIDTH) -> list:
    """Each curves group and pane as one HoloViews object at a fixed ``width``, in the
    explorer's order (curves, then panes)."""
    items = [styled(figure(state.rows, c, state.config, state.theory, style), style, width)
             for c in views.curves]
    for p in views.panes:
        obj = build_pane(p, state)
        if not isinstance(obj, hv.Layout) and hasattr(obj, "relabel") and \
                not obj.label:
            obj = obj.relabel(p.title)
        items.append(styled(obj, style, width))
    return items or [placeholder("nothing to draw")]


def page_model(views: Views, state: ViewState, title: str, notes: Iterable[str] = (),
               style: Style = DEFAULT, width: int = CELL_WIDTH,
               config: Mapping[str, Any] | None = None):
    """The whole page as one Bokeh layout: the header, then a two-column grid.
    ``config``: the rows of the config table (default: the experiment's config)."""
    from bokeh.layouts import column, row
    from bokeh.models import Div

    ensure_bokeh()
    cfg = config if config is not None else (
        state.config.config() if hasattr(state.config, "config") else {})
    head = Div(text=header_html(title, views.intro, cfg, notes, state.theory),
               width=COLUMNS * width + 40)
    models = [_render(x, width) for x in plot_items(views, state, style, width)]
    rows = [row(*models[i:i + COLUMNS]) for i in range(0, len(models), COLUMNS)]
    return column(head, *rows)


def _render(obj, width: int):
    """A Bokeh model of ``obj``. An ``hv.Div`` becomes a Bokeh Div: HoloViews draws it
    as a Panel model, whose JavaScript a plain Bokeh page does not carry."""
    from bokeh.models import Div

    if isinstance(obj, hv.Div):  # the views' own HTML (numbers they format), not user text
        return Div(text=str(obj.data), width=width)
    return hv.render(obj, backend="bokeh")


def save_page(model, path: str | os.PathLike, title: str) -> Path:
    """A self-contained HTML file of ``model`` (Bokeh JS inline: opens offline)."""
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    path = Path(path)
    path.write_text(file_html(model, INLINE, title=title), encoding="utf-8")
    return path
