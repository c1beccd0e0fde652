"""Run an experiment on a worker thread: stop, pause, step, progress, bounded history.

The runner is UI-free. A consumer either passes ``on_flush`` (called on the worker
thread with the records gathered since the last flush, at most every
``flush_interval`` seconds) and ``on_done``, or polls :meth:`drain`, which hands over
everything queued since the last call together with a version counter. The Panel
explorer polls from its session's periodic callback, so the last state always reaches
the page; the CLI iterates the stream directly.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from orthoviz.runtime.errors import NonFiniteError, RunOutOfMemory
from orthoviz.runtime.history import History
from orthoviz.runtime.loopwatch import WATCH
from orthoviz.runtime.record import Record

IDLE, QUEUED, RUNNING, PAUSED, STOPPING, STOPPED, FINISHED, FAILED = (
    "idle", "queued", "running", "paused", "stopping", "stopped", "finished", "failed",
)
ENDED = (STOPPED, FINISHED, FAILED)

#: the runs of this process whose thread was started (a run's thread holds it while
#: it works; an ended run drops out when nothing else holds it)
_STARTED: weakref.WeakSet = weakref.WeakSet()


def stop_all(timeout: float) -> list[Runner]:
    """Stop every run of the process and wait up to ``timeout`` seconds in all for
    them to end (each after its record in progress, its folder closed as "stopped");
    returns those still going. A server that stops calls it: its runs are daemon
    threads, and a process that exits under one inside torch aborts ("terminate
    called without an active exception") and leaves its folder unclosed."""
    live = [r for r in list(_STARTED) if r.alive]
    for r in live:
        r.stop(why="the server stopped")
    deadline = time.monotonic() + timeout
    for r in live:
        r.join(max(0.0, deadline - time.monotonic()))
    return [r for r in live if r.alive]


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
        Seconds between flushes to ``on_flush`` and ``writer``.
    writer : RunWriter, optional
        Receives every batch and the ending (the CLI and the explorer's autosave use
        it). A write that fails (a full disk, a folder made read-only) does not end the
        run: the writer is dropped and :attr:`write_error` says why, in one line.
    history_limit : int
        Records kept in memory (older step-curve records are thinned past it; the run
        folder of a writer keeps every row).
    admission : capacity.Admission, optional
        The process's run limit (the explorer passes ``capacity.ADMISSION``): the
        worker thread waits for a slot (status ``queued``, :attr:`queue_place`) before
        it computes, and gives the slot back on every way out. None: no limit (the
        CLI runs one run per process).
    watch : loopwatch.LoopWatch, optional
        Between records the worker naps while this watch's event loop lags (default
        the process's :data:`~orthoviz.runtime.loopwatch.WATCH`, which only a served
        process beats); :attr:`waited_s` totals the naps.
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
        history_limit: int = 20_000,
        admission=None,
        watch=None,
    ):
        self.experiment, self.seed, self.device_request = experiment, seed, device
        self.on_flush, self.on_done, self.writer = on_flush, on_done, writer
        self.flush_interval = flush_interval
        self.status, self.message = IDLE, ""
        self.history = History(history_limit)  # records without arrays
        self.latest_arrays: dict = {}
        self.arrays_version = 0  # bumped whenever an array arrives (change detection)
        self.artifacts: dict = {}
        self.theory: dict | None = None
        self.final: Record | None = None
        self.step, self.total = 0, max(1, int(experiment.total_steps()))
        self.wall_time = 0.0
        self.write_error: str | None = None  # why the run folder stopped being written
        self.device: str | None = None
        self._stop = threading.Event()
        self._why = ""  # why the run was stopped, when not by its user
        self._running = threading.Event()  # cleared while paused
        self._running.set()
        self._step_once = False
        self._lock = threading.Lock()
        self._queue: list[Record] = []  # for drain()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._admission, self._ticket = admission, None
        self._watch = WATCH if watch is None else watch
        self.waited_s = 0.0  # seconds this run napped for a lagging event loop

    # -- control ------------------------------------------------------------------
    def start(self) -> Runner:
        """Validate, then start the worker thread. Raises ConfigError synchronously."""
        if self._thread is not None:
            raise RuntimeError("a Runner runs once; make a new one")
        self.device = self.experiment.check(self.seed, self.device_request)
        stream = self.experiment.run(seed=self.seed, device=self.device)
        if self._admission is not None:  # in the queue in the order of the clicks
            self._ticket = self._admission.request(self.device)
        self.status = QUEUED if self.queue_place is not None else RUNNING
        self._thread = threading.Thread(
            target=self._work, args=(stream,), name=f"orthoviz-{self.experiment.key}",
            daemon=True,
        )
        try:
            self._thread.start()
        except BaseException:
            self._release()
            raise
        _STARTED.add(self)
        return self

    def stop(self, wait: bool = False, timeout: float | None = 10.0, why: str = "") -> None:
        """Ask the run to stop after the record in progress (one inner step). ``why``:
        who stopped it, added to the ending message when not the user."""
        self._why = self._why or why
        self._stop.set()
        self._running.set()  # a paused run must wake up to stop
        if self._ticket is not None and not self._ticket.admitted:
            self._ticket.cancel()  # leave the queue now: the places behind move up
        if self.status in (QUEUED, RUNNING, PAUSED):
            self.status = STOPPING
        if wait:
            self.join(timeout)

    def pause(self) -> None:
        """Hold the run after the record in progress (a queued run: after its first
        record once admitted)."""
        if self.status == QUEUED:
            self._running.clear()
        elif self.status == RUNNING:
            self._running.clear()
            self.status = PAUSED

    def resume(self) -> None:
        if self.status == QUEUED:
            self._running.set()
        elif self.status == PAUSED:
            self._step_once = False
            self.status = RUNNING
            self._running.set()

    def step_once(self) -> None:
        """From pause: compute one more record, then pause again."""
        if self.status == PAUSED:
            self._step_once = True
            self.status = RUNNING
            self._running.set()

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
    def done(self) -> bool:
        """True once the run has ended and everything it produced was queued."""
        return self._done.is_set()

    @property
    def pending(self) -> bool:
        """Records are queued for :meth:`drain` (a cheap check, no lock)."""
        return bool(self._queue)

    @property
    def queue_place(self) -> tuple[int, int] | None:
        """(k, m) while waiting for a slot: k-th of m queued runs of its kind (CPU or
        GPU); None once computing (or without an admission table)."""
        return self._ticket.place() if self._ticket is not None else None

    @property
    def progress(self) -> float:
        return min(1.0, self.step / self.total)

    def drain(self) -> tuple[list[Record], bool]:
        """(records queued since the last call, whether the run had ended before them).

        When the flag is True the list holds the last records of the run: nothing
        more will come. Poll until it is True to be sure the final state was seen.
        """
        ended = self._done.is_set()  # read before taking the queue: see docstring
        with self._lock:
            batch, self._queue = self._queue, []
        return batch, ended

    # -- worker -------------------------------------------------------------------
    def _work(self, stream) -> None:
        t0 = time.perf_counter()
        batch: list[Record] = []
        last = t0
        try:
            if not self._admitted():
                self.status, self.message = STOPPED, "stopped while queued"
                stream.close()
                return
            t0 = last = time.perf_counter()  # the run's own time, not the queue's
            self.theory = self.experiment.theory()  # once, off any event loop
            give_way = self._watch.give_way
            for rec in stream:
                self._take(rec)
                batch.append(rec)
                now = time.perf_counter()
                if now - last >= self.flush_interval or rec.is_final:
                    self._flush(batch)
                    batch, last = [], now
                if self._step_once:
                    self._step_once = False
                    self.pause()
                if not self._running.is_set():
                    self._flush(batch)
                    batch = []
                    self._running.wait()
                if self._stop.is_set():
                    break
                self.waited_s += give_way()  # a served page's loop goes first
            self._flush(batch)
            if self.final is not None:
                self.status, self.message = FINISHED, "finished"
            else:
                self.status, self.message = STOPPED, f"stopped at step {self.step}" + (
                    f" ({self._why})" if self._why else "")
            stream.close()
        except (NonFiniteError, RunOutOfMemory) as e:  # their message says what to change
            self._flush(batch)
            self.status, self.message = FAILED, str(e)
        except Exception as e:  # report, never kill the server
            self._flush(batch)
            self.status, self.message = FAILED, f"{type(e).__name__}: {e}"
        finally:
            self._release()
            self.wall_time = time.perf_counter() - t0
            if self.writer is not None:
                self._write(self.writer.close, self.status, self.message, self.final,
                            self.theory or {}, self.wall_time, self.artifacts)
            if self.write_error:  # a full disk must not hide the run's own end
                self.message += f" ({self.write_error})"
            self._done.set()
            if self.on_done is not None:
                try:
                    self.on_done(self)
                except Exception:
                    pass

    def _admitted(self) -> bool:
        """Worker thread: wait for a slot (False: stopped while queued)."""
        if self._ticket is None or self._ticket.admitted:
            return True
        if not self._ticket.wait(self._stop.is_set):
            return False
        if self.status == QUEUED:
            self.status = RUNNING if self._running.is_set() else PAUSED
        return True

    def _release(self) -> None:
        """Give back the slot (every exit path) and free a GPU's cached blocks."""
        if self._ticket is not None:
            self._ticket.release()
        if self.device is not None and self.device.startswith("cuda"):
            try:
                import torch

                torch.cuda.empty_cache()
            except Exception:  # a broken CUDA context must not hide the run's end
                pass

    def _take(self, rec: Record) -> None:
        with self._lock:
            self.step = rec.step
            self.history.append(rec.light())
            if rec.arrays:
                self.latest_arrays = {**self.latest_arrays, **rec.arrays}
                self.arrays_version += 1
            if rec.artifacts:
                self.artifacts.update(rec.artifacts)
            if rec.is_final:
                self.final = rec
            self._queue.append(rec)

    def _flush(self, batch: list[Record]) -> None:
        if not batch:
            return
        if self.writer is not None:
            self._write(self.writer.append, batch)
        if self.on_flush is not None:
            self.on_flush(batch)

    def _write(self, fn, *args) -> None:
        """One writer call; a failure stops the writing, not the run."""
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 - OSError (ENOSPC, EACCES) and the like
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            self.write_error = (f"run folder not completed: {type(e).__name__}: {why} "
                                f"({getattr(self.writer, 'path', '?')})")
            self.writer = None
