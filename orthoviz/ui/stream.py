"""How records reach the page (mixed into :class:`~orthoviz.ui.Explorer`).

Data path: the Runner queues every record it takes. Under a server, each session polls
that queue from *its own* periodic callback (``pn.state.add_periodic_callback``, every
``PUMP_MS``) on its event loop: it drains everything queued since the last tick and
draws it inside ``pn.io.hold()``. The Runner's ``drain()`` says whether the run had
ended before the records it returns, so the tick that sees ``ended`` has the last
records in hand: the final state always reaches the page, and a slow draw only makes
the next tick carry more rows (coalescing; nothing is dropped). The worker thread never
schedules anything on the loop. Outside a server (tests, notebooks) the same pump runs
on the worker thread at each flush and at the end.

Curves refresh at every tick that brought rows (at most 1000/PUMP_MS per second);
panes, which rebuild from the whole state, at most once a second and at the end.
"""

from __future__ import annotations

import contextlib
import os
import time
import weakref

import panel as pn

from orthoviz.runtime import Runner
from orthoviz.runtime.capacity import ADMISSION
from orthoviz.ui.text import queue_place_text
from orthoviz.viz.spec import ViewState

#: ORTHOVIZ_TIMING_LOG=path appends each tick's wall and CPU time and what it drew, per
#: session (for profiling a served class, e.g. under benchmarks/load.py)
_TIMING_LOG = os.environ.get("ORTHOVIZ_TIMING_LOG")
LIVE = ("queued", "running", "paused", "stopping")  # a run's states before its end
CLOSED_TAB_S = 15.0  # a page gone this long (no reconnect) is a closed tab
PUMP_MS = 200  # 5 refreshes a second at most: live enough, cheap for a class server
CURVES_PER_DRAW = 2  # groups redrawn per tick: 2 of NC's 5 groups -> each >= 2 Hz
#: served, a tick starts no further draw once it has drawn this long (it always draws
#: one): a run's end (every group and pane at once: 2.7 s of the loop for random
#: features' default here) is drawn over several ticks, and another session's Stop
#: click waits behind one draw, not behind a whole page of them.
TICK_BUDGET_S = 0.1
#: between paced draws, the step line moves at most this often (2 a second: live to
#: the eye; each move is a message to the page and a re-render in its browser)
STEP_LINE_S = 0.5


