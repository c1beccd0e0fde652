"""How records reach the page (mixed into :class:`~orthoviz.ui.Explorer`).

Data path: the Runner hands batches of records to ``on_flush`` on its worker thread at
most every 0.1 s. The explorer queues their rows and schedules one *draw* on the
session's event loop (``doc.add_next_tick_callback``, the thread-safe Bokeh entry
point) unless one is already pending, and at most every ``DRAW_INTERVAL`` seconds (or
twice the last draw's cost, whichever is longer). The draw sends the queued rows to the
Buffers, the state to the Pipes (at most 1 Hz, and only when it changed) and the
progress and status, all inside ``pn.io.hold()``. A slow browser or a busy server thus
coalesces updates instead of queueing them without bound, and Stop stays responsive.
Outside a server (tests, notebooks) the draw runs at once on the worker thread.
"""

from __future__ import annotations

import contextlib
import time
import weakref

import panel as pn

from orthoviz.runtime import Runner
from orthoviz.runtime.record import Record
from orthoviz.viz.export import view_state

DRAW_INTERVAL = 0.25  # s: at most 4 plot refreshes a second (each costs the server a
# walk over the document's models; more would starve the event loop)


class StreamingMixin:
    """Worker-thread callbacks, the draw queue and the pane updates of the explorer."""

    def _flusher(self, runner: Runner):
        ref = weakref.ref(self)  # the worker thread must not keep a closed session alive

        def on_flush(batch: list[Record], runner=runner) -> None:
            me = ref()
            if me is not None:
                me._queue(runner, [r.row() for r in batch], final=False)

        return on_flush

    def _finisher(self):
        ref = weakref.ref(self)

        def on_done(runner: Runner) -> None:
            me = ref()
            if me is not None:
                me._queue(runner, [], final=True)

        return on_done

    def _queue(self, runner: Runner, rows: list[dict], final: bool) -> None:
        """Worker thread: queue rows; schedule a draw unless one is pending or the
        last one was less than DRAW_INTERVAL ago (the final one always goes)."""
        with self._lock:
            if self.runner is not runner:
                return  # a superseded run
            self._pending.extend(rows)
            self._pending_final |= final
            # adaptive pacing: the loop spends at most about a third of its time drawing
            interval = max(DRAW_INTERVAL, 2.0 * self._draw_cost)
            if self._scheduled or (
                not final and time.monotonic() - self._last_draw < interval
            ):
                return
            self._scheduled = True
        self._on_loop(self._draw)

    def _draw(self) -> None:
        """Event loop: push queued rows, panes, progress (and the ending) to the page."""
        t0 = time.monotonic()
        with self._lock:
            rows, self._pending = self._pending, []
            final, self._pending_final = self._pending_final, False
            runner = self.runner
        try:
            if runner is not None:
                self._draw_now(runner, rows, final)
        finally:
            with self._lock:
                t1 = time.monotonic()
                self._scheduled, self._last_draw, self._draw_cost = False, t1, t1 - t0

    def _draw_now(self, runner: Runner, rows: list[dict], final: bool) -> None:
        doc = self._served_doc()
        # freeze: one walk over the document models per draw instead of one per plot
        with pn.io.hold(doc, freeze=True) if doc is not None else contextlib.nullcontext():
            for c in self.curves:
                c.send(rows)
            self._send_panes(force=final)
            self.controls.show_progress(runner.step, runner.total, None)
            if final:
                self._show_notes(runner.final)
                self._set_status(runner.status, runner.message)

    def _send_panes(self, force: bool) -> None:
        if not self.panes:
            return
        state = view_state(self.run_config, self.history, self.arrays)
        attached = False
        for p in self.panes:
            if not p.live and attached and not force:
                continue  # creating a plot is costly: one new pane per draw
            was_live = p.live
            if p.send(state, force=force) and not was_live:
                attached = True

