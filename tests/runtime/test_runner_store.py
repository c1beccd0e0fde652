"""Runner (thread, cancel, history) and run folders (atomic files, reopen)."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from orthoviz.runtime import Runner
from orthoviz.runtime.registry import get_experiment
from orthoviz.runtime.store import RunWriter, list_runs, load_run

NC = get_experiment("neural-collapse")


def test_runner_finishes_and_keeps_history():
    batches = []
    r = Runner(NC.from_preset("smoke"), seed=0, device="cpu", on_flush=batches.append,
               flush_interval=0.0).start()
    assert r.join(30)
    assert r.status == "finished" and r.final is not None and r.progress == 1.0
    assert sum(len(b) for b in batches) == len(r.history)
    assert r.history[-1].is_final and r.latest_arrays


def test_stop_takes_effect_at_the_next_record_and_leaves_no_thread():
    exp = NC.from_preset("smoke", steps=1_000_000, record_every=1)
    seen = threading.Event()
    r = Runner(exp, seed=0, device="cpu", on_flush=lambda b: seen.set(), flush_interval=0.0)
    r.start()
    assert seen.wait(30)
    r.stop(wait=True, timeout=30)
    assert not r.alive and r.status == "stopped" and r.final is None
    assert r.step < exp.steps
    assert not [t for t in threading.enumerate() if t.name.startswith("orthoviz-")]


def test_stop_all_ends_every_run_of_the_process_and_closes_their_folders(tmp_path):
    """What a stopping server does (``orthoviz.ui.serve``): each run still going ends
    after its record in progress with its folder closed as stopped, saying why; an
    ended run is left as it was."""
    from orthoviz.runtime.runner import stop_all

    done = Runner(NC.from_preset("smoke"), seed=0, device="cpu").start()
    assert done.join(30) and done.status == "finished"
    exp = NC.from_preset("smoke", steps=1_000_000, record_every=1)
    writers = [RunWriter(exp, seed=s, device="cpu", root=tmp_path) for s in (0, 1)]
    runs = [Runner(exp, seed=s, device="cpu", writer=w, flush_interval=0.0).start()
            for s, w in enumerate(writers)]
    assert all(_wait_for(lambda r=r: r.step > 0) for r in runs)
    assert stop_all(timeout=30) == []
    for r, w in zip(runs, writers):
        assert not r.alive and r.status == "stopped"
        assert r.message == f"stopped at step {r.step} (the server stopped)"
        saved = load_run(w.path)
        assert saved.status == "stopped" and saved.records[-1].step == r.step
    assert done.status == "finished" and done.message == "finished"
    assert stop_all(timeout=30) == []  # nothing left to stop


def _wait_for(cond, timeout: float = 30.0) -> bool:
    import time

    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


def test_nonfinite_loss_stops_with_a_suggestion():
    exp = NC.from_preset("smoke", lr=10.0, init_std=3.0, depth=4, steps=2000, record_every=1)
    r = Runner(exp, seed=0, device="cpu").start()
    assert r.join(60)
    assert r.status == "failed"
    assert "non-finite" in r.message and "learning rate" in r.message


def test_writer_then_load_run_round_trips(tmp_path):
    exp = NC.from_preset("smoke")
    w = RunWriter(exp, seed=2, device="cpu", root=tmp_path)
    r = Runner(exp, seed=2, device="cpu", writer=w, flush_interval=0.0).start()
    assert r.join(30) and r.status == "finished"
    saved = load_run(w.path)
    assert saved.seed == 2 and saved.experiment.config() == exp.config()
    assert [x.step for x in saved.records] == [x.step for x in r.history]
    for a, b in zip(saved.records, r.history):
        for k, v in b.scalars.items():
            assert a.scalars[k] == pytest.approx(v, rel=1e-12, abs=1e-300), k
    np.testing.assert_allclose(saved.arrays["gram_features"], r.final.arrays["gram_features"])
    assert saved.final.notes == r.final.notes
    summary = json.loads((w.path / "summary.json").read_text())
    assert summary["status"] == "finished" and "objective" in summary["theory"]
    env = json.loads((w.path / "env.json").read_text())
    assert {"orthoviz", "torch", "numpy", "device", "seed"} <= set(env)
    assert list_runs(tmp_path) == [w.path]


def test_metrics_csv_is_appended_and_grows_columns(tmp_path):
    from orthoviz.runtime import Record
    from orthoviz.runtime.store import load_metrics

    w = RunWriter(NC.from_preset("smoke"), seed=0, device="cpu", root=tmp_path)
    w.append([Record(0, "train", {"a": 1.0})])
    w.append([Record(1, "train", {"a": 2.0})])
    w.append([Record(2, "final", {"a": 3.0, "b": 4.0})])  # a new column: rewritten
    rows = load_metrics(w.path / "metrics.csv")
    assert [r["a"] for r in rows] == [1.0, 2.0, 3.0]
    assert "b" not in rows[0] and rows[2]["b"] == 4.0
