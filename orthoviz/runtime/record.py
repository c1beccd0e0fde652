"""The unit of the run protocol: what every ``Experiment.run`` yields."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FINAL = "final"
FAILED = "failed"  # a stream (one solver, one trial) ended by an error; the run goes on

#: what a coordinate value may be (a size, a trial index, a solver name)
Coord = int | float | str


@dataclass(frozen=True)
class Record:
    """One observation of a running experiment.

    Parameters
    ----------
    step : int
        Progress counter; non-decreasing within a run. The final record's step is the
        experiment's ``total_steps()``.
    phase : str
        Short tag: ``"train"``, ``"point"``, ... ; ``"failed"`` ends one stream; exactly
        one ``"final"`` ends the run.
    scalars : mapping of str to float
        Metric values, stable snake_case names documented by each algorithm package.
        Coordinates never hide here.
    arrays : mapping of str to ndarray, optional
        Occasional small snapshots (Grams, class means, residual images). Consumers
        merge them by key: a record carrying one array keeps the others.
    notes : tuple of str
        Sentences for the user; the final record carries the run's verdicts.
    coords : mapping of str to int, float or str
        Where in the experiment the record stands (``n``, ``k``, ``trial``, ``solver``,
        ``stage``, ...): the axes that views group and reduce over.
    artifacts : mapping of str to object, optional
        Objects the run store saves in the run folder (a ``state_dict``, a matrix);
        never drawn, never kept in the history.
    """

    step: int
    phase: str = "train"
    scalars: Mapping[str, float] = field(default_factory=dict)
    arrays: Mapping[str, np.ndarray] | None = None
    notes: tuple[str, ...] = ()
    coords: Mapping[str, Coord] = field(default_factory=dict)
    artifacts: Mapping[str, Any] | None = None

    @property
    def is_final(self) -> bool:
        return self.phase == FINAL

    def row(self) -> dict[str, Any]:
        """Flat dict for tables/CSV: step, phase, the coordinates and the scalars."""
        return {"step": self.step, "phase": self.phase, **self.coords, **self.scalars}

    def light(self) -> Record:
        """The same record without arrays and artifacts (what a history keeps)."""
        return Record(self.step, self.phase, self.scalars, None, self.notes, self.coords)

    def nonfinite(self, names) -> str | None:
        """First of ``names`` whose value is NaN or infinite, else None."""
        for k in names:
            v = self.scalars.get(k)
            if v is not None and not math.isfinite(v):
                return k
        return None
