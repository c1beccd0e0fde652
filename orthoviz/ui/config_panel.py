"""The explorer's configuration card: one section per declared group of parameters
(data, model, optimisation, run), the internals under a collapsed "Advanced" fold, and
the controls that do not apply under the current values hidden.

What goes where is the experiment's data (``groups``, ``advanced``, ``when``,
``labels``: :mod:`orthoviz.runtime.params`); this module only lays it out.
"""

from __future__ import annotations

import panel as pn

from orthoviz.runtime import ConfigError
from orthoviz.runtime.params import checked_value, deciding_parameters, param_sections
from orthoviz.ui.controls import config_widgets

TITLES = {"data": "Data", "model": "Model", "optimisation": "Optimisation", "run": "Run"}


class ConfigPanel:
    """Sections of typed widgets bound to ``config`` (one ``pn.Param`` per section).

    ``widgets`` maps each parameter to its widget; ``panel`` is the layout. A change of
    a parameter that some ``when`` condition reads shows or hides the widgets it decides.

    A typed value is checked as the URL and ``--set`` check it before Panel passes it
    on: a refused one (out of range, wrong type, not finite; ``Infinity`` in a number
    box would otherwise be taken, param's bounds allowing it) goes back to the value in
    force and ``on_refused`` gets the message naming the parameter and its range.
    """

    def __init__(self, config, on_refused=None):
        self.config, self.on_refused = config, on_refused
        self.widgets: dict[str, pn.widgets.Widget] = {}
        items = []
        for section, names in param_sections(config).items():
            pane = config_widgets(config, names)
            self.widgets.update({n: pane._widgets[n] for n in names})
            for n in names:  # before Panel's watchers: param runs lower precedence
                # first, and only its internal `_watch` takes one below 0 (Panel's link)
                self.widgets[n].param._watch(lambda e, n=n: self._check(n, e), "value",
                                             precedence=-2)
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

    def _check(self, name: str, event) -> None:
        """Refuse a typed value: put the widget back, say why, and stop the edit
        (raising is the only way to keep the watchers after this one, Panel's link
        among them, from applying it; Panel logs the exception and the session goes
        on)."""
        current = getattr(self.config, name)
        if event.new is current or repr(event.new) == repr(current):
            return  # the config's own value reaching its widget (set from code)
        try:
            checked_value(self.config, name, event.new)
        except ConfigError as e:
            event.obj.value = current
            if self.on_refused is not None:
                self.on_refused(f"not applied: {e}")
            raise

    def _show_applicable(self, *events) -> None:
        for name, widget in self.widgets.items():
            shown = self.config.applies(name)
            if widget.visible != shown:
                widget.visible = shown
