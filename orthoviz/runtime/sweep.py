"""Grids of runs on dask.distributed: a LocalCluster by default, a remote scheduler when
given (``scheduler=`` or ``$ORTHOVIZ_DASK_SCHEDULER``).

Each (config, seed) cell is ONE Dask task that runs a whole run and writes its run
folder (:func:`orthoviz.runtime.cells.run_cell`); never one task per step. The grid is
validated before anything is submitted. Rows stream into ``<out>/results.parquet``
(pyarrow present) or ``<out>/results.csv`` as cells finish; a rerun skips the cells the
table (or the cell folders) already hold. Seeds come from the cell only, so a sweep
gives the same numbers on one machine and on a cluster.

Remote workers write the cell folders on their own disks under the same ``out`` path:
put ``out`` on a shared filesystem to keep the folders with the table.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orthoviz.runtime.cells import (
    DONE,
    Cell,
    clean_temporary,
    error_row,
    plan,
    read_cell,
    run_cell,
)
from orthoviz.runtime.errors import ConfigError
from orthoviz.runtime.params import to_jsonable
from orthoviz.runtime.store import _atomic_write, _write_json
from orthoviz.runtime.threads import cores

SCHEDULER_ENV = "ORTHOVIZ_DASK_SCHEDULER"
THREADS_ENV = "ORTHOVIZ_CPU_THREADS"  # read by orthoviz.runtime.threads.cores()
WRITE_EVERY = 0.5  # seconds between rewrites of the results table


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def table_path(out: str | os.PathLike) -> Path:
    """``<out>/results.parquet`` when pyarrow is installed, else ``<out>/results.csv``."""
    return Path(out) / ("results.parquet" if _has_pyarrow() else "results.csv")


def read_table(out: str | os.PathLike):
    """The results table of ``out`` (an empty DataFrame when there is none)."""
    import pandas as pd

    out = Path(out)
    if (out / "results.parquet").exists() and _has_pyarrow():
        return pd.read_parquet(out / "results.parquet")
    if (out / "results.csv").exists():
        exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {
            "float_precision": "round_trip"}  # pandas 3 reads floats exactly by default
        return pd.read_csv(out / "results.csv", **exact)
    return pd.DataFrame()


def _write_table(path: Path, rows: list[dict]) -> None:
    import io

    import pandas as pd

    df = pd.DataFrame(rows)
    if path.suffix == ".parquet":
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        _atomic_write(path, buf.getvalue())
    else:
        _atomic_write(path, df.to_csv(index=False).encode())


def _experiment_class(experiment):
    from orthoviz.runtime.registry import get_experiment

    if isinstance(experiment, str):
        return get_experiment(experiment)
    return experiment if isinstance(experiment, type) else type(experiment)


def _client(scheduler: str | None, workers: int | None):
    """(client, cluster or None). A LocalCluster of processes with one thread each,
    bound to 127.0.0.1, each worker's torch/BLAS threads capped to its share of cores."""
    from distributed import Client, LocalCluster

    address = scheduler or os.environ.get(SCHEDULER_ENV) or None
    if address:
        return Client(address, timeout="30s"), None
    n = max(1, workers or min(cores(), 4))
    share = str(max(1, cores() // n))
    env = {THREADS_ENV: share, "OMP_NUM_THREADS": share, "MKL_NUM_THREADS": share,
           "OPENBLAS_NUM_THREADS": share}
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=None, env=env)
    return Client(cluster), cluster


def _host_cores() -> int:
    """(On a worker) the cores of this machine available to the process, uncapped."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _set_cpu_threads(threads: int) -> int:
    """(On a worker) cap this process's CPU threads; returns the cap."""
    os.environ[THREADS_ENV] = str(threads)
    return cores()


def share_cores(client) -> dict[str, int]:
    """Cap every worker process's torch/BLAS threads to its share of its machine's
    cores (cores x its task threads / the task threads of all the workers on that
    host), so that the cells never oversubscribe a machine. Returns worker address ->
    the cap of its process."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    by_host: dict[str, list[str]] = {}
    for addr, w in workers.items():
        by_host.setdefault(w["host"], []).append(addr)
    caps: dict[str, int] = {}
    for addrs in by_host.values():
        host_cores = next(iter(client.run(_host_cores, workers=addrs[:1]).values()))
        slots = sum(workers[a]["nthreads"] for a in addrs)
        groups: dict[int, list[str]] = {}
        for a in addrs:
            groups.setdefault(max(1, host_cores * workers[a]["nthreads"] // slots),
                              []).append(a)
        for share, group in groups.items():
            caps.update(client.run(_set_cpu_threads, share, workers=group))
    return caps


def parse_grid(items: list[str]) -> dict[str, list[str]]:
    """``key=v1,v2`` items as {key: [text, ...]}; a value that starts with ``[`` is one
    JSON list (a list parameter), and repeating a key adds values."""
    grid: dict[str, list[str]] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError("--grid", item, "KEY=V1,V2,...")
        k, v = item.split("=", 1)
        values = [x.strip() for x in v.split(",") if x.strip()] if not v.strip().startswith(
            "[") else [v.strip()]
        if not values:
            raise ConfigError(k.strip(), v, "one value or more, separated by commas")
        grid.setdefault(k.strip(), []).extend(values)
    return grid


@dataclass
class Plan:
    """A validated sweep: its cells (grid order), the rows already done (cell id ->
    row) and the cells still to run."""

    out: Path
    cells: list[Cell]
    rows: dict[str, dict]
    todo: list[Cell]
    device: str = "cpu"

    @property
    def path(self) -> Path:
        return table_path(self.out)

    def table(self):
        """The rows done so far, in grid order, as a DataFrame."""
        import pandas as pd

        return pd.DataFrame([self.rows[c.id] for c in self.cells if c.id in self.rows])


def _cancel_pending(client, futures: list) -> None:
    """A cancel from another thread: the sweep may have ended and closed its client
    in the meantime (a cancel pressed as the last cell came in), then nothing is
    pending and there is nothing to do."""
    from distributed.client import ClosedClientError

    try:
        client.cancel(futures)
    except ClosedClientError:
        pass


class Cancel:
    """A cancel flag for :func:`run_rows`, settable from any thread: setting it also
    cancels the loop's pending futures, which wakes the loop at once."""

    def __init__(self):
        self._lock = threading.Lock()
        self._set = False
        self._hooks: list = []

    def set(self) -> None:
        """Set the flag and call the hooks, once (a second cancel has nothing to do)."""
        with self._lock:
            if self._set:
                return
            self._set, hooks = True, list(self._hooks)
        for hook in hooks:
            hook()

    def is_set(self) -> bool:
        return self._set

    def bind(self, hook) -> None:
        """Call ``hook`` on :meth:`set` (at once when already set)."""
        with self._lock:
            if not self._set:
                self._hooks.append(hook)
                return
        hook()


def prepare(experiment, preset: str = "default", grid: dict[str, list] | None = None,
            seeds: int | list[int] = 1, out: str | os.PathLike = "sweeps",
            device: str = "cpu") -> Plan:
    """Validate the grid (ConfigError before anything is written), write ``sweep.json``
    and collect the cells the table or the cell folders already hold."""
    cls = _experiment_class(experiment)
    cells = plan(cls, preset, dict(grid or {}), seeds, device)  # raises before any work
    out = Path(out).resolve()
    (out / "cells").mkdir(parents=True, exist_ok=True)
    clean_temporary(out)
    _write_json(out / "sweep.json", {
        "experiment": cls.key, "preset": preset, "grid": to_jsonable(dict(grid or {})),
        "seeds": sorted({c.seed for c in cells}), "device": device,
        "cells": [c.id for c in cells]})
    old = read_table(out)
    rows: dict[str, dict] = {}
    if len(old):
        for r in old.to_dict("records"):
            if r.get("status") in DONE:
                rows[str(r["cell"])] = {k: v for k, v in r.items() if not _missing(v)}
    todo: list[Cell] = []
    for c in cells:  # a folder finished after the table's last write counts as done
        if c.id not in rows and (row := read_cell(out / "cells" / c.id, c)) is not None:
            rows[c.id] = row
        if c.id not in rows:
            todo.append(c)
    return Plan(out, cells, rows, todo, device)


def sweep(
    experiment,
    preset: str = "default",
    grid: dict[str, list] | None = None,
    seeds: int | list[int] = 1,
    scheduler: str | None = None,
    workers: int | None = None,
    out: str | os.PathLike = "sweeps",
    device: str = "cpu",
    progress: bool = True,
):
    """Run every (config, seed) cell of a grid on Dask and return the results table.

    Parameters
    ----------
    experiment : str or Experiment subclass
        Registered key (``"random-features"``) or the class.
    preset : str
        The preset every cell starts from; ``grid`` overrides its values.
    grid : dict of str to list
        Parameter -> values (Python values or CLI text, parsed and checked like
        ``--set``). The cells are the product of the lists, times the seeds.
    seeds : int or list of int
        ``N`` means seeds ``0..N-1``.
    scheduler : str, optional
        Address of a running ``dask scheduler``; default ``$ORTHOVIZ_DASK_SCHEDULER``,
        else a LocalCluster of ``workers`` processes on this machine.
    workers : int, optional
        LocalCluster size (default: the cores, at most 4). Ignored with a scheduler.
    out : path
        The sweep folder: ``results.parquet``/``results.csv``, ``sweep.json`` and
        ``cells/<cell id>/`` run folders.
    device : str
        Device of every run ("cpu" by default: the same numbers everywhere).

    Returns
    -------
    pandas.DataFrame
        One row per cell of this grid (in grid order): ``cell``, the grid values,
        ``seed``, ``status``, ``message``, ``wall_time_s``, ``run_dir``, the final
        coordinates (``coord_*``) and the final scalars. ``df.attrs`` holds
        ``submitted`` (cells run now) and ``skipped`` (found done).

    Raises
    ------
    ConfigError
        A bad grid value (naming the parameter and its allowed range), before anything
        is submitted or written.
    KeyboardInterrupt
        After cancelling the pending cells and writing the table of those done.
    """
    from tqdm.auto import tqdm  # a widget bar in notebooks, text on a terminal

    p = prepare(experiment, preset, grid, seeds, out, device)
    total, todo = len(p.cells), len(p.todo)
    with tqdm(total=total, initial=total - todo, desc="cells", unit="cell",
              file=sys.stderr, disable=not progress) as bar:
        for _ in run_rows(p, scheduler, workers):
            bar.update(1)
    _write_table(p.path, list(p.rows.values()))
    df = p.table()
    df.attrs.update(submitted=todo, skipped=total - todo, table=str(p.path))
    return df


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def run_rows(p: Plan, scheduler: str | None = None, workers: int | None = None,
             cancel: Cancel | None = None) -> Iterator[dict]:
    """Run ``p.todo`` on Dask and yield each cell's row as it finishes (also kept in
    ``p.rows``; the table is rewritten every WRITE_EVERY seconds and at the end).

    Ending early (``cancel`` set, Ctrl-C, or the generator closed) cancels the pending
    cells, writes the table of those done and closes the client and its LocalCluster;
    a later :func:`sweep` of the same grid runs only the rest.
    """
    if not p.todo:
        return
    from distributed import as_completed

    client, cluster = _client(scheduler, workers)
    futures: list = []
    cancel = cancel or Cancel()
    try:
        if cluster is None:  # a LocalCluster's workers got their share at spawn
            share_cores(client)
        if cancel.is_set():
            return
        # seed by seed: the whole grid's first seed lands first (a live view fills
        # every cell early; later seeds refine the means)
        order = sorted(p.todo, key=lambda c: c.seed)
        futures = [client.submit(run_cell, c, str(p.out), p.device,
                                 key=f"orthoviz-cell-{c.id}", pure=False) for c in order]
        cancel.bind(lambda: _cancel_pending(client, futures))
        by_key = {f.key: c for f, c in zip(futures, order)}
        last = time.monotonic()
        for fut in as_completed(futures):
            if cancel.is_set() or fut.status == "cancelled":
                break
            cell = by_key[fut.key]
            try:
                if fut.status == "finished":
                    row = fut.result()
                else:  # the task itself raised or its workers kept dying (KilledWorker)
                    exc = fut.exception()
                    row = error_row(cell, f"{type(exc).__name__}: {exc}")
            except BaseException:  # (Dask's cancellation error is a BaseException)
                if cancel.is_set() or fut.status == "cancelled":
                    break  # cancelled from another thread while this one read the future
                raise
            p.rows[cell.id] = row
            fut.release()
            if time.monotonic() - last >= WRITE_EVERY:
                _write_table(p.path, list(p.rows.values()))
                last = time.monotonic()
            yield row
    except BaseException:  # Ctrl-C, or the consumer closed us: pending cells never start
        client.cancel(futures)
        raise
    finally:
        if cancel.is_set():
            client.cancel(futures)
        _write_table(p.path, list(p.rows.values()))  # the table keeps the done cells
        client.close()
        if cluster is not None:
            cluster.close()
