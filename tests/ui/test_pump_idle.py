"""An open page that shows nothing new costs its server nothing: the pump's tick takes
no hold (leaving a frozen hold re-walks every model of the page), while a tick with
something to draw still draws it, to the run's final state."""

from __future__ import annotations

import contextlib

import pytest

pn = pytest.importorskip("panel")

from bokeh.document import Document  # noqa: E402

from orthoviz.ui import Explorer  # noqa: E402

pytestmark = pytest.mark.ui


def test_idle_ticks_take_no_hold_and_a_run_still_reaches_its_end(wait_until):
    doc = Document()
    ex = Explorer("neural-collapse", preset="smoke")
    ex._served_doc = lambda: doc  # draw as under a server
    doc.add_root(ex.main.get_root(doc))
    holds = []
    ex._holding = lambda: holds.append(1) or contextlib.nullcontext()
    for _ in range(5):
        ex._tick()
    assert holds == []  # a page that only looks
    assert ex.start()
    wait_until(lambda: ex.runner.done, timeout=60)
    for _ in range(3):
        ex._tick_cost = 0.0  # no pacing: every due tick draws
        ex._tick()
    assert holds and ex._final_drawn and ex.status == "finished"
    assert ex.controls.step.object == f"step {ex.runner.total} / {ex.runner.total}"
    n = len(holds)
    for _ in range(5):
        ex._tick()
    assert len(holds) == n  # the ended run is drawn: idle again
