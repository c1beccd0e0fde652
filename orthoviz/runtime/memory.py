"""Giving memory back to the system after sessions close (no UI imports).

When a served session ends, its explorer, plots and run become garbage, but the
process keeps the pages they used: CPython frees objects into its own pools and
glibc keeps freed blocks in per-thread arenas, so a server's resident memory stays at
its class-time peak (measured: 490 MB after one session, 840 MB after twenty had come
and gone, with no explorer or document alive). :func:`release` collects reference
cycles, then asks glibc to return every free page (``malloc_trim(0)``, which walks all
arenas), and empties CUDA's cache when a GPU was used.

:class:`Releaser` decides when: the server notes each session that ends
(:meth:`Releaser.session_ended`) and polls :meth:`Releaser.due` from a periodic
callback; a release happens once sessions have stopped ending for ``quiet_s`` seconds,
so a class leaving at once costs one collection, not thirty, and two follow-up passes
a few seconds later catch what the first one's aftermath frees. Hand-written: there is
no library call for "trim after a burst" and ``ctypes`` is the only way to reach
``malloc_trim``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import sys
import threading
import time


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = lib.malloc_trim  # glibc only (musl has none)
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lib


_LIBC = _libc()


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_mb() -> float | None:
    """This process's resident memory in MB (Linux; None elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE / 2**20
    except (OSError, IndexError, ValueError):
        return None


_FREEZING = False  # whether this process keeps its long-lived objects frozen


def freeze_survivors() -> int:
    """Collect, then move every object alive to the collector's permanent generation
    (``gc.freeze``), where no collection walks it; from then on :func:`release` thaws
    them first, so what became garbage while frozen is collected there. How many
    objects are frozen.

    For a server, called once its imports are done and again when each page is built
    (a served page is ~56k objects that live as long as its session): a full
    collection blocks the event loop for every page, and walking a class's pages
    took it 0.9-1.9 s, several times a class (benchmarks/load.py). Each call's own
    collection walks only what was not frozen yet (the newest page). The price: a
    frozen object that becomes cyclic garbage (a session's replaced plots) waits for
    the next release, which comes when sessions end (:class:`Releaser`: after a quiet
    spell, or ``max_wait_s`` after the first end while sessions keep ending)."""
    global _FREEZING
    gc.collect()
    gc.freeze()
    _FREEZING = True
    return gc.get_freeze_count()


def freezing() -> bool:
    """Whether :func:`freeze_survivors` was called in this process."""
    return _FREEZING


def release() -> dict:
    """Collect garbage and give free memory back to the system; what was done. After
    :func:`freeze_survivors`, the frozen objects are thawed for the collection and the
    survivors frozen again."""
    before, t0 = rss_mb(), time.perf_counter()
    if _FREEZING:
        gc.unfreeze()
    collected = gc.collect()
    if _FREEZING:
        gc.freeze()
    t1 = time.perf_counter()
    trimmed = bool(_LIBC.malloc_trim(0)) if _LIBC is not None else None
    t2 = time.perf_counter()
    cuda = False
    torch = sys.modules.get("torch")  # never import torch just to release memory
    if torch is not None:
        try:
            if torch.cuda.is_initialized():
                torch.cuda.empty_cache()
                cuda = True
        except Exception:  # a broken CUDA context must not stop the release
            pass
    return {"collected": collected, "trimmed": trimmed, "cuda_emptied": cuda,
            "gc_s": round(t1 - t0, 3), "trim_s": round(t2 - t1, 3),
            "rss_mb": [before, rss_mb()]}


class Releaser:
    """Release once after a burst of ended sessions, then again ``followup_s`` seconds
    after (thread-safe).

    Why the second passes: measured after a 20-session class (benchmarks/load.py), the
    release collected 1.2M objects and took the server from 779 to 615 MB; the pass 2 s
    later collected nothing more and gave back another 117 MB (to 498 MB, 1.03x the
    baseline; the pass at 15 s, 0.1 MB). Part of what a closed session frees is freed
    just after the collection, not by it, and only a later trim returns those pages.
    With the pages frozen (:func:`freeze_survivors`) the pass at 2 s found 55k objects
    of garbage that the first collection had frozen again while still alive, and gave
    back 124 MB; passes that did not thaw gave back nothing (1.29x the baseline), so
    every pass thaws.

    ``max_wait_s``: sessions that keep ending (a lab where someone always leaves) get a
    release at least that long after the first of them ended: under a freeze, a closed
    page is collected by a release only."""

    def __init__(self, quiet_s: float = 5.0, followup_s: tuple[float, ...] = (2.0, 15.0),
                 clock=time.monotonic, max_wait_s: float = 60.0):
        self.quiet_s, self.followup_s, self._clock = quiet_s, tuple(followup_s), clock
        self.max_wait_s = max_wait_s
        self._lock = threading.Lock()
        self._ended_since = 0  # sessions ended since the last release
        self._first_end = self._last_end = 0.0
        self._followups: list[float] = []  # clock times of the passes still to do
        self._pending: dict = {}  # the release under way, with its follow-ups
        self.releases = 0  # releases *done*, follow-ups included: memory is back
        self.last: dict | None = None  # what the last release did, with its seconds

    def session_ended(self) -> None:
        with self._lock:
            if not self._ended_since:
                self._first_end = self._clock()
            self._ended_since += 1
            self._last_end = self._clock()

    def due(self) -> bool:
        """True (once) when sessions ended and none for ``quiet_s`` seconds, or the
        first of them ended ``max_wait_s`` ago."""
        with self._lock:
            now = self._clock()
            if not self._ended_since or (now - self._last_end < self.quiet_s
                                         and now - self._first_end < self.max_wait_s):
                return False
            self._ended_since = 0
            return True

    def poll(self) -> dict | None:
        """Release if due, or do a follow-up pass whose time has come; what was done,
        else None. Counted once the last follow-up is done (a collection and trim after
        a class take seconds: a count raised before would tell a reader the memory was
        back while it was still being given back)."""
        if self.due():
            done = release()
            with self._lock:
                t = self._clock()
                self._followups = [t + s for s in self.followup_s]
                self._pending = {**done, "followups": []}
        else:
            with self._lock:
                if not self._followups or self._clock() < self._followups[0]:
                    return None
                self._followups.pop(0)
            done = release()
            self._pending["followups"].append(done)
        with self._lock:
            if not self._followups:
                self.releases += 1
                self.last = self._pending
        return done


#: the server's releaser (sessions note their end; ``orthoviz serve`` polls it)
RELEASER = Releaser()
