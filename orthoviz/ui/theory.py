"""The theory of the config on show, computed once per config and off the event loop
(mixed into :class:`~orthoviz.ui.Explorer`).

A theory can take seconds (random features on a data set's kernel: ~15 s), so under a
server it is computed on a short-lived thread and handed to the session's periodic
callback, which redraws the theory-only views. The run started from the same config
takes the cached result (``Experiment.share_theory``), so a run never computes it
twice and no draw ever computes it.
"""

from __future__ import annotations

import threading

from orthoviz.runtime import ConfigError, Runner


class TheoryMixin:
    """``view_theory`` for the config on show; ``run_theory()`` for the run on show."""

    def _init_theory(self) -> None:
        self.view_config, self.view_theory = self.config, None
        self._theory_version = 0
        self._theory_pending = None  # (snapshot, theory, error) waiting for the loop
        self._theory_lock = threading.Lock()
        self._run_theory_shown = None  # the run whose theory the curves draw

    def _request_theory(self, config, sync: bool) -> None:
        """Compute ``config``'s theory on a snapshot; apply it now (``sync``) or on the
        next tick of the session's pump."""
        try:
            snapshot = self.experiment_cls.from_config(config.config())
        except ConfigError as e:  # e.g. a NaN from a URL: say so, keep the last views
            self._set_status("failed", str(e))
            return
        snapshot.share_theory(self.config)

        def work():
            try:
                theory, error = snapshot.theory(), None
            except Exception as e:  # a config the theory cannot evaluate: say so
                theory, error = {}, f"the theory cannot be evaluated: {type(e).__name__}: {e}"
            with self._theory_lock:
                self._theory_pending = (snapshot, theory, error)

        if sync:
            work()
            self._apply_theory()
        else:
            threading.Thread(target=work, name="orthoviz-theory", daemon=True).start()

    def _apply_theory(self) -> None:
        """Event loop (or caller): show a finished theory computation, if any."""
        with self._theory_lock:
            pending, self._theory_pending = self._theory_pending, None
        if pending is None:
            self._apply_run_theory()
            return
        snapshot, theory, error = pending
        if snapshot.config() != self.config.config():
            return  # the config moved on; a newer request is under way
        unchanged = self.view_theory is not None and same_theory(theory, self.view_theory)
        if unchanged:  # e.g. more steps: keep the old object, so no view is rebuilt
            theory = self.view_theory
            snapshot.__dict__["_theory_cache"] = (snapshot.__dict__["_theory_cache"][0],
                                                  theory)
        self.config.share_theory(snapshot)
        self.view_config, self.view_theory = snapshot, theory
        self._theory_version += 1
        if error:
            self._set_status("failed", error)
        runner = self.runner
        if runner is not None and runner.alive:
            return  # the run on show keeps its own theory; a restart follows the edit
        if unchanged and runner is None:
            self.run_config = snapshot
            for c in self.curves:
                c.set_config(snapshot, theory)
            return
        # no run going: the views show the new config's theory (an ended run's curves
        # belonged to the old config)
        self.runner, self._records, self._arrays, self._opened = None, [], {}, None
        self.run_config = snapshot
        for c in self.curves:
            c.set_config(snapshot, theory)
            c.clear(reset_axes=True)
        self._send_panes(None, force=True)  # a pane re-attaches only if its shape changed

    def _apply_run_theory(self) -> None:
        """Once the run's own theory is known, its curves draw it."""
        runner: Runner | None = self.runner
        if runner is None or runner.theory is None or self._run_theory_shown is runner:
            return
        self._run_theory_shown = runner
        for c in self.curves:
            c.set_config(self.run_config, runner.theory)

    def run_theory(self) -> dict:
        """The theory of the run on show if known yet, else {} (it comes later)."""
        runner = self.runner
        if runner is not None and runner.theory is not None:
            return runner.theory
        if self.run_config.theory_ready():
            return self.run_config.theory()
        return {}


def same_theory(a, b) -> bool:
    """Whether two theory values are equal (scalars, arrays, nested dicts)."""
    import numpy as np

    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_theory(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.dtype.kind not in "fc":  # objects, strings, ints, bools: no NaN to mind
            return bool(np.array_equal(a, b))
        return bool(np.array_equal(a, b, equal_nan=True))
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    return type(a) is type(b) and a == b
