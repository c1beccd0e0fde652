"""Run threads give way to a lagging event loop (a served process; UI-free).

Under ``orthoviz serve`` one event-loop thread draws every page and answers every
click (Stop among them), and the runs compute on worker threads of the same process.
The runs' Python holds the GIL and their steps take the cores, so on a 2-core server
the loop got 10-30 % of the wall time while a class pressed Start together: ticks of
0.2-0.3 s of CPU took 1-2.8 s, and a Stop waited behind them up to 17 s
(benchmarks/load.py, 20 sessions).

So the loop stamps a heartbeat every :data:`BEAT_S` (:meth:`LoopWatch.beat`, a
PeriodicCallback that ``orthoviz serve`` starts), and a run thread calls
:meth:`LoopWatch.give_way` between records. While the stamp is older than
:data:`LAG_S` the loop is busy (a page build, a burst of clicks, a collection): the
run naps, which hands over the GIL and a core, until the loop beats again, at most
:data:`MAX_WAIT_S` per record, so a run always moves on. When the loop is idle it
beats on time and nothing waits. A process that never beats (the CLI, notebooks,
sweep workers, tests) never waits either.

Hand-written (no library does this): it is a few lines of shared state read by the
run threads, and its measure is the loop's own lateness.
"""

from __future__ import annotations

import time

BEAT_S = 0.05  # the loop stamps this often when it is free
LAG_S = 0.15  # a stamp older than this: the loop is busy (three beats missed)
NAP_S = 0.005  # one nap of a run thread that gives way
MAX_WAIT_S = 0.25  # at most this long per record: a busy loop slows runs, never stops them


class LoopWatch:
    """The loop's heartbeat and the run threads' check of it (thread-safe: one float
    written by the loop, read by the runs)."""

    def __init__(self, lag_s: float = LAG_S, max_wait_s: float = MAX_WAIT_S,
                 nap_s: float = NAP_S, clock=time.monotonic, sleep=time.sleep):
        self.lag_s, self.max_wait_s, self.nap_s = lag_s, max_wait_s, nap_s
        self._clock, self._sleep = clock, sleep
        self._beat: float | None = None  # None: no loop watched, nothing waits

    @property
    def watching(self) -> bool:
        return self._beat is not None

    def beat(self) -> None:
        """The loop is free now (its periodic callback ran)."""
        self._beat = self._clock()

    def stop(self) -> None:
        """No loop to watch any more (the server stopped): runs no longer wait."""
        self._beat = None

    def lagging(self) -> bool:
        beat = self._beat
        return beat is not None and self._clock() - beat > self.lag_s

    def give_way(self) -> float:
        """From a run thread between records: nap while the loop lags, at most
        ``max_wait_s``; the seconds napped (0.0 when the loop is free)."""
        if not self.lagging():
            return 0.0
        t0 = self._clock()
        while self.lagging() and self._clock() - t0 < self.max_wait_s:
            self._sleep(self.nap_s)
        return self._clock() - t0


#: the process's watch: ``orthoviz serve`` beats it from its loop; every Runner gives
#: way to it
WATCH = LoopWatch()

