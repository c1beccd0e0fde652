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
import json
import threading
import time
from pathlib import Path

import panel as pn
import param

from orthoviz.runtime.errors import ConfigError
from orthoviz.runtime.params import user_parameters
from orthoviz.runtime.rundir import inside
from orthoviz.runtime.sweep import parse_grid, read_table
from orthoviz.runtime.sweep_handle import start_sweep
from orthoviz.ui.text import SafeAlert
from orthoviz.viz import sweep as sv
from orthoviz.viz.common import ensure_bokeh, placeholder
from orthoviz.viz.curves import finite
from orthoviz.viz.spec import views_for

PUMP_MS = 500  # rows arrive per cell (seconds apart): two refreshes a second suffice
SWEEPS = "sweeps"  # <runs_root>/sweeps/<experiment>-<time>/ for sweeps started here
#: columns of the table that are not final scalars (never offered as the metric)
NOT_METRICS = {"cell", "seed", "status", "message", "run_dir", "wall_time_s"}


def _text(values) -> str:
    return ", ".join(str(v) for v in values)


class SweepView(pn.viewable.Viewer):
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
        self._theory, self._marks = None, {}
        self._cb = None
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
        self.heat = pn.pane.HoloViews(placeholder("start a sweep or open one", "Heatmap"),
                                      sizing_mode="stretch_width")
        self.lines = pn.pane.HoloViews(placeholder("", "Curves"), sizing_mode="stretch_width")
        self.start_button.on_click(lambda e: self._on_loop(self.start))
        self.cancel_button.on_click(lambda e: self._on_loop(self.cancel))
        self.open_button.on_click(lambda e: self._on_loop(self._open_clicked))
        self.refresh_button.on_click(lambda e: self.refresh_folders())
        self.metric.param.watch(lambda e: self._on_loop(self.draw), "value")
        self.refresh_folders()
        grid = pn.Column(self.preset, pn.Row(self.axis1, self.values1),
                         pn.Row(self.axis2, self.values2), pn.Row(self.seeds, self.workers),
                         pn.Row(self.start_button, self.cancel_button), self.progress,
                         self.count, self.metric, sizing_mode="stretch_width")
        opened = pn.Card(pn.Row(self.folders, self.refresh_button), self.path,
                         self.open_button, title="Open a sweep folder", collapsed=True,
                         sizing_mode="stretch_width")
        self.layout = pn.Column(
            pn.Row(pn.Column(grid, opened, width=420), pn.Column(self.alert, self.heat,
                                                                 sizing_mode="stretch_width"),
                   sizing_mode="stretch_width"),
            self.lines, sizing_mode="stretch_width")

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
            out = Path(self.runs_root) / SWEEPS / (
                f"{self.cls.key}-{time.strftime('%Y%m%d-%H%M%S')}")
            handle = start_sweep(self.cls, self.preset.value, grid, int(self.seeds.value),
                                 out, workers=int(self.workers.value))
        except ConfigError as e:
            self._say(str(e), "danger")
            return False
        except Exception as e:  # never a traceback in the page
            self._say(f"{type(e).__name__}: {e}", "danger")
            return False
        self.handle, self.grid, self.preset_used = handle, grid, self.preset.value
        self.rows = handle.rows()
        self.status = "running"
        self._theory, self._marks = None, {}
        self._start_theory()
        with self._holding():
            self._say(f"running {handle.total} cells into {handle.out} (the Dask cluster "
                      "takes a few seconds to start)", "info")
            self.start_button.disabled, self.cancel_button.disabled = True, False
            self._show_progress()
            self.draw()
        self._start_pump()
        return True

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
        has ended and everything is drawn."""
        h = self.handle
        if h is None:
            return True
        ended = h.done  # read before draining: the rows drained then include the last
        new = h.drain()
        if new or ended or self._theory_ready:
            self.rows = h.rows()
            self._theory_ready = False
            with self._holding():
                self._show_progress()
                self.draw()
                if ended:
                    self._finish(h)
        return ended

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
        doc = pn.state.curdoc
        if doc is None or doc.session_context is None:
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
        self.count.object = f"{done} / {total} cells"

    # -- theory ---------------------------------------------------------------------------
    _theory_ready = False
    _theory_done = threading.Event()

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
            self._theory, self._marks = got
            self._theory_ready = True
            done.set()

        threading.Thread(target=work, name="orthoviz-sweep-theory", daemon=True).start()

    def wait_theory(self, timeout: float = 30.0) -> bool:
        """(Tests, notebooks) wait until the theory thread has delivered, then draw."""
        ok = self._theory_done.wait(timeout)
        self._theory_ready = False
        self.draw()
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

    def draw(self) -> None:
        """Redraw the heatmap and curves from the rows so far."""
        metrics = self._metrics()
        if metrics and self.metric.value not in metrics:
            with param.parameterized.discard_events(self.metric):
                self.metric.options = metrics
                self.metric.value = metrics[0]
        elif metrics and metrics != list(self.metric.options):
            self.metric.options = metrics
        ax = self.axes()
        if not ax.metric:
            return
        df = sv.frame(self.rows, ax)
        theory = self._theory if self._theory is not None and ax.metric in self._theory \
            else None
        self.heat.object = sv.heatmap(df, ax, theory)
        self.lines.object = sv.curves(df, ax, theory, self._marks)

    # -- sweep folders ---------------------------------------------------------------------
    def refresh_folders(self) -> None:
        root = Path(self.runs_root)
        found = sorted({p.parent for pat in ("*/sweep.json", "*/*/sweep.json")
                        for p in root.glob(pat)}) if root.is_dir() else []
        mine = [p for p in found if self._experiment_of(p) == self.cls.key]
        self.folders.options = {str(p.relative_to(root)): str(p) for p in mine}

    @staticmethod
    def _experiment_of(folder: Path) -> str | None:
        try:
            return json.loads((folder / "sweep.json").read_text()).get("experiment")
        except (OSError, ValueError, AttributeError):
            return None

    def _open_clicked(self) -> None:
        target = self.path.value.strip() or self.folders.value
        if not target:
            self._say("choose a sweep folder or type its path", "warning")
            return
        self.open_sweep(target)

    def open_sweep(self, path: str | Path) -> bool:
        """Draw a finished or partial sweep folder. Only folders inside ``runs_root``
        open; a relative path is tried from the working folder, then ``runs_root``."""
        if self.handle is not None and not self.handle.done:
            self._say("a sweep is running: cancel it first", "warning")
            return False
        target = Path(path)
        if not target.is_absolute() and not target.exists():
            target = Path(self.runs_root) / target
        if not inside(target, self.runs_root):
            self._say(f"cannot open {path}: not inside the runs directory "
                      f"{self.runs_root}", "danger")
            return False
        try:
            meta = json.loads((target / "sweep.json").read_text())
            table = read_table(target)
        except (OSError, ValueError) as e:
            self._say(f"cannot open {path}: {e}", "danger")
            return False
        if meta.get("experiment") != self.cls.key:
            self._say(f"{path} is a sweep of {meta.get('experiment')}", "danger")
            return False
        self.handle, self.grid = None, {k: list(v) for k, v in meta.get("grid", {}).items()}
        self.preset_used = str(meta.get("preset", "default"))
        self.rows = table.to_dict("records")
        with self._holding():
            keys = list(self.grid)
            if keys:
                self.axis1.value = keys[0]
                self.values1.value = _text(self.grid[keys[0]])
            if len(keys) > 1:
                self.axis2.value = keys[1]
                self.values2.value = _text(self.grid[keys[1]])
            n = len(meta.get("cells", []))
            self.progress.max = max(n, 1)
            self.progress.value = min(len(self.rows), self.progress.max)
            self.count.object = f"{len(self.rows)} / {n} cells"
            self.status = "opened"
            self._say(f"opened {target}: {len(self.rows)} of {n} cells done", "success")
            self._theory, self._marks = None, {}
            self.draw()
        if keys:
            self._start_theory()
            self._start_pump_theory()
        return True

    def _start_pump_theory(self) -> None:
        """An opened sweep: one refresh when its theory has arrived (served)."""
        doc = pn.state.curdoc
        if doc is None or doc.session_context is None:
            return
        self._stop_pump()

        def tick():
            def on_loop():
                if self._theory_ready:
                    self._theory_ready = False
                    with self._holding():
                        self.draw()
                    self._stop_pump()
            self._on_loop(on_loop)

        self._cb = pn.state.add_periodic_callback(tick, period=PUMP_MS)
