"""Explorer logic without a browser: runs, stop, reset/seed, errors, save/open, teardown."""

from __future__ import annotations

import threading
import time

import pytest

pn = pytest.importorskip("panel")

from orthoviz.runtime import get_experiment, list_experiments  # noqa: E402
from orthoviz.runtime.device import cuda_available  # noqa: E402
from orthoviz.runtime.params import user_parameters  # noqa: E402
from orthoviz.ui import Explorer  # noqa: E402

EXPERIMENTS = list_experiments()
# experiments whose length is a `steps` parameter can be made long enough to stop
LONG = [k for k in EXPERIMENTS if "steps" in user_parameters(get_experiment(k))]


def long_explorer(key: str, **kw) -> Explorer:
    p = user_parameters(get_experiment(key))["steps"]
    return Explorer(key, preset="smoke", config={"steps": min(p.bounds[1], 10**6)}, **kw)


def no_worker_left(e: Explorer) -> bool:
    return e.runner is None or not e.runner.alive


@pytest.fixture(autouse=True)
def _no_leaked_threads(wait_until):
    before = {t.ident for t in threading.enumerate()}
    yield
    wait_until(lambda: not [t for t in threading.enumerate()
                            if t.ident not in before and t.name.startswith("orthoviz-")],
               timeout=15)


@pytest.mark.parametrize("key", EXPERIMENTS)
def test_smoke_run_finishes_and_fills_the_plots(key, wait_until):
    e = Explorer(key, preset="smoke")
    assert e.status == "idle"
    assert e.start() is True
    assert e.status == "running"
    assert e.runner.join(60), "the smoke run did not finish in 60 s"
    wait_until(lambda: e.status == "finished", timeout=10)
    assert e.final is not None and e.history[-1].is_final
    assert e.controls.progress.value == 1000
    assert e.controls.step.object == f"step {e.runner.step} / {e.runner.total}"
    assert e.controls.start.disabled is False and e.controls.stop.disabled is True
    sent = sum(len(c.buffer.data) for c in e.curves)
    assert not e.curves or sent > 0, "no rows reached the curve buffers"
    if e.final.notes:
        assert e.notes.visible and e.final.notes[0] in e.notes.object
    assert no_worker_left(e)


@pytest.mark.parametrize("key", LONG)
def test_stop_ends_the_thread(key, wait_until):
    e = long_explorer(key)
    e.start()
    wait_until(lambda: len(e.history) >= 2, timeout=30)
    e.stop(wait=True)
    assert e.status == "stopped" and "stopped at step" in e.message
    assert no_worker_left(e)
    assert e.final is None


def test_reset_keeps_the_seed_and_new_seed_changes_it():
    key = EXPERIMENTS[0]
    e = Explorer(key, preset="smoke", seed=7)
    e.start()
    e.runner.join(60)
    e.reset()
    assert e.seed == 7 and e.status == "idle" and e.runner is None
    assert all(len(c.buffer.data) == 0 for c in e.curves)
    seeds = {e.new_seed() for _ in range(3)}
    assert 7 not in seeds and len(seeds) == 3


def test_a_bad_value_shows_the_message_not_a_traceback():
    key = EXPERIMENTS[0]
    e = Explorer(key, preset="smoke")
    name, p = next((n, p) for n, p in user_parameters(e.config).items()
                   if getattr(p, "bounds", None) and p.bounds[1] is not None)
    assert e.set_config(**{name: p.bounds[1] * 10 + 1}) is False
    assert e.status == "failed"
    assert name in e.message and "allowed" in e.message
    assert "Traceback" not in e.controls.status.object


@pytest.mark.skipif(cuda_available(), reason="CUDA is present")
def test_an_unavailable_device_is_refused_with_its_message():
    e = Explorer(EXPERIMENTS[0], preset="smoke", device="cuda")
    assert e.start() is False
    assert e.status == "failed" and "device" in e.message and e.runner is None


def test_save_then_open_restores_the_run(tmp_path):
    key = EXPERIMENTS[0]
    e = Explorer(key, preset="smoke", seed=3)
    e.start()
    e.runner.join(60)
    path = e.save_run(tmp_path)
    assert path is not None and (path / "metrics.csv").exists()
    assert (path / "summary.json").exists() and (path / "config.json").exists()

    other = Explorer(key, runs_root=str(tmp_path))  # default preset: a different config
    assert str(path) in other.files.runs.options.values()
    assert other.open_run(path) is True
    assert other.status == "finished" and "opened" in other.message
    assert other.seed == 3 and other.config.config() == e.run_config.config()
    got = [r.row() for r in other.history]
    want = [r.row() for r in e.history]
    assert [g["step"] for g in got] == [w["step"] for w in want]
    assert got[-1]["phase"] == "final"
    for k, v in want[-1].items():
        if isinstance(v, float):
            assert got[-1][k] == pytest.approx(v, rel=1e-9, abs=1e-12)
    assert sum(len(c.buffer.data) for c in other.curves) == sum(
        len(c.buffer.data) for c in e.curves)


def test_open_run_reports_a_bad_path(tmp_path):
    e = Explorer(EXPERIMENTS[0], preset="smoke")
    assert e.open_run(tmp_path / "nothing") is False
    assert "cannot open" in e.message


