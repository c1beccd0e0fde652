"""Several streams in one run (solvers racing, trials): one failure ends one stream.

An experiment that interleaves sub-generators wraps each in :func:`guarded`; an
exception or a non-finite metric inside it becomes one ``phase="failed"`` record with a
note naming the stream, and the other streams go on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from orthoviz.runtime.errors import out_of_memory
from orthoviz.runtime.record import FAILED, Coord, Record


def _label(coords: Mapping[str, Coord]) -> str:
    return ", ".join(f"{k}={v}" for k, v in coords.items()) or "stream"


def guarded(stream: Iterable[Record], coords: Mapping[str, Coord],
            finite_metrics: Iterable[str] = (), hint: str = "") -> Iterator[Record]:
    """Yield ``stream``'s records; end it with a ``failed`` record instead of raising.

    ``coords`` name the stream (``{"solver": "dcdm"}``); they are added to every record
    that lacks them. A NaN or infinite value of a ``finite_metrics`` scalar, or any
    other exception, ends the stream. Stopping (``GeneratorExit``) and running out of
    memory (which ends the whole run, naming what to lower) pass through.
    """
    finite_metrics = tuple(finite_metrics)
    step = 0
    it = iter(stream)
    while True:
        try:
            rec = next(it)
        except StopIteration:
            return
        except Exception as e:  # noqa: BLE001 - the failure is reported, not raised
            if out_of_memory(e):  # the device is full for every stream: end the run
                raise
            msg = f"{_label(coords)} failed at step {step}: {type(e).__name__}: {e}"
            yield Record(step, FAILED, {}, notes=(msg,), coords=dict(coords))
            return
        step = rec.step
        if coords and any(k not in rec.coords for k in coords):
            rec = Record(rec.step, rec.phase, rec.scalars, rec.arrays, rec.notes,
                         {**coords, **rec.coords}, rec.artifacts)
        bad = rec.nonfinite(finite_metrics)
        if bad is not None:
            close = getattr(it, "close", None)
            if close is not None:
                close()
            msg = f"{_label(coords)}: '{bad}' became non-finite at step {rec.step}"
            yield Record(rec.step, FAILED, {}, notes=(msg + (f": {hint}" if hint else ""),),
                         coords=dict(rec.coords))
            return
        yield rec


def interleave(streams: list[Iterator[Record]]) -> Iterator[Record]:
    """Round-robin over several streams (one record each in turn) until all end.

    A race of solvers shown live needs every solver to advance together; a finished
    stream simply drops out.
    """
    active = list(streams)
    while active:
        for s in list(active):
            try:
                yield next(s)
            except StopIteration:
                active.remove(s)
