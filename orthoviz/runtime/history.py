"""A run's history in memory, bounded: a long run cannot exhaust the server.

Past ``limit`` records the older half is thinned: every other record of a step curve
(phase ``train``, no coordinates) goes; records that carry coordinates (sweep points,
solver iterations), failures and the final record are always kept, because views reduce
over them. The run folder of a writer keeps every row.
"""

from __future__ import annotations

from collections.abc import Iterator

from orthoviz.runtime.record import Record


class History:
    """A list-like, append-only sequence of records with a memory bound."""

    def __init__(self, limit: int = 20_000):
        self.limit = max(16, int(limit))
        self._items: list[Record] = []
        self.thinned = 0  # records dropped so far

    def append(self, rec: Record) -> None:
        self._items.append(rec)
        if len(self._items) > self.limit:
            self._thin()

    def _thin(self) -> None:
        half = len(self._items) // 2
        old, new = self._items[:half], self._items[half:]
        kept, drop = [], False
        for r in old:
            if r.coords or r.phase != "train":
                kept.append(r)
                continue
            if not drop:
                kept.append(r)
            drop = not drop
        self.thinned += len(old) - len(kept)
        self._items = kept + new
        if len(self._items) > self.limit:  # nothing thinnable left: keep the newest
            self.thinned += len(self._items) - self.limit
            self._items = self._items[-self.limit:]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Record]:
        return iter(list(self._items))

    def __getitem__(self, i):
        return self._items[i]

    def __bool__(self) -> bool:
        return bool(self._items)
