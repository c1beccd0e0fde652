"""Consumers' helpers: a record stream to rows, a DataFrame, the final record."""

from __future__ import annotations

from collections.abc import Iterable

from orthoviz.runtime.record import Record


def collect(records: Iterable[Record]) -> list[Record]:
    """Drain a stream into a list."""
    return list(records)


def rows(records: Iterable[Record]) -> list[dict]:
    """Flat dicts (step, phase, scalars) for tables and CSV."""
    return [r.row() for r in records]


def to_frame(records: Iterable[Record]):
    """A pandas DataFrame of the scalars (pandas imported lazily)."""
    import pandas as pd

    return pd.DataFrame(rows(records))


def final(records: Iterable[Record]) -> Record | None:
    """The ``phase="final"`` record, or None if the stream was cut short."""
    last = None
    for r in records:
        if r.is_final:
            last = r
    return last