@pytest.mark.parametrize("key", LONG[:1])
def test_session_teardown_stops_the_run(key, wait_until):
    e = long_explorer(key)
    e.start()
    wait_until(lambda: len(e.history) >= 1, timeout=30)
    e.teardown()
    assert no_worker_left(e)


@pytest.mark.parametrize("key", LONG[:1])
def test_config_change_while_running_restarts(key, wait_until):
    e = long_explorer(key)
    e.start()
    first = e.runner
    wait_until(lambda: len(e.history) >= 1, timeout=30)
    e.seed = e.seed + 1  # like editing a widget
    wait_until(lambda: e.runner is not first and e.status == "running", timeout=30)
    # the superseded run is told to stop and ends on its own thread after the record
    # in progress (nothing waits for it: a click never blocks the event loop)
    wait_until(lambda: not first.alive, timeout=30)
    assert first.status == "stopped"
    e.stop(wait=True)
    assert no_worker_left(e)


def test_preset_selector_applies_the_preset():
    key = EXPERIMENTS[0]
    cls = get_experiment(key)
    e = Explorer(key, preset="default")
    e.preset = "smoke"
    assert e.config.config() == cls.from_preset("smoke").config()


@pytest.mark.parametrize("key", EXPERIMENTS)
def test_downloads_and_layout(key):
    e = Explorer(key, preset="smoke")
    e.start()
    e.runner.join(60)
    html = e.files._html().read()
    assert b"<html" in html.lower() and len(html) > 10_000
    csv = e.files._csv().read()
    assert csv.startswith("step,phase")
    assert len(csv.strip().splitlines()) == len(e.history) + 1
    assert f'"experiment": "{key}"' in e.files._json().read()
    model = pn.panel(e).get_root()  # the same object renders in a notebook
    assert model is not None


def test_panes_are_tabs_and_only_the_open_one_is_built():
    """Only the open tab's pane becomes Bokeh figures (Tabs ``dynamic``): the NC page
    renders its 5 curve plots and the two 3-D frames (7 figures, not 13 with every
    pane); hierarchical opens on its live training curve (``Views.open_pane``); one
    pane needs no tabs."""
    from bokeh.document import Document
    from bokeh.models import Plot

    nc = Explorer("neural-collapse", preset="smoke")
    assert [p.shown for p in nc.panes] == [True, False, False, False]
    doc = Document()
    doc.add_root(pn.panel(nc).get_root(doc))
    assert sum(isinstance(m, Plot) for m in doc.models) == len(nc.curves) + 2
    h = Explorer("hierarchical", preset="smoke")
    assert [p.spec.title for p in h.panes if p.shown] == ["Training curve"]
    assert h.pane_tabs.active == [p.spec.title for p in h.panes].index("Training curve")
    one = Explorer("deep-cg-train", preset="smoke")
    assert one.pane_tabs is None and [p.shown for p in one.panes] == [True]


def test_draws_never_compute_the_theory(monkeypatch):
    """The explorer evaluates a config's theory once (for its first paint); the run
    started from that config reuses it, and no draw or export computes it again."""
    cls = get_experiment("random-features")
    calls = []
    original = cls._theory
    monkeypatch.setattr(cls, "_theory", lambda self: calls.append(1) or original(self))
    e = Explorer("random-features", preset="smoke")
    assert len(calls) == 1  # first paint
    e.start()
    assert e.runner.join(60) and e.status == "finished"
    e.figures()
    e._send_panes(e.runner, force=True)
    assert len(calls) == 1


def test_open_after_a_run_in_the_same_session_draws_every_curve(tmp_path, wait_until):
    """Open run in a session that ran another config since: every curve the saved run
    drew gets its rows back, each log axis follows the opened rows, the panes keep
    their plots (data only), and no restart or theory recomputation follows the
    opened config's edits."""
    from orthoviz.ui.explorer import RESTART_DELAY
    from orthoviz.viz.curves import wants_log

    e = Explorer("neural-collapse", preset="smoke", seed=5, runs_root=str(tmp_path))
    e.start()
    assert e.runner.join(60)
    drawn = {c.spec.title: len(c.buffer.data) for c in e.curves}
    path = e.save_run()
    assert e.set_config(lr=0.05, steps=40)
    time.sleep(3 * RESTART_DELAY)  # the edits settle (no restart of the run below)
    e.start()
    assert e.runner.join(60)
    wait_until(lambda: e.status == "finished", timeout=10)
    panes = [p.pane.object for p in e.panes]
    assert e.open_run(path) is True
    assert e._restart_timer is None
    time.sleep(3 * RESTART_DELAY)  # an edit-delay restart would have cleared the plots
    assert e.status == "finished" and "opened" in e.message
    for c in e.curves:
        if drawn[c.spec.title]:
            assert len(c.buffer.data) == drawn[c.spec.title], c.spec.title
            assert c.logy == wants_log(c.spec, [c._lo, c._hi]), c.spec.title
    assert [p.pane.object for p in e.panes] == panes  # same shape: only data changed
    assert e.config.lr == 0.1 and e.config.steps == 60 and e.seed == 5
