"""Sweeps on dask.distributed: a LocalCluster, an external scheduler and workers on
127.0.0.1, a worker killed mid-sweep, resuming, and numbers identical to in-process runs.

Every dask process a test starts is killed by it (process groups, SIGKILL).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from orthoviz.runtime.cells import plan, run_cell  # noqa: E402
from orthoviz.runtime.errors import ConfigError  # noqa: E402
from orthoviz.runtime.registry import get_experiment  # noqa: E402
from orthoviz.runtime.sweep import read_table, sweep  # noqa: E402

EXP = "neural-collapse"
DASK = str(Path(sys.executable).parent / "dask")
ENV = dict(os.environ, OMP_NUM_THREADS="1", ORTHOVIZ_CPU_THREADS="1")


def in_process(values: dict, seed: int) -> dict:
    """Final scalars of the same cell run in this process, without any sweep code."""
    exp = get_experiment(EXP).from_preset("smoke", **values)
    return dict(list(exp.run(seed=seed, device="cpu"))[-1].scalars)


def _spawn(args: list[str], cwd: Path, log: str) -> subprocess.Popen:
    with open(cwd / log, "w") as out:
        return subprocess.Popen([DASK, *args], cwd=cwd, env=ENV, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def start_worker(address: str, cwd: Path, name: str) -> subprocess.Popen:
    """``dask worker ADDRESS`` without a nanny (its pid is the worker's), one thread."""
    return _spawn(["worker", address, "--no-nanny", "--nthreads", "1", "--host", "127.0.0.1",
                   "--no-dashboard", "--name", name, "--local-directory", str(cwd)], cwd,
                  f"{name}.log")


def wait_workers(address: str, n: int, timeout: float = 60.0) -> None:
    from distributed import Client

    with Client(address, timeout="30s") as c:
        c.wait_for_workers(n, timeout=timeout)


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """``dask scheduler`` and one ``dask worker`` as separate processes on 127.0.0.1."""
    import socket

    cwd = tmp_path_factory.mktemp("dask")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    procs = [_spawn(["scheduler", "--host", "127.0.0.1", "--port", str(port),
                     "--no-dashboard"], cwd, "scheduler.log")]
    try:
        time.sleep(1.0)
        procs.append(start_worker(address, cwd, "worker-b"))
        wait_workers(address, 1)
        yield address, cwd
    finally:
        for p in reversed(procs):
            _kill(p)


def test_local_cluster_of_two_workers_matches_in_process_runs(tmp_path):
    grid = {"depth": [1, 2], "lr": ["0.05", "0.1"]}  # CLI text is parsed like --set
    df = sweep(EXP, preset="smoke", grid=grid, seeds=1, workers=2, out=tmp_path,
               progress=False)
    assert len(df) == 4 and set(df["status"]) == {"finished"}
    assert df.attrs["submitted"] == 4 and df.attrs["skipped"] == 0
    for row in df.to_dict("records"):
        run_dir = Path(row["run_dir"])
        assert run_dir.parent == tmp_path / "cells" and run_dir.name == row["cell"]
        for f in ("config.json", "metrics.csv", "summary.json", "env.json"):
            assert (run_dir / f).exists(), f
        want = in_process({"depth": row["depth"], "lr": row["lr"]}, int(row["seed"]))
        assert {k: row[k] for k in want} == want  # bit for bit: seeds come from the cell
    table = read_table(tmp_path)
    assert sorted(table["cell"]) == sorted(df["cell"])
    assert not list((tmp_path / "cells").glob(".tmp-*"))


def test_in_process_cell_is_the_same_run_as_a_dask_cell(tmp_path):
    cell = plan(get_experiment(EXP), "smoke", {"depth": [2]}, [3])[0]
    row = run_cell(cell, str(tmp_path))
    assert row["status"] == "finished" and row["cell"] == cell.id
    assert {k: row[k] for k in ("loss", "nc1")} == {
        k: v for k, v in in_process({"depth": 2}, 3).items() if k in ("loss", "nc1")}
    again = run_cell(cell, str(tmp_path))  # found done: not run again
    assert again == row
    from orthoviz.runtime.store import load_run

    saved = load_run(row["run_dir"])  # a cell folder opens like any run folder
    assert saved.final.scalars["nc1"] == row["nc1"] and saved.seed == 3


def test_bad_grid_value_raises_and_writes_nothing(tmp_path):
    with pytest.raises(ConfigError, match="'depth'.*allowed.*1 <= depth <= 12"):
        sweep(EXP, preset="smoke", grid={"depth": [1, 99]}, out=tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_cli_bad_grid_value_exits_2_one_line_nothing_runs(tmp_path):
    p = subprocess.run([sys.executable, "-m", "orthoviz.cli", "sweep", EXP, "--preset",
                        "smoke", "--grid", "depth=1,2", "--grid", "lr=0.1,-3", "--out",
                        str(tmp_path / "s")], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and "'lr'" in err[0] and "allowed" in err[0], p.stderr
    assert p.stdout == "" and not (tmp_path / "s").exists()


def test_resumed_sweep_runs_only_the_missing_cells(scheduler, tmp_path, monkeypatch):
    address, _ = scheduler
    monkeypatch.setenv("ORTHOVIZ_DASK_SCHEDULER", address)  # no scheduler= argument
    first = sweep(EXP, preset="smoke", grid={"depth": [1, 2]}, seeds=1, out=tmp_path,
                  progress=False)
    assert first.attrs["submitted"] == 2
    kept, lost = first.to_dict("records")
    kept_mtime = (Path(kept["run_dir"]) / "summary.json").stat().st_mtime_ns
    # an interrupted sweep: one cell never finished (no folder, no row)
    import shutil

    shutil.rmtree(lost["run_dir"])
    table = read_table(tmp_path)
    path = Path(first.attrs["table"])
    rest = table[table["cell"] != lost["cell"]]
    rest.to_parquet(path, index=False) if path.suffix == ".parquet" else rest.to_csv(
        path, index=False)
    again = sweep(EXP, preset="smoke", grid={"depth": [1, 2, 3]}, seeds=1, out=tmp_path,
                  progress=False)
    assert again.attrs == {**again.attrs, "submitted": 2, "skipped": 1}
    assert list(again["depth"]) == [1, 2, 3] and set(again["status"]) == {"finished"}
    assert (Path(kept["run_dir"]) / "summary.json").stat().st_mtime_ns == kept_mtime
    redo = again.set_index("cell").loc[lost["cell"]]
    assert redo["nc1"] == lost["nc1"] and redo["loss"] == lost["loss"]
    assert len(read_table(tmp_path)) == 3


def test_worker_killed_mid_sweep_loses_nothing(scheduler, tmp_path):
    address, cwd = scheduler
    from distributed import Client

    from orthoviz.runtime.sweep import _host_cores, share_cores

    victim = start_worker(address, cwd, "worker-a")
    try:
        wait_workers(address, 2)
        with Client(address, timeout="30s") as c:  # two 1-thread workers on one host
            assert set(share_cores(c).values()) == {max(1, _host_cores() // 2)}
        out = tmp_path / "s"
        cmd = [sys.executable, "-m", "orthoviz.cli", "sweep", EXP, "--preset", "smoke",
               "--grid", "depth=1,2", "--grid", "steps=1500", "--seeds", "2",
               "--scheduler", address, "--out", str(out), "--json", "--no-progress"]
        sweep_proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, env=ENV)
        deadline, running = time.monotonic() + 60, []
        while not running and time.monotonic() < deadline:  # a cell running on the victim
            running = list((out / "cells").glob(f".tmp-*-{victim.pid}-*"))
            time.sleep(0.05)
        assert running, "the victim worker never started a cell"
        cell_id = running[0].name[len(".tmp-"):].rsplit("-", 2)[0]
        _kill(victim)
        stdout, stderr = sweep_proc.communicate(timeout=120)
    finally:
        _kill(victim)
    assert sweep_proc.returncode == 0, stderr
    res = json.loads(stdout)
    assert res["cells"] == 4 and res["submitted"] == 4
    rows = {r["cell"]: r for r in res["rows"]}
    assert len(rows) == 4 and {r["status"] for r in rows.values()} == {"finished"}
    assert (out / "cells" / cell_id / "summary.json").exists()  # the killed cell reran
    assert len(read_table(out)) == 4
    r = rows[cell_id]
    want = in_process({"depth": r["depth"], "steps": 1500}, r["seed"])
    assert {k: r[k] for k in ("loss", "nc1")} == {k: want[k] for k in ("loss", "nc1")}
