"""The explorer shell: one ``pn.viewable.Viewer`` that any registered experiment plugs into.

Every explorer owns its config, its Runner (one worker thread per run), its streams and
its widgets; nothing is shared between sessions.

The record stream reaches the page through :class:`~orthoviz.ui.stream.StreamingMixin`;
the theory of the config on show is computed once per config off the event loop
(:mod:`orthoviz.ui.theory`), so theory-only views draw before any run.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import threading
import weakref

import panel as pn
import param
from panel.io.state import set_curdoc
from panel.theme import Fast

from orthoviz.runtime import ConfigError, Runner, get_experiment
from orthoviz.runtime.capacity import ADMISSION
from orthoviz.runtime.device import DEVICES, available_devices, describe_choice
from orthoviz.runtime.memory import RELEASER, freeze_survivors, freezing
from orthoviz.runtime.params import set_checked, user_parameters
from orthoviz.runtime.record import Record
from orthoviz.ui.config_panel import ConfigPanel
from orthoviz.ui.controls import RunControls
from orthoviz.ui.docmodels import lazy_models
from orthoviz.ui.files import FilesPanel
from orthoviz.ui.plots import LiveCurves, LivePane, pane_tabs
from orthoviz.ui.present import PresentationSwitch
from orthoviz.ui.runs import RunFilesMixin, autosave_default
from orthoviz.ui.stream import StreamingMixin
from orthoviz.ui.sweep_view import SweepView
from orthoviz.ui.text import SafeAlert, bullet_text
from orthoviz.ui.theory import TheoryMixin
from orthoviz.ui.urlstate import sync_url
from orthoviz.viz.common import ensure_bokeh, figure_layout
from orthoviz.viz.spec import views_for

RESTART_DELAY = 0.5  # s: config edits while running restart the run after this quiet time


@functools.cache
def warm_up() -> None:
    """Once per server process, off the event loop: the first torch optimizer built in
    a process imports torch._dynamo (measured 1.1 s here), which would otherwise delay
    the first run's first update by that much."""

    def work():
        import torch

        torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)

    threading.Thread(target=work, name="orthoviz-warm-up", daemon=True).start()



class OfflineFast(Fast):
    """Panel's Fast design without its web font: Fast asks every page to load
    Open Sans from fonts.googleapis.com, the only request a served page sent off the
    server. A class on a network without internet then waits on it (a stylesheet in
    the head holds up the first paint until the request fails), and elsewhere every
    student's browser tells Google who opened the page. The font falls back to the
    system's sans-serif. Panel finds a design's own files under its class name in
    lower case, so this subclass must be called ``Fast`` to Panel."""

    _resources = {**Fast._resources, "font": {}}


OfflineFast.__name__ = "Fast"  # Panel resolves "fast/js/fast_design.js" by this name

