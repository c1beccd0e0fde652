"""Sidebar widgets of the explorer: run buttons, seed/device, progress, status line,
and the config widgets generated from the experiment's param class."""

from __future__ import annotations

import panel as pn
import param

from orthoviz.runtime.params import param_label, user_parameters
from orthoviz.ui.text import SafeAlert, plain_html

#: status -> Alert colour
ALERT = {"idle": "secondary", "queued": "info", "running": "primary", "paused": "info",
         "stopping": "warning", "stopped": "warning", "finished": "success", "failed": "danger"}


class ListInput(pn.widgets.LiteralInput):
    """A typed box for a list parameter (e.g. ``class_sizes``), one class for every
    session. Panel's own mapping makes a new ``ListInput`` class per widget
    (``type('ListInput', (LiteralInput,), ...)``), and a class never goes away: each
    keeps ~50 weak references, bound methods and param's per-class records alive (NC
    has two list parameters: +1k objects on the server after 9 sessions), and those
    survivors pin the heap pages a closed session has freed."""

    type = list


def config_widgets(config: param.Parameterized, names: list[str] | None = None) -> pn.Param:
    """Widgets for the user parameters ``names`` of ``config`` (default: all) in one
    ``pn.Param``: readable labels (:func:`~orthoviz.runtime.params.param_label`),
    softbounds give the arrows' step, hard bounds the limits of the typed value,
    ``doc`` the tooltip.

    Numbers are typed boxes (they accept e.g. ``5e-4``; the arrows step through the
    soft range). Not Panel's *editable* sliders: each registers a JavaScript link in
    Panel's class-level registry, and while any link exists every pane update walks the
    page's whole Bokeh model graph (~60 ms for the NC page, at every live draw) and the
    registry keeps closed sessions' widgets alive.
    """
    names = list(user_parameters(config)) if names is None else names
    cls = type(config)
    widgets = {}
    for n in names:
        p = config.param[n]
        spec = {"name": param_label(cls, n)}
        if isinstance(p, param.Integer):
            spec["type"] = pn.widgets.IntInput
        elif isinstance(p, param.List):
            spec["type"] = ListInput
        elif isinstance(p, param.Number):
            lo, hi = p.get_soft_bounds()
            spec["type"] = pn.widgets.FloatInput  # no display format: 1e-6 must not read 0
            if lo is not None and hi is not None and hi > lo:
                spec["step"] = float(f"{(hi - lo) / 200:.2g}")
        widgets[n] = spec
    return pn.Param(config, parameters=names, widgets=widgets, show_name=False,
                    sort=False, sizing_mode="stretch_width")


def preset_time_text(cls, preset: str) -> str:
    """"imbalanced_E2 · about 2 min on a 2-core CPU" from the experiment's measured
    ``preset_seconds`` (empty when not measured)."""
    secs = cls.preset_seconds.get(preset)
    if secs is None:
        return ""
    when = f"about {max(1, round(secs))} s" if secs < 90 else f"about {round(secs / 60)} min"
    where = f" on {cls.preset_machine}" if cls.preset_machine else ""
    return plain_html(f"{preset} · {when}{where}")


class RunControls:
    """Start / Stop / Reset / New seed, seed and device, progress, step and status.

    Pure layout: the explorer wires the buttons and pushes values in.
    """

    def __init__(self, explorer):
        self.start = pn.widgets.Button(label="▶ Start", color="primary",
                                       sizing_mode="stretch_width")
        self.stop = pn.widgets.Button(label="■ Stop", color="danger", disabled=True,
                                      sizing_mode="stretch_width")
        self.pause = pn.widgets.Button(label="❚❚ Pause", color="default", disabled=True,
                                       sizing_mode="stretch_width",
                                       description="Hold the run after the current step; "
                                       "press again to resume")
        # ⇥, not ⏭: common fonts (DejaVu) have no U+23ED, drawn as an empty box
        self.step_button = pn.widgets.Button(label="⇥ Step", color="default",
                                             sizing_mode="stretch_width",
                                             description="Run one more step, then pause")
        self.reset = pn.widgets.Button(label="↺ Reset (same seed)", color="default",
                                       sizing_mode="stretch_width",
                                       description="Clear and run again from step 0 "
                                       "with the same seed")
        self.new_seed = pn.widgets.Button(label="⚄ New seed", color="default",
                                          sizing_mode="stretch_width",
                                          description="Pick a fresh seed, then reset")
        self.preset = pn.widgets.Select.from_param(explorer.param.preset, label="Preset",
                                                   sizing_mode="stretch_width")
        cls = explorer.experiment_cls
        self.preset_time = pn.pane.HTML(preset_time_text(cls, explorer.preset),
                                        css_classes=["ov-preset-time"], margin=(0, 10),
                                        styles={"font-size": "0.85em", "color": "#555"})
        explorer.param.watch(
            lambda e: setattr(self.preset_time, "object", preset_time_text(cls, e.new)),
            "preset")
        self.seed = pn.widgets.IntInput.from_param(explorer.param.seed, label="Seed",
                                                   sizing_mode="stretch_width")
        self.device = pn.widgets.Select.from_param(explorer.param.device, label="Device",
                                                   sizing_mode="stretch_width")
        self.device_used = pn.pane.HTML("", css_classes=["ov-device"], margin=(0, 10))
        self.progress = pn.indicators.Progress(value=0, max=1000, bar_color="primary",
                                               sizing_mode="stretch_width", height=14)
        self.step = pn.pane.HTML("step 0 / ?", css_classes=["ov-step"], margin=(0, 10))
        # plain text only: messages carry URL values, paths and error text
        self.status = SafeAlert("", title="idle", alert_type="secondary",
                                css_classes=["ov-status"], sizing_mode="stretch_width")

    def show_progress(self, step: int, total: int, device: str | None) -> None:
        self.progress.value = int(1000 * min(1.0, step / max(1, total)))
        self.step.object = f"step {step} / {total}"
        if device:
            self.device_used.object = f"device in use: <b>{plain_html(device)}</b>"

    def show_device_plan(self, text: str) -> None:
        """Before a run: what the device choice will resolve to (``auto → cpu (...)``)."""
        self.device_used.object = f"device: <b>{plain_html(text)}</b>"

    def show_status(self, status: str, message: str) -> None:
        """Status in bold, then the message; both shown as plain text."""
        text = message if message and message != status else ""
        self.status.param.update(object=text, title=status,
                                 alert_type=ALERT.get(status, "secondary"))
        running = status in ("queued", "running", "paused", "stopping")
        self.start.disabled = status in ("queued", "running", "paused")
        self.stop.disabled = not running
        self.pause.disabled = status not in ("running", "paused")
        self.pause.label = "▶ Resume" if status == "paused" else "❚❚ Pause"

    def panel(self) -> pn.Column:
        return pn.Column(
            self.preset, self.preset_time,
            pn.Row(self.start, self.stop, sizing_mode="stretch_width"),
            pn.Row(self.pause, self.step_button, sizing_mode="stretch_width"),
            pn.Row(self.reset, self.new_seed, sizing_mode="stretch_width"),
            pn.Row(self.seed, self.device, sizing_mode="stretch_width"),
            self.device_used, self.progress, self.step, self.status,
            sizing_mode="stretch_width",
        )
