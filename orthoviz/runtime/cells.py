"""The cells of a sweep: planning and validating a grid, running one cell, the table.

A cell is one (config, seed) pair of a sweep: one whole run, written into its own run
folder ``<out>/cells/<cell id>/`` exactly like ``orthoviz run`` writes one. The cell id
is derived from the experiment, the full config and the seed only, so a rerun of the
same sweep finds the cells it already finished. Nothing here imports dask: a cell runs
the same in-process (tests, benchmarks) and inside a Dask task
(:mod:`orthoviz.runtime.sweep`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orthoviz.runtime.errors import ConfigError
from orthoviz.runtime.params import check_finite, to_jsonable

#: statuses of a cell that a rerun skips (a failed run fails again: it is deterministic)
DONE = ("finished", "failed")
CELLS = "cells"


@dataclass(frozen=True)
class Cell:
    """One (config, seed) cell: ``values`` are the grid's values for it (JSON-ready),
    ``config`` the experiment's whole config (``Experiment.config()``)."""

    experiment: str
    values: dict[str, Any]
    seed: int
    config: dict[str, Any] = field(repr=False)

    @property
    def id(self) -> str:
        """``<grid values>-s<seed>-<hash of experiment, config and seed>``: readable,
        unique and the same on every machine and every rerun."""
        blob = json.dumps([self.experiment, self.config, self.seed], sort_keys=True)
        digest = hashlib.sha256(blob.encode()).hexdigest()[:10]
        words = "_".join(f"{k}={_text(v)}" for k, v in self.values.items())
        slug = re.sub(r"[^A-Za-z0-9._=-]+", "-", words)[:80].strip("-_")
        return f"{slug + '-' if slug else ''}s{self.seed}-{digest}"


def _text(v: Any) -> str:
    return json.dumps(v) if isinstance(v, list | dict) else str(v)


def plan(cls, preset: str, grid: dict[str, list], seeds, device: str = "cpu") -> list[Cell]:
    """Every cell of ``grid`` x ``seeds``, each validated before anything runs.

    ``grid`` maps a parameter to its values (Python values or CLI text); ``seeds`` is a
    count ``N`` (seeds ``0..N-1``) or a list of seeds. Raises :class:`ConfigError`
    naming the parameter, the value and the allowed range for the first bad value,
    cross-parameter conflict or refused size.
    """
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ConfigError("seeds", seeds, "an integer >= 1")
        seeds = list(range(seeds))
    seeds = list(seeds)
    for s in seeds:
        if not isinstance(s, int) or isinstance(s, bool) or s < 0:
            raise ConfigError("seed", s, "an integer >= 0")
    base = cls.from_preset(preset)
    for key, values in grid.items():
        if not isinstance(values, list | tuple) or not values:
            raise ConfigError(key, values, "a non-empty list of values")
        for v in values:  # each value alone first: the message names this key
            cls.from_preset(preset).set(**{key: v})
    cells = []
    for combo in itertools.product(*grid.values()):
        exp = cls.from_preset(preset).set(**dict(zip(grid, combo)))
        values = {k: getattr(exp, k) for k in grid}  # parsed from text, typed
        for seed in seeds:
            _check(exp, seed, device)
            cells.append(Cell(cls.key, to_jsonable(values), seed, exp.config()))
    if not cells:  # an empty grid is one cell: the preset itself
        cells = [Cell(cls.key, {}, s, base.config()) for s in seeds]
        for s in seeds:
            _check(base, s, device)
    ids = [c.id for c in cells]
    if len(set(ids)) != len(ids):
        raise ConfigError("grid", grid, "distinct values (a value is repeated)")
    return cells


def _check(exp, seed: int, device: str) -> None:
    if device == "cpu":  # the full check: cross-parameter rules and the memory guard
        exp.check(seed, "cpu")
    else:  # the workers' device may not exist here: check what does not depend on it
        check_finite(exp)
        exp.validate()


def run_cell(cell: Cell, out: str, device: str = "cpu") -> dict[str, Any]:
    """Run ``cell`` (or find it done) and return its row of the results table.

    The run goes into a temporary folder under ``<out>/cells`` that is renamed to the
    cell id when the run has ended, so a cell folder, once there, is complete; a cell
    whose worker died leaves only a temporary folder, which the next attempt ignores.
    """
    from orthoviz.runtime.registry import get_experiment
    from orthoviz.runtime.runner import Runner
    from orthoviz.runtime.store import RunWriter

    cells_dir = Path(out) / CELLS
    folder = cells_dir / cell.id
    found = read_cell(folder, cell)
    if found is not None:
        return found
    exp = get_experiment(cell.experiment).from_config(cell.config)
    tmp = cells_dir / f".tmp-{cell.id}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    writer = RunWriter(exp, cell.seed, device, root=tmp)
    runner = Runner(exp, cell.seed, device, writer=writer, flush_interval=1.0)
    runner.start().join()
    try:
        os.rename(writer.path, folder)
    except OSError:  # another attempt of this cell finished first: keep that one
        if read_cell(folder, cell) is None:
            raise
    shutil.rmtree(tmp, ignore_errors=True)
    return read_cell(folder, cell) or {}


def read_cell(folder: Path, cell: Cell) -> dict[str, Any] | None:
    """The row of a finished cell folder, or None when there is none (or it is not
    done)."""
    try:
        summary = json.loads((folder / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(summary, dict) or summary.get("status") not in DONE:
        return None
    final_coords = _final_coords(folder)
    row = {"cell": cell.id, **{k: _cell_value(v) for k, v in cell.values.items()},
           "seed": cell.seed, "status": summary["status"], "message": summary.get("message"),
           "wall_time_s": summary.get("wall_time_s"), "run_dir": str(folder)}
    row.update({f"coord_{k}": v for k, v in final_coords.items()})
    row.update(summary.get("final") or {})
    return row


def error_row(cell: Cell, message: str) -> dict[str, Any]:
    """The row of a cell whose task raised (or whose workers kept dying)."""
    return {"cell": cell.id, **{k: _cell_value(v) for k, v in cell.values.items()},
            "seed": cell.seed, "status": "error", "message": message}


def _cell_value(v: Any) -> Any:
    return json.dumps(v) if isinstance(v, list | dict) else v


def _final_coords(folder: Path) -> dict[str, Any]:
    """Coordinates of the final record (the last row of metrics.csv)."""
    from orthoviz.runtime.rundir import load_metrics

    try:
        rows = load_metrics(folder / "metrics.csv")
        summary = json.loads((folder / "summary.json").read_text())
    except (OSError, ValueError):
        return {}
    if not rows or rows[-1].get("phase") != "final":
        return {}
    coords = summary.get("coords") or []
    return {k: rows[-1][k] for k in coords if rows[-1].get(k) not in (None, "")}


def clean_temporary(out: str | os.PathLike) -> None:
    """Remove the temporary folders of cells whose worker died (call only while no
    sweep writes into ``out``)."""
    for p in (Path(out) / CELLS).glob(".tmp-*"):
        shutil.rmtree(p, ignore_errors=True)