class Explorer(StreamingMixin, TheoryMixin, RunFilesMixin, pn.viewable.Viewer):
    """Live explorer of one experiment.

    Parameters
    ----------
    experiment : str or Experiment subclass
        Registry key (``"neural-collapse"``) or class.
    preset : str, optional
        Named preset applied first (default ``"default"``).
    config : dict, optional
        Parameter values applied over the preset (validated).
    seed, device : int, str
        Seed of the next run; ``"auto" | "cpu" | "cuda"``.

    Methods ``start``, ``stop``, ``pause``, ``resume``, ``step``, ``reset``,
    ``new_seed``, ``save_run``, ``open_run`` drive it without a browser; ``status``,
    ``message``, ``runner`` and ``history`` describe it.
    """

    preset = param.Selector(default="default", objects=["default"], doc="Named preset")
    seed = param.Integer(default=0, bounds=(0, 2**31 - 1), doc="Seed of the run")
    device = param.Selector(default="auto", objects=list(DEVICES), doc="Device of the run")
    status = param.String(default="idle", doc="idle, queued, running, paused, stopping, "
                          "stopped, finished or failed")
    message = param.String(default="", doc="What happened last, in words")
    runs_root = param.String(default="runs", doc="Folder of saved runs")
    autosave = param.Boolean(default=False, doc="Write each run into runs_root as it goes "
                             "(default: $ORTHOVIZ_AUTOSAVE, set by `orthoviz serve --autosave`)")

    def __init__(self, experiment, preset: str | None = None, config: dict | None = None,
                 seed: int = 0, device: str = "auto", runs_root: str = "runs", **params):
        cls = get_experiment(experiment) if isinstance(experiment, str) else experiment
        self.experiment_cls = cls
        params.setdefault("autosave", autosave_default())
        super().__init__(seed=seed, device=device, runs_root=runs_root, **params)
        self.param.preset.objects = list(cls.presets)
        # only what exists here (no "cuda" without a GPU), plus a device asked for by
        # name, which Start then refuses with its reason
        devices = available_devices()
        self.param.device.objects = devices + [d for d in [self.device] if d not in devices]
        self.config = cls.from_preset(preset or "default")
        with param.parameterized.discard_events(self):
            self.preset = preset or "default"
        for k, v in (config or {}).items():
            set_checked(self.config, k, v)
        self.views = views_for(cls)
        self.runner: Runner | None = None
        self._opened: Record | None = None
        self._records: list[Record] = []  # shown when no runner (an opened run)
        self._arrays: dict = {}
        self._opened_version = 0
        self._run_index = 0
        self._final_drawn, self._shown, self._tick_cost = False, None, 0.0
        self._step_shown, self._step_shown_t = None, 0.0  # the step line's step, when
        self._last_draw, self._pane_turn, self._curve_turn = 0.0, 0, 0
        self._pump_cb = None
        self.run_config, self.run_seed, self.run_device = self.config, seed, self.device
        self._restart_timer: threading.Timer | None = None
        self._lock = threading.RLock()
        self._doc = pn.state.curdoc
        self._loop_thread = threading.get_ident()  # sessions are built on the loop
        self._init_theory()
        ensure_bokeh()
        self._build()
        self.config.param.watch(self._config_changed, list(user_parameters(cls)))
        served = self._served_doc() is not None  # (pn.state.served is true in app files)
        if served:
            self._serve_hooks()  # applies the URL: the theory below is of its config
        # a theory already in the process's table (another session of the class opened
        # this config) draws in the page's first build: the plots are built once, not
        # as placeholders first and again at the first tick (each pane swap re-walks
        # the whole page: ~2 s of server CPU per NC page load)
        self._request_theory(self.config, sync=not served or self.config.theory_ready())

    # -- layout -------------------------------------------------------------------------
    def _build(self) -> None:
        self.controls = RunControls(self)
        self.config_panel = ConfigPanel(
            self.config, on_refused=lambda msg: self._set_status(self.status, msg))
        self.files = FilesPanel(self)
        self.curves = [LiveCurves(c, self.config) for c in self.views.curves]
        self.panes = [LivePane(p) for p in self.views.panes]
        # plain text only (SafeAlert): notes carry error text and user values
        self.notes = SafeAlert("", alert_type="warning", visible=False,
                               sizing_mode="stretch_width")
        c = self.controls
        # clicks act on the session's event loop, in order: with --num-threads Panel
        # runs handlers on a pool thread, and page updates made there are applied
        # later, after (and over) the pump's newer ones
        c.start.on_click(lambda e: self._on_loop(self.start))
        c.stop.on_click(lambda e: self._on_loop(self.stop))
        c.pause.on_click(lambda e: self._on_loop(self.toggle_pause))
        c.step_button.on_click(lambda e: self._on_loop(self.step))
        c.reset.on_click(lambda e: self._on_loop(self.reset))
        c.new_seed.on_click(lambda e: self._on_loop(self.new_seed))
        c.step.object = f"step 0 / {self.config.total_steps()}"
        self._show_device_plan()
        intro = self.views.intro or f"# {self.experiment_cls.title or self.experiment_cls.key}"
        self.intro = pn.pane.Markdown(intro, sizing_mode="stretch_width")
        plots = [x.panel for x in self.curves]
        self.pane_tabs = None
        if len(self.panes) > 1:
            self.pane_tabs = pane_tabs(self.panes, lambda: self._on_loop(self._show_panes),
                                       self.views.open_pane)
        else:
            plots += [x.panel for x in self.panes]
        self.run_tab = pn.Column(self.intro, self.notes,
                                 pn.GridBox(*plots, ncols=2, sizing_mode="stretch_width"),
                                 *([self.pane_tabs] if self.pane_tabs else []),
                                 sizing_mode="stretch_width")
        self.sweep_view = SweepView(self.experiment_cls, self.runs_root, self._on_loop,
                                    self._holding)
        # a collapsed card under the run's plots, filled when first opened. Not pn.Tabs
        # (nor any container around the run's plots): with one, the NC panes' figures
        # never reported "finished", so the document never went idle, and Panel's
        # Location, which changes the browser's URL only when the document is idle,
        # stopped writing links (found in Chromium; tests/ui/test_url_browser.py)
        self._sweep_placeholder = pn.pane.Markdown("Loading the sweep view…")
        self.sweep_card = pn.Card(self._sweep_placeholder,
                                  title="Sweep: a grid of runs on Dask", collapsed=True,
                                  css_classes=["ov-sweep"], sizing_mode="stretch_width")
        self.sweep_card.param.watch(self._open_sweep_card, "collapsed")
        self.run_tab.append(self.sweep_card)
        self.main = self.run_tab
        runs, files = self.files.panels()
        self.presentation = PresentationSwitch(self)
        self.sidebar = pn.Column(
            c.panel(), self.presentation.panel,
            pn.Card(self.config_panel.panel, title="Configuration",
                    sizing_mode="stretch_width"),
            runs, files, sizing_mode="stretch_width")

    def _open_sweep_card(self, event) -> None:
        if not event.new and self.sweep_card.objects[0] is self._sweep_placeholder:
            self.sweep_card.objects = [self.sweep_view]

    def __panel__(self):
        return pn.Row(pn.Column(self.sidebar, width=340), self.main,
                      sizing_mode="stretch_width")

    def template(self, title: str | None = None):
        """The explorer in a FastListTemplate (for ``panel serve``; not for notebooks)."""
        title = title or f"orthoviz: {self.experiment_cls.title or self.experiment_cls.key}"
        # no busy indicator: Panel's spinner follows a process-wide busy flag, so on a
        # served page it spun for good (an idle page then cost its browser ~7% of a
        # core in compositor frames: 20 idle pages, 1.4 cores), and our status line
        # already says what the session is doing
        return pn.template.FastListTemplate(title=title, sidebar=[self.sidebar],
                                            main=[self.main], sidebar_width=360,
                                            busy_indicator=None, design=OfflineFast)

    def servable(self, title: str | None = None, **kwargs):
        # one model-graph walk for the whole page: unfrozen, Bokeh re-walks every model
        # at each root and plot added (a quarter of a page load's server CPU)
        doc = pn.state.curdoc
        with doc.models.freeze() if doc is not None else contextlib.nullcontext():
            page = self.template(title).servable(title=title, **kwargs)
        if doc is not None and freezing():
            # `orthoviz serve`: the page just built lives as long as its session; no
            # collection need walk it again (its own collection walks this page only)
            freeze_survivors()
        return page

    def _serve_hooks(self) -> None:
        ref = weakref.ref(self)

        def destroyed(ctx, ref=ref):
            RELEASER.session_ended()  # memory goes back to the system after a burst
            me = ref()
            if me is not None:
                me.teardown()

        pn.state.on_session_destroyed(destroyed)
        lazy_models(self._doc)  # a live update walks the page's models only if it adds any
        warm_up()
        errors = sync_url(self, pn.state.location)  # the preset, then each value
        if errors:
            self._set_status("idle", "URL value not applied: " + "; ".join(errors))
        self._start_pump()

    # -- state --------------------------------------------------------------------------
    @property
    def history(self) -> list[Record]:
        """Records of the run on show (live or opened), without arrays."""
        return list(self.runner.history) if self.runner is not None else self._records

    @property
    def arrays(self) -> dict:
        return self.runner.latest_arrays if self.runner is not None else self._arrays

    @property
    def final(self) -> Record | None:
        return self.runner.final if self.runner is not None else self._opened

    def _served_doc(self):
        """The session's Bokeh document when running under a server, else None."""
        doc = self._doc
        return doc if doc is not None and doc.session_context is not None else None

    def _on_loop(self, fn) -> None:
        """Run ``fn`` on the session's event loop: at once when already there (or
        outside a server), else as a next-tick callback with the session's document
        current (Bokeh's thread-safe entry point)."""
        doc = self._served_doc()
        if doc is None:
            fn()
            return

        def run(fn=fn, doc=doc):
            # this session's document current: Panel's hold and HoloViews act on it
            # (a periodic callback may run while another session's is current)
            with set_curdoc(doc):
                fn()

        if threading.get_ident() == self._loop_thread:
            run()
        else:
            doc.add_next_tick_callback(run)

    def _set_status(self, status: str, message: str = "") -> None:
        self._log(f"status {status}: {message}")
        self.param.update(status=status, message=message)
        self.controls.show_status(status, message)

    @param.depends("message", watch=True)
    def _show_message(self) -> None:
        self.controls.show_status(self.status, self.message)

    def figures(self):
        """The current figures as one static hv.Layout (for export)."""
        return figure_layout(self.views, self._state(self.runner))

    # -- control ------------------------------------------------------------------------
    def start(self) -> bool:
        """Start a run of the current config and seed; False (and a status message)
        when the config is refused. Never waits for an earlier run's thread."""
        with self._lock:
            if self.runner is not None and self.runner.alive and not self._final_drawn \
                    and self.runner.status not in ("stopping", "stopped"):
                return False
            self._doc = pn.state.curdoc or self._doc
            try:
                exp = self.experiment_cls.from_config(self.config.config())  # a snapshot
                exp.share_theory(self.config)
                served = self._served_doc() is not None
                device = exp.check(self.seed, self.device)  # before anything is written
                writer, unsaved = self._autosave_writer(exp, device)
                # served runs share the process's run limit (queued beyond it)
                runner = Runner(exp, seed=self.seed, device=self.device, flush_interval=0.1,
                                admission=ADMISSION if served else None, writer=writer)
                runner.write_error = unsaved
                if not served:
                    self._direct_callbacks(runner)
                runner.start()  # validates eagerly: ConfigError / ResourceError here
            except ConfigError as e:  # includes ResourceError: the message says what to change
                self._set_status("failed", str(e))
                return False
            except Exception as e:  # never a traceback in the page or a dead button
                self._set_status("failed", f"{type(e).__name__}: {e}")
                return False
            old, self.runner, self._opened = self.runner, runner, None
            if old is not None:
                old.stop()  # a superseded run ends on its own thread; nothing waits
            self._run_index += 1
            self._final_drawn, self._shown = False, None
            self.run_config, self.run_seed, self.run_device = exp, self.seed, runner.device
            with self._holding():
                self._clear_plots()
                self.controls.show_progress(0, runner.total, runner.device)
                self._set_status(runner.status, self._running_message(runner))
            return True

    def stop(self, wait: bool = False, timeout: float = 10.0) -> None:
        """Stop after the record in progress; ``wait`` joins the worker thread (never
        from the event loop)."""
        self._cancel_restart()
        runner = self.runner
        self._log("stop clicked")
        if runner is not None and runner.alive:
            runner.stop()
            if runner.status == "stopping":  # not a run that ended before the click
                self._set_status("stopping", f"stopping after step {runner.step}")
            if wait:
                runner.join(timeout)
                if self._served_doc() is None:
                    self._pump(runner)

    def toggle_pause(self) -> None:
        """Pause a running run after the record in progress, or resume a paused one."""
        runner = self.runner
        if runner is None or not runner.alive:
            return
        if runner.status == "paused":
            runner.resume()
            self._set_status("running", f"seed {runner.seed}")
        else:
            runner.pause()
            self._set_status("paused", f"paused at step {runner.step}")

    def pause(self) -> None:
        if self.runner is not None and self.runner.status == "running":
            self.toggle_pause()

    def resume(self) -> None:
        if self.runner is not None and self.runner.status == "paused":
            self.toggle_pause()

    def step(self) -> None:
        """One more record, then pause (starts a paused run if none is going)."""
        runner = self.runner
        if runner is None or not runner.alive:
            if not self.start():
                return
            runner = self.runner
            runner.pause()
            return
        if runner.status == "running":
            runner.pause()
        runner.step_once()

    def reset(self) -> None:
        """Clear the plots and, if a run was going, run again from step 0 with the same
        seed."""
        was_running = self.runner is not None and self.runner.alive
        self.stop()
        self.runner, self._records, self._arrays, self._opened = None, [], {}, None
        self.run_config = self.view_config
        with self._holding():
            self._clear_plots()
            self._send_panes(None, force=True)
            self.controls.show_progress(0, self.config.total_steps(), None)
            self._show_device_plan()
            self._set_status("idle", f"reset (seed {self.seed})")
        if was_running:
            self.start()

    def new_seed(self) -> int:
        """Pick a fresh seed (from the OS, not the global RNG), then reset."""
        with param.parameterized.discard_events(self):
            self.seed = secrets.randbelow(2**31 - 1)
        self.reset()
        return self.seed

    def teardown(self) -> None:
        """Stop everything this explorer started (the session ended, or its tab was
        closed: :meth:`_tab_closed`): a queued run
        leaves the queue at once, a computing one stops after its step in progress.
        The worker is joined, except on the event loop, which every session shares:
        there the thread ends on its own (its slot is given back on the way out)."""
        self._cancel_restart()
        self.sweep_view.teardown()
        if self._pump_cb is not None:
            self._pump_cb.stop()
            self._pump_cb = None
        if self.runner is not None:
            on_loop = threading.get_ident() == self._loop_thread and \
                self._served_doc() is not None
            self.runner.stop(wait=not on_loop, timeout=5.0)

    def set_config(self, **values) -> bool:
        """Set config values with validation; a bad value goes to the status line."""
        try:
            for k, v in values.items():
                set_checked(self.config, k, v)
        except ConfigError as e:
            self._set_status("failed", str(e))
            return False
        return True

    # -- restarts on edits ----------------------------------------------------------------
    @param.depends("preset", watch=True)
    def _apply_preset(self) -> None:
        defaults = {n: p.default for n, p in user_parameters(self.experiment_cls).items()}
        values = {**defaults, **self.experiment_cls.presets[self.preset]}
        self.config.param.update(**values)

    @param.depends("seed", "device", watch=True)
    def _run_identity_changed(self) -> None:
        self._config_changed()

    def _config_changed(self, *events) -> None:
        self.controls.step.object = f"step 0 / {self.config.total_steps()}"
        if self.runner is None or not self.runner.alive:
            self._show_device_plan()
        self._cancel_restart()
        running = self.runner is not None and self.runner.alive
        self._restart_timer = threading.Timer(RESTART_DELAY, self._on_loop,
                                              args=(self._after_edit,))
        self._restart_timer.daemon = True
        self._restart_timer.start()
        if running:
            self._set_status("running", "restarting with the new settings…")

    def _show_device_plan(self) -> None:
        """What the device choice resolves to for the config on show (before Start)."""
        try:
            size = self.config.problem_size()
        except Exception:  # a config being edited may not describe a problem yet
            size = 0
        self.controls.show_device_plan(describe_choice(self.device, size))

    def _cancel_restart(self) -> None:
        if self._restart_timer is not None:
            self._restart_timer.cancel()
            self._restart_timer = None

    def _after_edit(self) -> None:
        """The edits settled: new theory for the views; restart a run that was going."""
        self._restart_timer = None
        self._request_theory(self.config, sync=self._served_doc() is None)
        if self.runner is not None and self.runner.alive:
            self.runner.stop()
            self.start()

    def _show_notes(self, final: Record | None, history=()) -> None:
        notes = list(final.notes) if final is not None else []
        notes += [n for r in history if r.phase == "failed" for n in r.notes]
        self.notes.object = bullet_text(notes)  # escaped by SafeAlert
        self.notes.visible = bool(notes)

    def _clear_plots(self, reshape: bool = False) -> None:
        """Empty the curves for a new run. The plots themselves stay (new Bokeh models
        are costly): only a new config (``reshape``) rebuilds panes and log axes."""
        for c in self.curves:
            c.set_config(self.run_config, self.run_theory())
            c.clear(reset_axes=reshape)
        if reshape:
            for p in self.panes:
                p.clear()
        self._show_notes(None)
