"""User text on the page, always as text: the one place that turns words into HTML.

Status lines, URL errors, config errors, run failures, notes and file names can all
carry text a stranger typed into a link (``?loss=<script>...``) or a file name. None
of it may reach the browser as HTML or Markdown, so every message goes through
:func:`plain_html` or a :class:`SafeAlert`, whose ``object`` is plain text whoever sets it.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

import panel as pn
import param
from panel.io.resources import CDN_DIST

ALERT_TYPES = ("primary", "secondary", "success", "danger", "warning", "info", "light",
               "dark")


def plain_html(text: Any) -> str:
    """``text`` as HTML that shows it literally: ``&``, ``<`` and ``>`` escaped, line
    breaks kept. Safe inside element content (not inside attribute values)."""
    if text is None:
        return ""
    return html.escape(str(text), quote=False).replace("\n", "<br>")


def safe_message(text: Any) -> str:
    """Alias of :func:`plain_html` under the name the explorer's call sites use."""
    return plain_html(text)


def queue_place_text(place: tuple[int, int], limit: int, more: str = "") -> str:
    """"place k of m (this server computes n runs at once<more>)": a queued run's or
    sweep's place in the server's run limit."""
    k, m = place
    return (f"place {k} of {m} (this server computes {limit} run{'s' * (limit > 1)} at "
            f"once{more})")


def bullet_text(items: Iterable[Any]) -> str:
    """Several messages as one plain text, one per line (for ``SafeAlert.object``)."""
    return "\n".join(f"• {x}" for x in items)


class SafeAlert(pn.pane.HTML):
    """An alert box (Panel's alert colours) that shows ``object`` and ``title`` as
    plain text: no HTML, no Markdown. Assigning user text to ``object`` is safe.

    >>> SafeAlert("ignored <script>x</script>", title="idle", alert_type="warning")
    """

    alert_type = param.Selector(default="secondary", objects=list(ALERT_TYPES),
                                doc="Panel alert colour")
    title = param.String(default="", doc="Shown in bold before the text (plain text too)")

    _rename = {**pn.pane.HTML._rename, "alert_type": None, "title": None}
    _rerender_params = [*pn.pane.HTML._rerender_params, "title"]
    _stylesheets = [f"{CDN_DIST}css/alerts.css"]

    def __init__(self, object: Any = "", **params):
        if "sizing_mode" not in params and "width" not in params:
            params["sizing_mode"] = "stretch_width"
        super().__init__(object, **params)

    def _transform_object(self, obj: Any) -> dict[str, Any]:
        body = plain_html(obj)
        if self.title:
            head = f"<b>{plain_html(self.title)}</b>"
            body = f"{head}: {body}" if body else head
        return super()._transform_object(body)

    def _process_param_change(self, params):
        if "css_classes" in params or "alert_type" in params:
            params["css_classes"] = [*self.css_classes, "alert", f"alert-{self.alert_type}"]
        return super()._process_param_change(params)

