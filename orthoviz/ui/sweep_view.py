"""The explorer's "Sweep" tab: pick two grid axes and seeds, run the grid on Dask in the
background, and watch the heatmap and the curves fill in as cells finish; cancel from
the page; reopen a sweep folder (from the CLI or an earlier session) inside the runs
directory.

Data path, as for runs (:mod:`orthoviz.ui.stream`): the sweep runs on a background
thread (:func:`orthoviz.runtime.sweep_handle.start_sweep`); a periodic callback of the
session pulls the new rows (``drain``) on the session's event loop and redraws inside
``pn.io.hold``. The theory of the grid's configs is computed once per sweep on a thread
of its own. Figures: :mod:`orthoviz.viz.sweep`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import panel as pn
import param

from orthoviz.runtime.capacity import ADMISSION
from orthoviz.runtime.errors import ConfigError
from orthoviz.runtime.params import user_parameters
from orthoviz.runtime.sweep import parse_grid
from orthoviz.runtime.sweep_handle import start_sweep
from orthoviz.ui.plots import LivePane
from orthoviz.ui.sweep_folders import SweepFolders
from orthoviz.ui.text import SafeAlert, queue_place_text
from orthoviz.viz import sweep as sv
from orthoviz.viz.common import ensure_bokeh, placeholder
from orthoviz.viz.curves import finite
from orthoviz.viz.spec import Pane, ViewState, views_for

PUMP_MS = 500  # rows arrive per cell (seconds apart): two polls a second suffice
MAX_HZ = 1.0  # redraws a second at most (a 5 x 5 grid's figures cost ~0.3 s to build)
SWEEPS = "sweeps"  # <runs_root>/sweeps/<experiment>-<time>/ for sweeps started here
#: cells (values 1 x values 2 x seeds) a page may start: validating and planning a grid
#: runs on the session's event loop, and a class's server is shared (larger sweeps: the
#: CLI's ``orthoviz sweep``)
MAX_PAGE_CELLS = 1000
#: columns of the table that are not final scalars (never offered as the metric)
NOT_METRICS = {"cell", "seed", "status", "message", "run_dir", "wall_time_s"}


class SweepView(SweepFolders, pn.viewable.Viewer):
    """A sweep of one experiment: controls, progress, heatmap and curves.

    ``on_loop(fn)`` runs ``fn`` on the session's event loop and ``holding()`` batches
    the page changes (the explorer passes its own); ``start``, ``cancel``,
    ``open_sweep`` and ``refresh`` drive it without a browser.
    """

    status = param.String(default="idle", doc="idle, running, cancelling, finished, "
                          "cancelled, failed or opened")

    def __init__(self, experiment_cls, runs_root: str = "runs", on_loop=None,
                 holding=None, **params):
        super().__init__(**params)
        self.cls, self.runs_root = experiment_cls, runs_root
        self.spec = views_for(experiment_cls).sweep
        self._on_loop = on_loop or (lambda fn: fn())
        self._holding = holding or contextlib.nullcontext
        self.handle = None
        self.rows: list[dict] = []
        self.grid: dict[str, list] = {}
        self.preset_used = ""
        self._theory, self._marks, self._keys = None, {}, []
        self._theory_done = threading.Event()
        self._theory_done.set()  # no theory pending
        self._last_draw, self._draw_cost = 0.0, 0.0
        self._cb = None
        self._place = None  # the running sweep's queue place last shown
        ensure_bokeh()
        self._build()

    # -- layout -------------------------------------------------------------------------
    def _defaults(self) -> tuple[list[str], list[str], str, str]:
        names = list(user_parameters(self.cls))
        if self.spec is not None:
            return list(self.spec.axes), list(self.spec.values), self.spec.metric, \
                self.spec.preset
        base = self.cls.from_preset("default")
        numeric = [n for n in names if isinstance(self.cls.param[n], param.Number)]
        axes = (numeric + names)[:2]
        return axes, [str(getattr(base, a)) for a in axes], "", "default"

    def _build(self) -> None:
        names = list(user_parameters(self.cls))
        axes, values, metric, preset = self._defaults()
        w = pn.widgets
        half = {"width": 190}
        self.preset = w.Select(name="Preset", options=list(self.cls.presets),
                               value=preset if preset in self.cls.presets else "default",
                               **half)
        self.axis1 = w.Select(name="Axis 1 (x)", options=names, value=axes[0], **half)
        self.values1 = w.TextInput(name="Values 1 (comma-separated)", value=values[0],
                                   **half)
        self.axis2 = w.Select(name="Axis 2 (lines, y)", options=names, value=axes[1],
                              **half)
        self.values2 = w.TextInput(name="Values 2 (comma-separated)", value=values[1],
                                   **half)
        self.seeds = w.IntInput(name="Seeds", value=1, start=1, end=100, **half)
        self.workers = w.IntInput(name="Workers", value=1, start=1, end=2, **half,
                                  description="Dask worker processes on this server")
        self.metric = w.Select(name="Metric", options=[metric] if metric else [],
                               value=metric or None, width=390)
        self.start_button = w.Button(name="Start sweep", button_type="primary")
        self.cancel_button = w.Button(name="Cancel", button_type="warning", disabled=True)
        self.progress = w.Progress(name="cells", value=0, max=1, width=390)
        self.count = pn.pane.Str("0 / 0 cells")
        self.alert = SafeAlert("", alert_type="secondary", visible=False)
        self.folders = w.Select(name="Sweep folders in the runs directory", options={})
        self.refresh_button = w.Button(name="↻", width=45, align="end")
        self.path = w.TextInput(name="…or a sweep folder path",
                                placeholder=f"{self.runs_root}/{SWEEPS}/<name>")
        self.open_button = w.Button(name="Open sweep")
        # live panes (a Pipe per pane: later rows update the Bokeh data in place)
        self.heat_live = LivePane(Pane("Heatmap", self._heat_of), max_hz=MAX_HZ)
        self.lines_live = LivePane(Pane("Curves", self._lines_of), max_hz=MAX_HZ)
        self.heat, self.lines = self.heat_live.pane, self.lines_live.pane
        self._reset_plots("start a sweep or open one")
        self.start_button.on_click(lambda e: self._on_loop(self.start))
        self.cancel_button.on_click(lambda e: self._on_loop(self.cancel))
        self.open_button.on_click(lambda e: self._on_loop(self._open_clicked))
        self.refresh_button.on_click(lambda e: self.refresh_folders())
        self.metric.param.watch(lambda e: self._on_loop(self._redraw), "value")
        self.refresh_folders()
        grid = pn.Column(self.preset, pn.Row(self.axis1, self.values1),
                         pn.Row(self.axis2, self.values2), pn.Row(self.seeds, self.workers),
                         pn.Row(self.start_button, self.cancel_button), self.progress,
                         self.count, self.metric, sizing_mode="stretch_width")
        opened = pn.Card(pn.Row(self.folders, self.refresh_button), self.path,
                         self.open_button, title="Open a sweep folder", collapsed=True,
                         sizing_mode="stretch_width")
        self.layout = pn.Column(
            pn.Row(pn.Column(grid, opened, width=420),
                   pn.Column(self.alert, self.heat_live.panel, sizing_mode="stretch_width"),
                   sizing_mode="stretch_width"),
            self.lines_live.panel, sizing_mode="stretch_width")

    def __panel__(self):
        return self.layout

    def _say(self, text: str, kind: str = "secondary") -> None:
        self.alert.param.update(object=text, alert_type=kind, visible=bool(text))

    # -- control ------------------------------------------------------------------------
    def start(self) -> bool:
        """Validate the grid and start the sweep; False (and the error shown) when a
        value is refused, before anything runs."""
        if self.handle is not None and not self.handle.done:
            self._say("a sweep is running: cancel it first", "warning")
            return False
        try:
            if self.axis1.value == self.axis2.value:
                raise ConfigError("axes", self.axis2.value, "two different parameters")
            grid = parse_grid([f"{self.axis1.value}={self.values1.value}",
                               f"{self.axis2.value}={self.values2.value}"])
            cells = len(grid[self.axis1.value]) * len(grid[self.axis2.value]) * int(
                self.seeds.value)
            if cells > MAX_PAGE_CELLS:
                raise ConfigError("cells", cells, f"at most {MAX_PAGE_CELLS} from a page",
                                  "fewer values or seeds; or the command line's "
                                  "`orthoviz sweep`")
            out = Path(self.runs_root) / SWEEPS / (
                f"{self.cls.key}-{time.strftime('%Y%m%d-%H%M%S')}")
            # served: the sweep's worker processes count against the server's run limit
            # (it waits for that many slots, never more than the limit)
            served = _served()
            workers = int(self.workers.value)
            if served:
                workers = min(workers, ADMISSION.limits()[0])
            handle = start_sweep(self.cls, self.preset.value, grid, int(self.seeds.value),
                                 out, workers=workers,
                                 admission=ADMISSION if served else None)
        except ConfigError as e:
            self._say(str(e), "danger")
            return False
        except Exception as e:  # never a traceback in the page
            self._say(f"{type(e).__name__}: {e}", "danger")
            return False
        self.handle, self.grid, self.preset_used = handle, grid, self.preset.value
        self._place = handle.queue_place
        self.rows = handle.rows()
        self.status = "running"
        self._theory, self._marks = None, {}
        self._keys = self._line_keys()
        self._start_theory()
        with self._holding():
            self._say_started(handle)
            self.start_button.disabled, self.cancel_button.disabled = True, False
            self._show_progress()
            self._reset_plots("the heatmap fills in as cells finish")
        self._start_pump()
        return True

    def _say_started(self, h) -> None:
        self._say(f"{'queued' if h.status == 'queued' else 'running'} {h.total} cells "
                  f"into {h.out} (the Dask cluster takes a few seconds to start)", "info")

    def cancel(self) -> None:
        """Cancel the running sweep: no new cells; the finished ones stay in the table."""
        if self.handle is not None and not self.handle.done:
            self.handle.cancel()
            self.status = "cancelling"
            self._say("cancelling: finished cells stay in the table", "warning")

    def teardown(self) -> None:
        """The session ended: cancel a running sweep and stop polling."""
        if self.handle is not None:
            self.handle.cancel()
        self._stop_pump()

    def refresh(self) -> bool:
        """Take the rows finished since the last call and redraw; True when the sweep
        (or the opened folder) is drawn in full, its theory included."""
        h = self.handle
        ended = h is None or h.done  # read before draining: that drain has the last rows
        new = h.drain() if h is not None else []
        place = h.queue_place if h is not None else None
        with self._holding():
            if new or (h is not None and ended) or place != self._place:
                if self._place is not None and place is None and not ended:
                    self._say_started(h)  # its slots came: it starts now
                self._place = place  # a queued sweep's place moves up, then it starts
                self.rows = h.rows()
                self._show_progress()
            if self._theory_ready:  # new lines and a second heatmap: new plots
                self._theory_ready = False
                self._redraw()
            elif ended or time.monotonic() - self._last_draw >= 2.0 * self._draw_cost:
                # adaptive pacing, as the run pump: the loop stays two-thirds free for
                # clicks (Cancel) and other sessions; the last rows are always drawn
                t0 = time.monotonic()
                self.draw(force=ended)
                self._last_draw = time.monotonic()
                self._draw_cost = self._last_draw - t0
            if h is not None and ended and self.status in ("running", "cancelling"):
                self._finish(h)
        return ended and self._theory_done.is_set()

    def _finish(self, h) -> None:
        self.status = h.status
        self.start_button.disabled, self.cancel_button.disabled = False, True
        done, total = h.progress
        if h.status == "failed":
            self._say(f"sweep failed: {h.error} ({done} of {total} cells done)", "danger")
        else:
            self._say(f"{h.status}: {done} of {total} cells in {h.out}", "success"
                      if h.status == "finished" else "warning")
        self.refresh_folders()

    # -- polling --------------------------------------------------------------------------
    def _start_pump(self) -> None:
        if not _served():
            return  # not served: the caller polls refresh()
        self._stop_pump()

        def tick():
            self._on_loop(lambda: self.refresh() and self._stop_pump())

        self._cb = pn.state.add_periodic_callback(tick, period=PUMP_MS)

    def _stop_pump(self) -> None:
        if self._cb is not None:
            self._cb.stop()
            self._cb = None

    def _show_progress(self) -> None:
        done, total = (self.handle.progress if self.handle is not None
                       else (len(self.rows), len(self.rows)))
        self.progress.max = max(total, 1)  # max first: value is checked against it
        self.progress.value = done
        place = self.handle.queue_place if self.handle is not None else None
        if place is not None:
            n = ADMISSION.limits()[0]
            take = f"; this sweep's workers take {min(self.handle.workers, n)}"
            self.count.object = f"queued: {queue_place_text(place, n, take)}"
        else:
            self.count.object = f"{done} / {total} cells"

    # -- theory ---------------------------------------------------------------------------
    _theory_ready = False

    def _start_theory(self) -> None:
        """The theory of every cell config, computed on a thread (it runs the
        experiment's theory); the next refresh draws it."""
        grid, preset, ax = dict(self.grid), self.preset_used or self.preset.value, self.axes()
        done = self._theory_done = threading.Event()

        def work():
            try:
                got = sv.theory_table(self.cls, preset, grid, self.spec, ax)
            except Exception:  # no theory for this grid: the data still draws
                got = (None, {})
            if done is self._theory_done:  # not superseded by a newer sweep
                self._theory, self._marks = got
                self._theory_ready = True
            done.set()

        threading.Thread(target=work, name="orthoviz-sweep-theory", daemon=True).start()

    def wait_theory(self, timeout: float = 30.0) -> bool:
        """(Tests, notebooks) wait until the theory thread has delivered, then draw."""
        ok = self._theory_done.wait(timeout)
        self._theory_ready = False
        self._redraw()
        return ok

    # -- drawing --------------------------------------------------------------------------
    def axes(self) -> sv.Axes:
        keys = list(self.grid) or [self.axis1.value, self.axis2.value]
        a1, a2 = keys[0], (keys[1] if len(keys) > 1 else None)
        return sv.Axes.from_spec(self.spec, a1, a2, self.metric.value or "")

    def _metrics(self) -> list[str]:
        seen: dict[str, None] = {}
        for r in self.rows:
            for k, v in r.items():
                if k not in NOT_METRICS and k not in self.grid and not k.startswith(
                        "coord_") and finite(v):
                    seen[k] = None
        return list(seen)

    def frame(self):
        return sv.frame(self.rows, self.axes())

    def _line_keys(self) -> list:
        """The second axis's values as the table holds them (parsed by the experiment),
        so every line has its glyphs from the first frame on."""
        ax = self.axes()
        if not ax.a2 or ax.a2 not in self.grid:
            return []
        try:
            base = self.cls.from_preset(self.preset_used or "default")
            return list(dict.fromkeys(sv.scalar(getattr(base.set(**{ax.a2: v}), ax.a2))
                                      for v in self.grid[ax.a2]))
        except (ConfigError, KeyError, TypeError, ValueError):
            return []

    def _state(self) -> ViewState:
        ax = self.axes()
        theory = self._theory if self._theory is not None and ax.metric in self._theory \
            else None
        return ViewState(ax, {"table": theory, "marks": self._marks, "keys": self._keys},
                         {}, self.rows)

    @staticmethod
    def _heat_of(state: ViewState):
        return sv.heatmap(sv.frame(state.rows, state.config), state.config,
                          state.theory["table"])

    @staticmethod
    def _lines_of(state: ViewState):
        t = state.theory
        return sv.curves(sv.frame(state.rows, state.config), state.config, t["table"],
                         t["marks"], t["keys"])

    def figures(self):
        """(heatmap, curves) of the rows so far, as static HoloViews objects."""
        state = self._state()
        return self._heat_of(state), self._lines_of(state)

    def _sync_metrics(self) -> None:
        metrics = self._metrics()
        if metrics and self.metric.value not in metrics:
            with param.parameterized.discard_events(self.metric):
                self.metric.options = metrics
                self.metric.value = metrics[0]
        elif metrics and metrics != list(self.metric.options):
            self.metric.options = metrics

    def draw(self, force: bool = False) -> None:
        """Send the rows so far to the live panes (at most MAX_HZ unless ``force``)."""
        self._sync_metrics()
        if not self.axes().metric or not self.rows:
            return
        state = self._state()
        sig = (len(self.rows), state.config.metric, self._plots_version)
        self.heat_live.send(state, sig, force=force)
        self.lines_live.send(state, sig, force=force)

    def _reset_plots(self, text: str) -> None:
        """New plots for a new sweep, metric or theory (new lines, a second heatmap)."""
        self._plots_version = getattr(self, "_plots_version", 0) + 1
        for live, title in ((self.heat_live, "Heatmap"), (self.lines_live, "Curves")):
            live.clear()
            live.pane.object = placeholder(text, title)

    def _redraw(self) -> None:
        self._reset_plots("drawing…")
        self.draw(force=True)


def _served() -> bool:
    """Whether this runs in a served session (its sweeps share the run limit)."""
    doc = pn.state.curdoc
    return doc is not None and doc.session_context is not None
