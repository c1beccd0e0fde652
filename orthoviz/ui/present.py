"""The "Presentation" switch of an explorer: plots and text sized for a room.

Off: the screen size (:data:`~orthoviz.viz.style.DEFAULT`). On: larger fonts and taller
plots (:data:`~orthoviz.viz.style.PRESENTATION`) on every live curve and pane, and a
larger intro. Under a server the switch follows the URL flag ``?present=true``
(:mod:`orthoviz.ui.urlstate`), so a link opens the page at room size.
"""

from __future__ import annotations

import panel as pn

from orthoviz.viz.style import DEFAULT, PRESENTATION, Style


class PresentationSwitch:
    """A sidebar switch that restyles one explorer's plots (no rerun, no data lost)."""

    def __init__(self, explorer):
        self.explorer = explorer
        self.switch = pn.widgets.Switch(value=False, width=40, align="center")
        self.switch.param.watch(lambda e: self.apply(), "value")
        self.panel = pn.Row(self.switch, pn.pane.Markdown("**Presentation** (room size)",
                                                          margin=(0, 5)),
                            sizing_mode="stretch_width")

    @property
    def style(self) -> Style:
        return PRESENTATION if self.switch.value else DEFAULT

    def apply(self) -> None:
        """Restyle every live plot of the explorer (each redraws once)."""
        e, style = self.explorer, self.style
        for x in [*e.curves, *e.panes]:
            x.set_style(style)
        e.intro.styles = {"font-size": "1.3em"} if self.switch.value else {}
