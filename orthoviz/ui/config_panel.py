"""The explorer's configuration card: one section per declared group of parameters
(data, model, optimisation, run), the internals under a collapsed "Advanced" fold, and
the controls that do not apply under the current values hidden.

What goes where is the experiment's data (``groups``, ``advanced``, ``when``,
``labels``: :mod:`orthoviz.runtime.params`); this module only lays it out.
"""

from __future__ import annotations

import panel as pn

from orthoviz.runtime.params import deciding_parameters, param_sections
from orthoviz.ui.controls import config_widgets

TITLES = {"data": "Data", "model": "Model", "optimisation": "Optimisation", "run": "Run"}


class ConfigPanel:
    """Sections of typed widgets bound to ``config`` (one ``pn.Param`` per section).

    ``widgets`` maps each parameter to its widget; ``panel`` is the layout. A change of
    a parameter that some ``when`` condition reads shows or hides the widgets it decides.
    """

    def __init__(self, config):
        self.config = config
        self.widgets: dict[str, pn.widgets.Widget] = {}
        items = []
        for section, names in param_sections(config).items():
            pane = config_widgets(config, names)
            self.widgets.update({n: pane._widgets[n] for n in names})
            if section == "advanced":
                items.append(pn.Card(pane, title="Advanced", collapsed=True,
                                     sizing_mode="stretch_width", margin=(6, 5)))
            else:
                items += [pn.pane.HTML(f"<b>{TITLES[section]}</b>", margin=(8, 10, 0, 10),
                                       css_classes=["ov-section"]), pane]
        self.panel = pn.Column(*items, sizing_mode="stretch_width")
        deps = deciding_parameters(type(config))
        if deps:
            config.param.watch(self._show_applicable, deps)
        self._show_applicable()

    def _show_applicable(self, *events) -> None:
        for name, widget in self.widgets.items():
            shown = self.config.applies(name)
            if widget.visible != shown:
                widget.visible = shown
