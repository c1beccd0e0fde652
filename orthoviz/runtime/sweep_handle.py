"""A sweep running on a background thread, for a page (or a notebook) that must not block.

:func:`start_sweep` validates the grid on the caller's thread (a :class:`ConfigError`
names the bad key and its range before anything starts), then runs the same loop as
:func:`orthoviz.runtime.sweep.sweep` (:func:`~orthoviz.runtime.sweep.run_rows`) on a
thread of its own. The caller polls: :meth:`SweepHandle.drain` returns the rows that
finished since its last call, :attr:`~SweepHandle.progress` the (done, total) counts.
:meth:`SweepHandle.cancel` stops submitting, cancels the pending cells, writes the table
of those done and closes the client and its LocalCluster; a later sweep of the same grid
(from here or the CLI) runs only the rest.

Given an admission table (a sweep started from a served page), the sweep first waits
for one run slot per worker process (status ``queued``, :attr:`SweepHandle.queue_place`)
and gives them back when it ends: its cells share the server's run limit with the runs.

One LocalCluster per sweep, closed when the sweep ends: a sweep runs for minutes, so
the cluster's start-up (seconds) is paid once per sweep, and no idle worker processes
outlive it in a long-running server.
"""

from __future__ import annotations

import os
import threading

from orthoviz.runtime.sweep import Cancel, Plan, prepare, run_rows
from orthoviz.runtime.threads import cores

#: LocalCluster size of a sweep started from a page: small, the server has other work
DEFAULT_WORKERS = 1


class SweepHandle:
    """A sweep on a background thread. Thread-safe: every attribute may be read from any
    thread while the sweep runs."""

    def __init__(self, p: Plan, scheduler: str | None, workers: int | None,
                 admission=None):
        self.plan = p
        self.out = p.out
        # worker processes of a local cluster (as ``sweep._client`` sizes it)
        self.workers = max(1, workers or min(cores(), 4))
        self.total = len(p.cells)
        self._lock = threading.Lock()
        self._rows = [p.rows[c.id] for c in p.cells if c.id in p.rows]  # found done
        self._sent = 0
        self._cancel = Cancel()
        self.error = ""
        # a local cluster's worker processes take the server's run slots
        self._ticket = None if admission is None or scheduler else admission.request(
            "cpu", slots=self.workers)
        #: queued, running, finished, cancelled or failed
        self.status = "queued" if self.queue_place is not None else "running"
        self._thread = threading.Thread(target=self._work, args=(scheduler, workers),
                                        name="orthoviz-sweep", daemon=True)
        self._thread.start()

    def _work(self, scheduler, workers) -> None:
        try:
            if self._ticket is not None and not self._ticket.wait(self._cancel.is_set):
                self.status = "cancelled"  # cancelled while queued: nothing ran
                return
            self.status = "running"
            for row in run_rows(self.plan, scheduler, workers, self._cancel):
                with self._lock:
                    self._rows.append(row)
        except Exception as e:  # the page shows it in words; the table keeps the done
            self.error = f"{type(e).__name__}: {e}"
        finally:
            if self._ticket is not None:
                self._ticket.release()
        cut = self._cancel.is_set() and len(self._rows) < self.total
        self.status = "failed" if self.error else "cancelled" if cut else "finished"

    # -- reading ------------------------------------------------------------------------
    def rows(self) -> list[dict]:
        """Every row so far: the cells found done at the start, then in finishing order."""
        with self._lock:
            return list(self._rows)

    def drain(self) -> list[dict]:
        """The rows that arrived since the last call (all of them on the first)."""
        with self._lock:
            new, self._sent = self._rows[self._sent:], len(self._rows)
        return new

    @property
    def progress(self) -> tuple[int, int]:
        """(cells done, cells in the grid)."""
        with self._lock:
            return len(self._rows), self.total

    @property
    def queue_place(self) -> tuple[int, int] | None:
        """(k, m) while waiting for run slots: k-th of m queued runs and sweeps; None
        once running (or without an admission table)."""
        return self._ticket.place() if self._ticket is not None else None

    @property
    def done(self) -> bool:
        """The loop has ended (finished, cancelled or failed) and the table is written."""
        return not self._thread.is_alive()

    def table(self):
        """The rows done so far in grid order (a DataFrame)."""
        return self.plan.table()

    # -- control ------------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop: no new cells start; returns at once (see :meth:`join`)."""
        self._cancel.set()
        if self._ticket is not None and not self._ticket.admitted:
            self._ticket.cancel()  # leave the queue now: the places behind move up

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the loop to end; True when it has."""
        self._thread.join(timeout)
        return self.done


def start_sweep(experiment, preset: str = "default", grid: dict[str, list] | None = None,
                seeds: int | list[int] = 1, out: str | os.PathLike = "sweeps",
                workers: int | None = DEFAULT_WORKERS, scheduler: str | None = None,
                device: str = "cpu", admission=None) -> SweepHandle:
    """Validate the grid (raising :class:`ConfigError` at once), then run the sweep on a
    background thread; arguments as :func:`orthoviz.runtime.sweep.sweep`. ``admission``:
    the process's run limit (:mod:`orthoviz.runtime.capacity`), which the sweep's
    worker processes count against (a served page passes it)."""
    return SweepHandle(prepare(experiment, preset, grid, seeds, out, device), scheduler,
                       workers, admission)
