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


def served_page(lazy: bool = False, **config):
    """An NC smoke page drawn as under a server, with every draw noted ("c": a curve
    group, "p": a pane); ``lazy``: the served page's model manager."""
    from orthoviz.ui.docmodels import lazy_models

    doc = Document()
    ex = Explorer("neural-collapse", preset="smoke")
    ex.config.param.update(**config)
    ex._served_doc = lambda: doc
    doc.add_root(ex.main.get_root(doc))
    if lazy:
        lazy_models(doc)
    draws = []
    for c in ex.curves:
        c.flush = (lambda f: lambda: draws.append("c") or f())(c.flush)
    for p in ex.panes:
        p._show = (lambda f: lambda s: draws.append("p") or f(s))(p._show)
    return ex, doc, draws


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
    ticks = 0
    while not ex._final_drawn and ticks < 20:
        ex._tick_cost = 0.0  # no pacing: every due tick draws
        ex._tick()
        ticks += 1
    assert holds and ex._final_drawn and ex.status == "finished"
    assert ex.controls.step.object == f"step {ex.runner.total} / {ex.runner.total}"
    n = len(holds)
    for _ in range(5):
        ex._tick()
    assert len(holds) == n  # the ended run is drawn: idle again


def test_a_runs_end_is_drawn_over_ticks_one_draw_each(monkeypatch, wait_until):
    """With no time budget each tick draws one curve group or pane: the end of a run
    (every group and pane at once) never holds the event loop for a whole page, and
    "finished" appears only with the last of them."""
    from orthoviz.ui import stream

    monkeypatch.setattr(stream, "TICK_BUDGET_S", 0.0)
    ex, doc, draws = served_page()
    assert ex.start()
    wait_until(lambda: ex.runner.done, timeout=60)
    ex._tick_cost = 0.0
    ex._tick()  # may draw earlier records: the end comes from here on
    ticks = []
    while not ex._final_drawn and len(ticks) < 40:
        assert ex.status != "finished"  # not before its last draw
        n = len(draws)
        ex._tick_cost = 0.0
        ex._tick()
        ticks.append(len(draws) - n)
    assert ex._final_drawn and ex.status == "finished"
    # one draw per tick (a tick whose curves are all drawn may add its first pane);
    # every group and the open tab's pane drawn with the final state
    assert max(ticks) <= 2 and len(ticks) >= 2, ticks
    assert not any(c.pending for c in ex.curves)
    sig = (ex._run_index, len(ex.runner.history), ex.runner.arrays_version, True)
    assert [p.shown for p in ex.panes] == [True, False, False, False]  # the first tab
    assert ex.panes[0].shows(sig)
    assert not any(p.shows(sig) for p in ex.panes[1:])  # closed tabs: never drawn
    # the browser opens another tab: its pane draws the final state, the others stay
    n = len(draws)
    ex.pane_tabs.active = 2
    assert [p.shown for p in ex.panes] == [False, False, True, False]
    assert ex.panes[2].shows(sig) and draws[n:] == ["p"]


def test_a_queued_run_moves_only_its_status_line(wait_until):
    """While a run waits for a place, a tick changes the status line and nothing else:
    no plot is drawn and the page's models are not walked (a walk costs ~60 ms on the
    NC page, and every queued page ticks at each move of the queue). The run's plots
    draw once it is admitted, to its end."""
    from orthoviz.runtime.capacity import ADMISSION

    ex, doc, draws = served_page(lazy=True)  # as a served page's document
    ADMISSION.configure(max_runs=1)
    other = ADMISSION.request("cpu")  # another session's run holds the only place
    cleared = []
    for c in ex.curves:
        c.buffer.add_subscriber(lambda **kw: cleared.append(1))
    try:
        assert other.admitted
        with doc.models.freeze():
            pass  # the lazy manager's first walk (a served page's happens as it is built)
        walks = doc.models.walks
        assert ex.start()
        # a page's first Start has no rows to clear: no plot refresh, no walk (a class
        # pressing Start together queued a dozen ~0.15 s Starts ahead of a Stop)
        assert cleared == [] and doc.models.walks == walks
        wait_until(lambda: ex.runner.status == "queued", timeout=30)
        ex._theory_pending = None  # (the page's theory is drawn: not this test's subject)
        draws.clear()
        walks = doc.models.walks
        for _ in range(3):
            ex._tick_cost = 0.0
            ex._shown = None  # as when the queue moves: the status line is re-sent
            ex._tick()
        assert ex.status == "queued" and "place 1 of 1" in ex.message
        assert draws == []
        assert doc.models.walks == walks  # no walk of the page while waiting
    finally:
        other.release()
        ADMISSION.configure(max_runs=None)
    wait_until(lambda: ex.runner.done, timeout=60)
    for _ in range(40):
        if ex._final_drawn:
            break
        ex._tick_cost = 0.0
        ex._tick()
    assert ex._final_drawn and ex.status == "finished"
    assert "p" in draws and "c" in draws
    # a second run clears what the first one drew
    n = len(cleared)
    assert ex.start()
    ex.runner.stop()
    assert len(cleared) > n and all(len(c.buffer.data) == 0 for c in ex.curves)


def test_a_paced_tick_moves_only_the_step_line(monkeypatch, wait_until):
    """Between two paced draws (a draw waits twice the last one's cost) a tick still
    shows where the run is (at most every STEP_LINE_S): the step line and the progress
    bar move, no plot is drawn and the page's models are not walked, so a loaded
    server's pages keep moving while their plots refresh as often as the loop allows."""
    from orthoviz.ui import stream

    ex, doc, draws = served_page(lazy=True, steps=200_000)  # running throughout
    assert ex.start()
    try:
        wait_until(lambda: ex.runner.status == "running" and ex.runner.step > 0, timeout=60)
        ex._tick_cost = 0.0
        ex._tick()  # a real draw: the run's first rows
        assert draws
        draws.clear()
        walks = doc.models.walks
        ex._tick_cost = 1e9  # every later tick is paced
        monkeypatch.setattr(stream, "STEP_LINE_S", 0.0)
        for _ in range(3):
            step = ex.runner.step
            wait_until(lambda s=step: ex.runner.step > s, timeout=30)
            ex._tick()
            shown = int(ex.controls.step.object.split()[1])
            assert shown > step  # the step the run had reached, or later
            assert ex.controls.step.object.endswith(f"/ {ex.runner.total}")
            assert ex.controls.progress.value == int(1000 * shown / ex.runner.total)
        # the line's own pace: within STEP_LINE_S of its last move it waits
        monkeypatch.setattr(stream, "STEP_LINE_S", 3600.0)
        wait_until(lambda s=shown: ex.runner.step > s, timeout=30)
        ex._tick()
        assert ex.controls.step.object.split()[1] == str(shown)
        assert draws == [] and doc.models.walks == walks
    finally:
        ex.runner.stop(wait=True)
