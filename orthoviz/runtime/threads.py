"""CPU thread budgets for runs, safe when several runs (sessions) go at once.

torch's intra-op thread count and the BLAS thread counts are process-wide. Saving and
restoring them around each run from its own worker thread is a race: two overlapping
runs can restore each other's values and leave the server on one thread for good. So
every run takes a *lease* here; one lock guards a table of leases and the process-wide
setting is recomputed from the whole table whenever it changes:

    threads = max(1, min(min(wanted), cores // active runs))

and the values found before the first lease are restored when the last one ends.

Small problems want one thread: steps made of small matmuls (N*d ~ 1e4-1e6 elements)
are dominated by thread start-up and synchronisation; on a 2-core machine two intra-op
threads were measured 2-35x slower than one, and far worse under load.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SMALL = 2_000_000  # elements of the largest operand below which one thread wins

_LOCK = threading.Lock()
_LEASES: dict[int, int] = {}  # lease id -> threads wanted
_IDS = itertools.count()
_SAVED: dict = {}  # the process's own settings before the first lease: torch, limiter


def cores() -> int:
    """CPU cores this process may use: its affinity, capped by ``$ORTHOVIZ_CPU_THREADS``
    (a sweep's LocalCluster gives each worker process its share of the cores)."""
    try:
        n = max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        n = max(1, os.cpu_count() or 1)
    cap = os.environ.get("ORTHOVIZ_CPU_THREADS", "")
    return max(1, min(n, int(cap))) if cap.isdigit() and int(cap) > 0 else n


def wanted_threads(n_elements: int, device: str) -> int:
    """Threads a run of this size wants: 1 for a small CPU problem, else every core."""
    if device == "cpu" and n_elements <= SMALL:
        return 1
    return cores()


def _target() -> int | None:
    if not _LEASES:
        return None
    return max(1, min(min(_LEASES.values()), cores() // len(_LEASES)))


def _apply_locked() -> None:
    import torch
    from threadpoolctl import threadpool_limits

    target = _target()
    if target is None:  # the last lease ended: restore what the process had
        if _SAVED:
            torch.set_num_threads(_SAVED.pop("torch"))
            _SAVED.pop("limiter").restore_original_limits()
            _SAVED.pop("applied", None)
        return
    if not _SAVED:
        _SAVED["torch"] = torch.get_num_threads()
        _SAVED["limiter"] = threadpool_limits(limits=target, user_api="blas")
    elif _SAVED.get("applied") != target:
        threadpool_limits(limits=target, user_api="blas")
    if _SAVED.get("applied") != target:
        torch.set_num_threads(target)
        _SAVED["applied"] = target


@contextmanager
def thread_budget(n_elements: int, device: str) -> Iterator[int]:
    """Hold a thread lease while a run computes; yields the lease's wanted threads.

    GPU runs take no lease (their CPU side is one Python thread).
    """
    if device != "cpu":
        yield 0
        return
    want = wanted_threads(n_elements, device)
    with _LOCK:
        lease = next(_IDS)
        _LEASES[lease] = want
        _apply_locked()
    try:
        yield want
    finally:
        with _LOCK:
            _LEASES.pop(lease, None)
            _apply_locked()


def active_leases() -> int:
    """Runs holding a thread lease now (for tests and the server's status)."""
    with _LOCK:
        return len(_LEASES)


#: the name older call sites use
limit_threads = thread_budget
