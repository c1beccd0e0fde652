"""Run an experiment on a worker thread: cooperative cancel, progress, history.

The runner is UI-free. The Panel explorer passes ``on_flush`` (called on the worker
thread with the records gathered since the last flush, at most every
``flush_interval`` seconds) and ``on_done``; the CLI iterates the stream directly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from orthoviz.runtime.errors import NonFiniteError
from orthoviz.runtime.record import Record

IDLE, RUNNING, STOPPING, STOPPED, FINISHED, FAILED = (
    "idle", "running", "stopping", "stopped", "finished", "failed",
)


class Runner:
    """One run of one experiment on one daemon thread.

    Parameters
    ----------
    experiment : Experiment
        The configured experiment (not copied: do not change it while running).
    seed, device : int, str
        Passed to ``experiment.run``. Validation happens in :meth:`start`, on the
        caller's thread, so a bad config raises there and no thread is started.
    on_flush : callable(list[Record]), optional
        Receives batches of records on the worker thread.
    on_done : callable(Runner), optional
        Called once on the worker thread when the run ends for any reason.
    flush_interval : float
        Seconds between flushes (0.1 s = at most 10 updates a second).
    writer : RunWriter, optional
        Receives every batch and the ending (the CLI and "Save run" use it).
    """

    def __init__(
        self,
        experiment,
        seed: int = 0,
        device: str = "auto",
        on_flush: Callable[[list[Record]], Any] | None = None,
        on_done: Callable[[Runner], Any] | None = None,
        flush_interval: float = 0.1,
        writer=None,
    ):
        self.experiment, self.seed, self.device_request = experiment, seed, device
        self.on_flush, self.on_done, self.writer = on_flush, on_done, writer
        self.flush_interval = flush_interval
        self.status, self.message = IDLE, ""
        self.history: list[Record] = []  # records without their arrays
        self.latest_arrays: dict = {}
        self.final: Record | None = None
        self.step, self.total = 0, max(1, int(experiment.total_steps()))
        self.wall_time = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- control ------------------------------------------------------------------
    def start(self) -> Runner:
        """Validate, then start the worker thread. Raises ConfigError synchronously."""
        if self._thread is not None:
            raise RuntimeError("a Runner runs once; make a new one")
        stream = self.experiment.run(seed=self.seed, device=self.device_request)
        self.status = RUNNING
        self._thread = threading.Thread(
            target=self._work, args=(stream,), name=f"orthoviz-{self.experiment.key}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, wait: bool = False, timeout: float | None = 10.0) -> None:
        """Ask the run to stop at the next record boundary."""
        self._stop.set()
        if self.status == RUNNING:
            self.status = STOPPING
        if wait:
            self.join(timeout)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; True when it has ended."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def progress(self) -> float:
        return min(1.0, self.step / self.total)

    @property
    def device(self) -> str:
        from orthoviz.runtime.device import resolve_device

        return resolve_device(self.device_request)

    # -- worker -------------------------------------------------------------------
    def _work(self, stream) -> None:
        t0 = time.perf_counter()
        batch: list[Record] = []
        last = t0
        try:
            for rec in stream:
                self.step = rec.step
                batch.append(rec)
                self.history.append(Record(rec.step, rec.phase, dict(rec.scalars), None, rec.notes))
                if rec.arrays:
                    self.latest_arrays = dict(rec.arrays)
                if rec.is_final:
                    self.final = rec
                now = time.perf_counter()
                if now - last >= self.flush_interval or rec.is_final:
                    self._flush(batch)
                    batch, last = [], now
                if self._stop.is_set():
                    break
            self._flush(batch)
            if self.final is not None:
                self.status, self.message = FINISHED, "finished"
            else:
                self.status, self.message = STOPPED, f"stopped at step {self.step}"
            stream.close()
        except NonFiniteError as e:
            self._flush(batch)
            self.status, self.message = FAILED, str(e)
        except Exception as e:  # report, never kill the server
            self._flush(batch)
            self.status, self.message = FAILED, f"{type(e).__name__}: {e}"
        finally:
            self.wall_time = time.perf_counter() - t0
            if self.writer is not None:
                self.writer.close(self.status, self.message, self.final,
                                  self.experiment.theory(), self.wall_time)
            if self.on_done is not None:
                try:
                    self.on_done(self)
                except Exception:
                    pass

    def _flush(self, batch: list[Record]) -> None:
        if not batch:
            return
        if self.writer is not None:
            self.writer.append(batch)
        if self.on_flush is not None:
            self.on_flush(batch)
