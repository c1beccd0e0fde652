"""The unit of the run protocol: what every ``Experiment.run`` yields."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FINAL = "final"


@dataclass(frozen=True)
class Record:
    """One observation of a running experiment.

    Parameters
    ----------
    step : int
        Iteration (or sweep point) counter; non-decreasing within a run.
    phase : str
        Short tag: ``"train"``, ``"trial"``, ... and exactly one ``"final"`` at the end.
    scalars : mapping of str to float
        Metric values, stable snake_case names documented by each algorithm package.
    arrays : mapping of str to ndarray, optional
        Occasional small snapshots (Gram matrices, class means) for geometry views.
    notes : tuple of str
        Sentences for the user (e.g. a warning that training ended at a local
        minimum); the final record carries the run's verdicts.
    """

    step: int
    phase: str = "train"
    scalars: Mapping[str, float] = field(default_factory=dict)
    arrays: Mapping[str, np.ndarray] | None = None
    notes: tuple[str, ...] = ()

    @property
    def is_final(self) -> bool:
        return self.phase == FINAL

    def row(self) -> dict[str, Any]:
        """Flat dict for tables/CSV: step, phase and the scalars."""
        return {"step": self.step, "phase": self.phase, **self.scalars}

    def nonfinite(self, names) -> str | None:
        """First of ``names`` whose value is NaN or infinite, else None."""
        for k in names:
            v = self.scalars.get(k)
            if v is not None and not math.isfinite(v):
                return k
        return None
