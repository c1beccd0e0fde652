"""The background sweep handle: every row streams through ``drain``, the rows are those of
the blocking ``sweep()``, and a cancel mid-sweep leaves a consistent partial table that a
resume completes (a LocalCluster of one worker; random-features smoke cells)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from orthoviz.runtime.sweep import read_table, sweep  # noqa: E402
from orthoviz.runtime.sweep_handle import start_sweep  # noqa: E402

EXP = "random-features"
GRID = {"n": ["16", "32"], "sweep_values": ["8", "32"]}  # 2 x 2: k = the one swept value
SCALARS = ("test_risk_best", "theory_rel_error_median", "noise_var")


def poll(handle, timeout: float = 240.0, on_row=None) -> list[dict]:
    """Drain the handle until it ends, as the page's pump does."""
    got, deadline = [], time.monotonic() + timeout
    while True:
        ended = handle.done  # read before draining: that drain holds the last rows
        new = handle.drain()
        got += new
        if new and on_row is not None:
            on_row(got)
        if ended:
            return got
        assert time.monotonic() < deadline, "the sweep did not end"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def streamed(tmp_path_factory):
    out = tmp_path_factory.mktemp("handle")
    h = start_sweep(EXP, "smoke", GRID, seeds=1, out=out, workers=1)
    return h, poll(h), out


def test_handle_streams_every_row_of_the_grid(streamed):
    h, drained, out = streamed
    assert h.status == "finished" and h.error == ""
    assert h.progress == (4, 4) and h.drain() == []  # nothing twice
    assert sorted(r["cell"] for r in drained) == sorted(c.id for c in h.plan.cells)
    assert {r["status"] for r in drained} == {"finished"}
    assert {(r["n"], r["sweep_values"]) for r in drained} == {
        (n, f"[{k}]") for n in (16, 32) for k in (8, 32)}
    table = read_table(out).set_index("cell")  # written when the loop ended
    for r in drained:
        assert {k: table.loc[r["cell"], k] for k in SCALARS} == {k: r[k] for k in SCALARS}
    assert json.loads((out / "sweep.json").read_text())["experiment"] == EXP


def test_cancel_leaves_a_partial_table_and_resume_completes_it(streamed, tmp_path):
    _, full, _ = streamed
    seeds = [0, 1, 2, 3, 4]  # 20 cells: the cancel lands while most are still pending
    h = start_sweep(EXP, "smoke", GRID, seeds=seeds, out=tmp_path, workers=1)
    partial = poll(h, on_row=lambda rows: h.cancel())  # at every poll with rows
    assert h.status == "cancelled"
    h.cancel()  # again, once the sweep has closed its client: nothing to do, no error
    assert 1 <= len(partial) < 20
    table = read_table(tmp_path)
    assert sorted(table["cell"]) == sorted(r["cell"] for r in partial)  # every done row
    assert set(table["status"]) == {"finished"}
    for r in partial:
        assert (Path(r["run_dir"]) / "summary.json").exists()
    # (a cell cut by the cluster's close may leave a temporary folder: the resume
    # removes it, checked below)

    df = sweep(EXP, preset="smoke", grid=GRID, seeds=seeds, workers=1, out=tmp_path,
               progress=False)
    assert len(df) == 20 and set(df["status"]) == {"finished"}
    assert df.attrs["submitted"] + df.attrs["skipped"] == 20
    assert df.attrs["skipped"] >= len(partial)  # the cancelled sweep's cells were kept
    assert not list((tmp_path / "cells").glob(".tmp-*"))
    # the same cells as the 1-seed handle sweep (same cell ids) hold the same numbers:
    # the handle's rows are sweep()'s rows
    by_cell = df.set_index("cell")
    for r in full:
        assert {k: by_cell.loc[r["cell"], k] for k in SCALARS} == {k: r[k] for k in SCALARS}


def test_a_cancel_after_the_client_closed_does_nothing():
    """The cancel hook may run after the sweep closed its client (a cancel pressed as
    the last cell came in): Dask then refuses, and the hook takes that as done; the
    flag's hooks run once however often it is set."""
    from distributed.client import ClosedClientError

    from orthoviz.runtime.sweep import Cancel, _cancel_pending

    class Closed:
        calls = 0

        def cancel(self, futures):
            Closed.calls += 1
            raise ClosedClientError("Client is closed. Can't send cancel-keys message.")

    flag = Cancel()
    flag.bind(lambda: _cancel_pending(Closed(), ["f"]))
    flag.set()
    flag.set()
    assert flag.is_set() and Closed.calls == 1


def test_a_served_sweep_waits_for_its_slots_and_gives_them_back(tmp_path):
    """A sweep given the run limit (as a served page starts it) waits while the slots
    are taken, queued with its place and no cluster started; it runs once they free,
    and gives them back when it ends. Cancelled while queued, it runs nothing."""
    from orthoviz.runtime.capacity import Admission

    table = Admission(max_runs=1)
    blocker = table.request("cpu")  # a run of another session holds the only slot
    h = start_sweep(EXP, "smoke", GRID, seeds=1, out=tmp_path / "a", workers=1,
                    admission=table)
    gone = start_sweep(EXP, "smoke", GRID, seeds=1, out=tmp_path / "b", workers=1,
                       admission=table)
    time.sleep(1.0)
    assert (h.status, h.queue_place, h.progress) == ("queued", (1, 2), (0, 4))
    assert (gone.status, gone.queue_place) == ("queued", (2, 2))
    gone.cancel()  # leaves the queue at once; its thread ends without a cluster
    assert gone.join(30) and gone.status == "cancelled" and gone.progress == (0, 4)
    assert h.queue_place == (1, 1)
    blocker.release()
    rows = poll(h)
    assert h.status == "finished" and len(rows) == 4
    assert table.counts() == {"running": 0, "running_gpu": 0, "waiting": 0}
