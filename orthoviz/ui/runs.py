"""The "Save run" / "Open run" of the explorer: run folders written and reopened without
retraining (``orthoviz.runtime.store``)."""

from __future__ import annotations

import os
from pathlib import Path

from orthoviz.runtime.params import user_parameters
from orthoviz.runtime.record import Record
from orthoviz.runtime.store import RunWriter, load_run

#: ``1`` makes explorers write every run as it goes (``orthoviz serve --autosave``)
AUTOSAVE_ENV = "ORTHOVIZ_AUTOSAVE"


def autosave_default() -> bool:
    return os.environ.get(AUTOSAVE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


class RunFilesMixin:
    """Methods of :class:`~orthoviz.ui.Explorer` that read and write run folders."""

    def save_run(self, root: str | Path | None = None) -> Path | None:
        """Write the run on show to ``root/<experiment>/<time>-<id>/``; returns the path."""
        records = list(self.history)
        if not records:
            self._set_status(self.status, "nothing to save yet: start a run first")
            return None
        if self.arrays:
            last = records[-1]
            records[-1] = Record(last.step, last.phase, last.scalars, self.arrays, last.notes,
                                 last.coords)
        runner = self.runner
        try:
            writer = RunWriter(self.run_config, self.run_seed, self.run_device,
                               root or self.runs_root)
            writer.append(records)
            final = self.final
            status = runner.status if runner is not None else "finished"
            writer.close(status, runner.message if runner is not None else "", final,
                         self.run_theory(), runner.wall_time if runner else None,
                         runner.artifacts if runner is not None else None)
        except OSError as e:  # read-only folder, full disk: the run on show goes on
            self._set_status(self.status, f"not saved: cannot write in "
                             f"{root or self.runs_root}: {e.strerror or e}")
            return None
        self._set_status(self.status, f"saved to {writer.path}")
        return writer.path

    def _autosave_writer(self, exp, device: str):
        """(a RunWriter for the run about to start, or None; why not, in words)."""
        if not self.autosave:
            return None, None
        try:
            return RunWriter(exp, self.seed, device, self.runs_root), None
        except OSError as e:
            return None, (f"run folder not written: cannot write in {self.runs_root}: "
                          f"{e.strerror or e}")

    def open_run(self, path: str | Path) -> bool:
        """Show a saved run (curves, panes, notes) without retraining.

        Only folders inside ``runs_root`` open (no ``..``, no symlink out of it); a
        relative path is tried from the working folder, then from ``runs_root``.
        Damage the readers work around is listed in the status line.
        """
        target = Path(path)
        if not target.is_absolute() and not target.exists():
            target = Path(self.runs_root) / target
        try:
            saved = load_run(target, root=self.runs_root)
        except (OSError, ValueError, KeyError) as e:
            self._set_status(self.status, f"cannot open {path}: {e}")
            return False
        if saved.experiment.key != self.experiment_cls.key:
            self._set_status(self.status, f"{path} is a {saved.experiment.key} run")
            return False
        self.stop()
        with self._holding():  # one message to the page, one walk of its models
            self._show_opened(saved)
        return True

    def _show_opened(self, saved) -> None:
        self.runner = None
        self._records = [r.light() for r in saved.records]
        self._arrays, self._opened = dict(saved.arrays), saved.final
        self._opened_version += 1
        self.seed = saved.seed
        values = saved.experiment.param.values()
        self.config.param.update(**{k: values[k] for k in user_parameters(self.config)})
        # the edits above are this run's config, whose theory is set below: no restart
        # and no second theory computation after the edit delay
        self._cancel_restart()
        self.run_config, self.run_seed, self.run_device = saved.experiment, saved.seed, \
            saved.device
        saved.experiment.share_theory(self.view_config)  # the config on show: no recompute
        theory = saved.experiment.theory()
        self.config.share_theory(saved.experiment)
        self.view_config, self.view_theory = saved.experiment, theory
        self._theory_version += 1
        for c in self.curves:
            c.set_config(saved.experiment, theory)
            c.clear(reset_axes=True)  # the opened run's own range decides a log axis
        rows = [r.row() for r in self._records]
        for c in self.curves:
            c.send(rows)
        # the open tab's pane now (the others when their tab opens); one re-attaches
        # (new plot models) only if its shape changed
        self._send_panes(None, force=True)
        self._show_notes(saved.final, self._records)
        step = self._records[-1].step if self._records else 0
        self.controls.show_progress(step, saved.experiment.total_steps(), saved.device)
        damage = "".join(f"; {n}" for n in saved.notes)
        self._set_status(saved.status, f"opened {saved.path}{damage}")