class StreamingMixin:
    """The pump: runner queue -> Buffers, Pipes, progress and status."""

    def _start_pump(self) -> None:
        """Served: one periodic callback per session, for the session's life.

        With ``--num-threads`` Panel runs periodic callbacks on its thread pool, where
        HoloViews may not touch the document: it would defer every plot refresh to a
        callback of its own, each walking the whole page. So the callback only hands
        the draw to the session's event loop (``add_next_tick_callback``, Bokeh's
        thread-safe entry point), at most one pending at a time."""
        ref = weakref.ref(self)  # the callback must not keep a closed session alive

        def on_loop(ref=ref):
            me = ref()
            if me is not None:
                me._tick_pending = False
                try:
                    me._tick()
                except Exception:
                    import traceback
                    me._log("TICK FAILED " + traceback.format_exc())
                    raise

        def tick(ref=ref):
            me = ref()
            if me is None or me._tick_pending:
                return
            me._tick_pending = True
            me._on_loop(on_loop if not me._tab_closed() else me.teardown)

        self._tick_pending, self._was_connected = False, False
        self._pump_cb = pn.state.add_periodic_callback(tick, period=PUMP_MS)

    def _tab_closed(self) -> bool:
        """Served: the page's websocket connected once and has been gone for
        CLOSED_TAB_S (a closed tab: its run stops now, not when the server drops the
        session, which waits longer for pages that have not connected yet)."""
        doc = self._served_doc()
        session = getattr(doc.session_context, "session", None) if doc is not None else None
        if session is None:
            return False
        if session.connection_count > 0:
            self._was_connected = True
            return False
        return self._was_connected and \
            session.milliseconds_since_last_unsubscribe > CLOSED_TAB_S * 1000

    def _direct_callbacks(self, runner: Runner) -> None:
        """Not served: pump on the worker thread at each flush and at the end."""
        ref = weakref.ref(self)

        def pump(*_, ref=ref, runner=runner):
            me = ref()
            if me is not None and me.runner is runner:
                me._pump(runner)

        runner.on_flush, runner.on_done = pump, pump

    def _tick(self) -> None:
        """Event loop: apply a finished theory computation, then pump the run.

        Adaptive pacing: a draw waits until twice the last draw's cost has passed, so
        the loop stays at least two-thirds free for clicks (Stop) and other sessions;
        the ending is never delayed by more than that.
        """
        t0, c0 = time.perf_counter(), time.thread_time()
        runner = self.runner
        if not self._tick_due(runner):
            return  # idle: no hold (leaving a frozen hold re-walks every model of the page)
        ending = runner is not None and runner.done and not self._final_drawn
        if t0 - self._last_draw < 2.0 * self._tick_cost and not ending:
            self._show_step(runner)
            return
        self._drawn = []
        with self._holding():
            self._apply_theory()
            if runner is not None and not self._final_drawn:
                self._pump(runner)
        t1 = time.perf_counter()
        self._tick_cost, self._last_draw = t1 - t0, t1
        if self._tick_cost > 0.001:
            self._log(f"tick {self._tick_cost * 1000:.1f} ms "
                      f"cpu {(time.thread_time() - c0) * 1000:.0f} ms "
                      f"{runner.status if runner else '-'} {' '.join(self._drawn)}")

    def _show_step(self, runner: Runner | None) -> None:
        """Between paced draws: only the step line and the progress bar, when the run
        has moved and STEP_LINE_S has passed (two small properties, ~1 ms of the loop):
        a live run's page keeps moving while its plots refresh as often as the loop
        allows."""
        now = time.perf_counter()
        if runner is None or runner.status != "running" or self._shown is None \
                or runner.step == self._step_shown or now - self._step_shown_t < STEP_LINE_S:
            return
        self._step_shown, self._step_shown_t = runner.step, now
        doc = self._served_doc()
        with pn.io.hold(doc) if doc is not None else contextlib.nullcontext():
            self.controls.show_progress(runner.step, runner.total, None)

    def _tick_due(self, runner: Runner | None) -> bool:
        """Whether a tick has anything to draw: a finished theory, a run's theory not
        shown yet, or a run with queued records or a changed state. Most ticks of a
        class have none (pages open, runs ended), and each would cost the session's
        whole model walk (~60 ms for the NC page, 5 times a second)."""
        if self._theory_pending is not None:
            return True
        if runner is None:
            return False
        if runner.theory is not None and self._run_theory_shown is not runner:
            return True
        if self._final_drawn:
            return False
        return runner.pending or runner.done or \
            (runner.status, runner.step, runner.queue_place) != self._shown

    def _log(self, what: str) -> None:
        if _TIMING_LOG:
            with open(_TIMING_LOG, "a") as f:
                f.write(f"{time.time():.3f} {self.experiment_cls.key} "
                        f"s{id(self) % 9973:04d} {what}\n")

    def _pump(self, runner: Runner) -> None:
        self._apply_run_theory()
        records, ended = runner.drain()
        status = (runner.status, runner.step, runner.queue_place)
        if not records and not ended and status == self._shown:
            return
        self._shown = status
        if runner.status == "queued" and not records and not ended:
            # nothing to draw yet: the plots keep what they show until the run's first
            # rows (drawing a queued run's empty state cost up to 2.8 s of the loop a
            # pane, for each queued page, in a 20-session class)
            self._set_status(runner.status, self._running_message(runner))
            return
        with self._holding():
            rows = [r.row() for r in records]
            for c in self.curves:
                c.add(rows)
            budget = TICK_BUDGET_S if self._served_doc() is not None else float("inf")
            deadline = time.perf_counter() + budget
            drawn = self._flush_curves(everything=ended, deadline=deadline)
            if drawn or not ended:  # at the end, panes once the curves are drawn
                drawn = self._send_panes(runner, force=ended, deadline=deadline)
            self.controls.show_progress(runner.step, runner.total, runner.device)
            self._step_shown, self._step_shown_t = runner.step, time.perf_counter()
            if ended and drawn:
                self._log(f"ended drawn ({runner.status}) napped {runner.waited_s:.2f} s "
                          f"of {runner.wall_time:.2f} s")
                self._final_drawn = True
                self._show_notes(runner.final, runner.history)
                self._set_status(runner.status, runner.message)
            elif runner.status in LIVE and (
                    runner.status != self.status or runner.status == "queued" or (
                    runner.write_error and runner.write_error not in self.message)):
                # an end (finished, stopped, failed) is drawn only with the run's last
                # records and panes (perhaps over several ticks: TICK_BUDGET_S), never
                # as "finished: seed 0"
                self._set_status(runner.status, self._running_message(runner))

    def _holding(self):
        """Batch the page changes of one action. hold: they go out as one message;
        freeze: HoloViews freezes the document around each plot update, and Bokeh then
        walks every model of the page (~60 ms for the NC page); nested under one
        freeze it walks once per action. Re-entrant (nested holds are no-ops)."""
        doc = self._served_doc()
        if doc is None:
            return contextlib.nullcontext()
        return pn.io.hold(doc, freeze=True)

    def _flush_curves(self, everything: bool, deadline: float = float("inf")) -> bool:
        """Draw the queued rows of at most CURVES_PER_DRAW groups, round-robin (each
        group refresh costs ~20 ms of HoloViews work; a group's first rows of a run
        rebuild its plot, 0.1-0.5 s); every group at the end, but none started after
        ``deadline`` once one is drawn. True when no group has rows left to draw."""
        n = len(self.curves)
        order = [self.curves[(self._curve_turn + i) % n] for i in range(n)]
        waiting = [c for c in order if c.pending]
        if not everything:
            waiting = waiting[:CURVES_PER_DRAW]
        for i, c in enumerate(waiting):
            if i and time.perf_counter() > deadline:
                break
            c.flush()
            self._note_drawn(f"c{self.curves.index(c)}")
            self._curve_turn = (self.curves.index(c) + 1) % n
        return not any(c.pending for c in self.curves)

    def _note_drawn(self, what: str) -> None:
        if _TIMING_LOG:  # the timing log's list of what a tick drew
            getattr(self, "_drawn", []).append(what)

    def _running_message(self, runner: Runner) -> str:
        place = runner.queue_place
        if runner.status == "queued" and place is not None:
            k, m = place
            n, g = ADMISSION.limits()
            if runner.device.startswith("cuda"):  # never moved to the CPU behind one's back
                return (f"place {k} of {m} for the GPU ({g} run{'s' * (g > 1)} at a time "
                        "on it); choose the cpu device to run now")
            return queue_place_text(place, n)
        unsaved = f"; {runner.write_error}" if runner.write_error else ""
        if runner.status == "paused":
            return f"paused at step {runner.step}{unsaved}"
        if runner.status == "stopping":
            return f"stopping after step {runner.step}{unsaved}"
        return f"seed {runner.seed}{unsaved}"

    def _state(self, runner: Runner | None) -> ViewState:
        """What the panes draw: the run's cached theory, merged arrays and rows."""
        if runner is None:
            return ViewState(self.view_config, self.view_theory, dict(self._arrays),
                             [r.row() for r in self._records],
                             dict(self._opened.scalars) if self._opened else None)
        return ViewState(self.run_config, runner.theory or self.view_theory,
                         dict(runner.latest_arrays), [r.row() for r in runner.history],
                         dict(runner.final.scalars) if runner.final else None)

    def _send_panes(self, runner: Runner | None, force: bool,
                    deadline: float = float("inf")) -> bool:
        """Refresh at most one pane (round-robin, paced by each pane), or with ``force``
        every pane whose state is not shown yet, none started after ``deadline`` once
        one is drawn. True when every pane shows the current state (or was not due)."""
        if not self.panes or self.view_theory is None:
            return True
        state = None
        if runner is None:
            sig = ("idle", self._theory_version, len(self._records), self._opened_version)
        else:
            sig = (self._run_index, len(runner.history), runner.arrays_version,
                   runner.final is not None)
        # each pane rebuilds from the whole state: one per live draw, round-robin so
        # that every pane refreshes; all of them at the end
        n = len(self.panes)
        order = [self.panes[(self._pane_turn + i) % n] for i in range(n)]
        sent = 0
        for p in order:
            if not p.shown:
                continue  # in a tab not open: drawn when it opens (_show_panes)
            if force and sent and time.perf_counter() > deadline:
                break
            if state is None:
                state = self._state(runner)
            if p.send(state, sig, force=force):
                self._note_drawn(f"p{self.panes.index(p)}")
                sent += 1
                self._pane_turn = (self.panes.index(p) + 1) % n
                if not force:
                    break
        return not force or all(p.shows(sig) for p in self.panes if p.shown)

    def _show_panes(self) -> None:
        """Event loop: a pane's tab opened; it draws what the page shows now."""
        with self._holding():
            self._send_panes(self.runner, force=True)
