"""How many runs one process computes at once: an admission table with a FIFO queue.

A server shared by a class must not start thirty trainings on two cores (each would
crawl, and the event loop that serves every page would starve), nor put two runs on
one GPU. So every served run asks for a *ticket* before it computes:

- at most ``max_runs`` runs compute at once (default: the cores this process may
  use; ``orthoviz serve --max-runs N`` or ``$ORTHOVIZ_MAX_RUNS``);
- of those, at most ``max_gpu_runs`` on CUDA (default: one per GPU;
  ``$ORTHOVIZ_MAX_GPU_RUNS``). A GPU run never falls back to the CPU on its own: it
  waits for the GPU, and its place says so.

A sweep started from a page takes one slot per worker process of its Dask cluster
(``slots``), at most ``max_runs``: its cells are runs too.

A ticket that cannot be admitted waits in one first-come-first-served queue. Admission
walks the queue in order: a ticket that fits takes a slot; one blocked by the total
limit blocks everything behind it (so none jumps the queue); one blocked only by the
GPU limit lets the CPU runs behind it pass (they do not need the GPU). A cancelled
ticket (Stop, or the tab closed) leaves the queue at once; a released one frees its
slot and admits the next.

No UI here: the Runner waits on its ticket on its worker thread and the explorer reads
:meth:`Ticket.place` to show "queued: place k of m".
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from orthoviz.runtime.threads import cores

#: environment overrides of the defaults (a positive integer each)
MAX_RUNS_ENV, MAX_GPU_RUNS_ENV = "ORTHOVIZ_MAX_RUNS", "ORTHOVIZ_MAX_GPU_RUNS"
WAITING, ADMITTED, RELEASED, CANCELLED = "waiting", "admitted", "released", "cancelled"


def is_gpu(device: str) -> bool:
    return device.startswith("cuda")


def _env_int(name: str) -> int | None:
    text = os.environ.get(name, "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def default_max_runs() -> int:
    return _env_int(MAX_RUNS_ENV) or cores()


def default_max_gpu_runs() -> int:
    from orthoviz.runtime.device import cuda_count

    return _env_int(MAX_GPU_RUNS_ENV) or max(1, cuda_count())


class Ticket:
    """One run's claim on a slot. ``state`` is waiting, admitted, released or
    cancelled; :meth:`release` and :meth:`cancel` are idempotent and safe from any
    thread."""

    def __init__(self, table: Admission, device: str, slots: int = 1):
        self.table, self.device, self.gpu = table, device, is_gpu(device)
        self.slots = slots  # run slots it takes (a sweep: one per worker process)
        self.state = WAITING

    @property
    def admitted(self) -> bool:
        return self.state == ADMITTED

    def place(self) -> tuple[int, int] | None:
        """(k, m): this ticket is k-th of the m waiting tickets of its kind (CPU or
        GPU); None once it is not waiting."""
        return self.table._place(self)

    def wait(self, stop: Callable[[], bool] = lambda: False, poll: float = 0.1) -> bool:
        """Block until admitted (True) or until ``stop()`` is true or the ticket was
        cancelled (False; the ticket then holds nothing)."""
        return self.table._wait(self, stop, poll)

    def release(self) -> None:
        """Give back the slot (or leave the queue); every exit path of a run calls it."""
        self.table._end(self, RELEASED)

    def cancel(self) -> None:
        """Leave the queue (a queued run was stopped); releases an admitted slot too."""
        self.table._end(self, CANCELLED)


class Admission:
    """The admission table of one process. ``max_runs``/``max_gpu_runs`` of None use
    the defaults (read again at each admission, so the environment may set them
    before the first run)."""

    def __init__(self, max_runs: int | None = None, max_gpu_runs: int | None = None):
        self._cond = threading.Condition(threading.Lock())
        self._queue: list[Ticket] = []
        self._running: list[Ticket] = []
        self.configure(max_runs, max_gpu_runs)

    def configure(self, max_runs: int | None = None, max_gpu_runs: int | None = None):
        """Set the limits (None: the default); queued tickets that now fit go."""
        for v in (max_runs, max_gpu_runs):
            if v is not None and (not isinstance(v, int) or v < 1):
                raise ValueError(f"a run limit must be an integer >= 1, not {v!r}")
        with self._cond:
            self._max_runs, self._max_gpu_runs = max_runs, max_gpu_runs
            self._admit_locked()

    def limits(self) -> tuple[int, int]:
        """(max_runs, max_gpu_runs) in force."""
        return (self._max_runs or default_max_runs(),
                self._max_gpu_runs or default_max_gpu_runs())

    def request(self, device: str, slots: int = 1) -> Ticket:
        """A ticket for a run on ``device``, admitted at once when a slot is free;
        ``slots``: how many it takes (a sweep's worker processes; at most max_runs
        are counted, so that it can always be admitted once the others are done)."""
        if not isinstance(slots, int) or slots < 1:
            raise ValueError(f"slots must be an integer >= 1, not {slots!r}")
        ticket = Ticket(self, device, slots)
        with self._cond:
            self._queue.append(ticket)
            self._admit_locked()
        return ticket

    def counts(self) -> dict:
        """Running and waiting tickets (for the server's status and tests)."""
        with self._cond:
            return {"running": len(self._running),
                    "running_gpu": sum(t.gpu for t in self._running),
                    "waiting": len(self._queue)}

    # -- internals (under the lock) ---------------------------------------------------
    def _admit_locked(self) -> None:
        if not self._queue:
            return
        max_runs, max_gpu = self.limits()
        free = max_runs - sum(self._taken(t) for t in self._running)
        free_gpu = max_gpu - sum(t.gpu for t in self._running)
        admitted = []
        for t in self._queue:
            if free < self._taken(t):
                break  # nobody behind may jump the queue
            if t.gpu and free_gpu <= 0:
                continue  # waits for the GPU; CPU runs behind it may go
            admitted.append(t)
            free -= self._taken(t)
            free_gpu -= t.gpu
        if admitted:
            for t in admitted:
                self._queue.remove(t)
                t.state = ADMITTED
            self._running.extend(admitted)
            self._cond.notify_all()

    def _taken(self, ticket: Ticket) -> int:
        """Slots a ticket counts for: its own, at most the limit (read now)."""
        return min(ticket.slots, self.limits()[0])

    def _place(self, ticket: Ticket) -> tuple[int, int] | None:
        with self._cond:
            if ticket.state != WAITING:
                return None
            same = [t for t in self._queue if t.gpu == ticket.gpu]
            return same.index(ticket) + 1, len(same)

    def _wait(self, ticket: Ticket, stop: Callable[[], bool], poll: float) -> bool:
        with self._cond:
            while ticket.state == WAITING and not stop():
                self._cond.wait(poll)
            if ticket.state == ADMITTED:
                return True
        ticket.cancel()  # stopped while waiting: leave the queue
        return False

    def _end(self, ticket: Ticket, state: str) -> None:
        with self._cond:
            if ticket.state == WAITING:
                self._queue.remove(ticket)
            elif ticket.state == ADMITTED:
                self._running.remove(ticket)
            else:
                return
            ticket.state = state
            self._admit_locked()
            self._cond.notify_all()


#: the process-wide table every served run goes through
ADMISSION = Admission()
