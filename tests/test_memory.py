"""Memory goes back to the system after sessions close (orthoviz.runtime.memory)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from orthoviz.runtime import memory

ROOT = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    pytest.skip("no /proc/self/status")


@pytest.mark.skipif(memory._LIBC is None, reason="glibc's malloc_trim only")
def test_release_returns_freed_heap_pages():
    """192 MB of 64 KB blocks (below glibc's mmap threshold: they live in the heap),
    all freed but the last, which pins the heap's top: glibc keeps the freed pages
    (RSS stays up) until malloc_trim returns them. Bounds: the freed 192 MB must
    mostly go (RSS within 64 MB of where it was before the allocation: allocator and
    interpreter noise is a few MB), and must not have gone before the release (else
    the test proves nothing about it)."""
    memory.release()  # free pages left by earlier tests would absorb the allocation
    before = rss_mb()
    blocks = [np.ones(64 * 1024 // 8) for _ in range(3000)]
    full = rss_mb()
    assert full - before > 150
    last = blocks[-1]
    del blocks
    held = rss_mb()
    assert held - before > 150, "glibc returned the pages by itself: nothing to test"
    done = memory.release()
    assert done["trimmed"] is not None
    assert rss_mb() - before < 64, (before, full, held, rss_mb())
    assert last.sum() == last.size  # kept alive until here


def test_releaser_waits_for_the_burst_to_end():
    """One release per burst of ended sessions, after quiet_s without another."""
    now = [100.0]
    r = memory.Releaser(quiet_s=5.0, followup_s=(), clock=lambda: now[0])
    assert not r.due()  # nothing ended yet
    r.session_ended()
    now[0] += 3.0
    r.session_ended()  # still ending: the clock restarts
    now[0] += 4.0
    assert not r.due()
    now[0] += 1.5
    assert r.due() and r.releases == 0  # due, not done: counted once released
    assert not r.due()  # once per burst
    r.session_ended()
    now[0] += 5.0
    assert r.poll() is not None and r.releases == 1 and r.last["trimmed"] is not None
    assert r.poll() is None and r.releases == 1


def test_sessions_that_keep_ending_are_released_within_max_wait():
    """A session ends every 3 s (never 5 s quiet): a release still comes max_wait_s
    after the first end it has not covered (under a freeze, closed pages are collected
    only by a release)."""
    now = [0.0]
    r = memory.Releaser(quiet_s=5.0, followup_s=(), clock=lambda: now[0], max_wait_s=60.0)
    due = []
    for _ in range(60):
        r.session_ended()
        now[0] += 3.0
        if r.due():
            due.append(now[0])
    # ends at 0, 3, ..., 177 s: each release 60 s after the first end it covers
    assert due == [60.0, 120.0, 180.0]


def test_release_reports_what_it_did():
    done = memory.release()
    assert set(done) == {"collected", "trimmed", "cuda_emptied", "gc_s", "trim_s", "rss_mb"}
    assert done["collected"] >= 0 and done["cuda_emptied"] in (False, True)
    assert done["gc_s"] >= 0 and done["trim_s"] >= 0


def test_release_is_counted_after_its_follow_ups():
    """A release, then a pass at each follow-up time (each a collection and trim,
    with resident memory before and after); the count goes up after the last one,
    and ``last`` holds the release with its follow-ups."""
    now = [0.0]
    r = memory.Releaser(quiet_s=5.0, followup_s=(2.0, 15.0), clock=lambda: now[0])
    r.session_ended()
    now[0] += 5.0
    first = r.poll()
    assert first is not None and r.releases == 0 and r.last is None
    assert r.poll() is None  # the first follow-up is 2 s away
    now[0] += 2.0
    assert r.poll() is not None and r.releases == 0
    now[0] += 12.9
    assert r.poll() is None
    now[0] += 0.1
    second = r.poll()
    assert second is not None and r.releases == 1
    assert r.last["collected"] == first["collected"]
    assert len(r.last["followups"]) == 2 and r.last["followups"][-1] is second
    assert set(second) >= {"collected", "trimmed", "gc_s", "trim_s", "rss_mb"}
    assert r.poll() is None and r.releases == 1  # nothing more until sessions end
    now[0] += 100.0
    assert r.poll() is None and r.releases == 1


def test_a_new_burst_restarts_the_follow_ups():
    now = [0.0]
    r = memory.Releaser(quiet_s=5.0, followup_s=(2.0,), clock=lambda: now[0])
    r.session_ended()
    now[0] += 5.0
    assert r.poll() is not None
    r.session_ended()  # another group leaves before the follow-up
    now[0] += 2.0
    assert r.poll() is not None and r.releases == 1  # the first release's follow-up
    now[0] += 3.0
    assert r.poll() is not None and r.releases == 1  # the second burst's release
    now[0] += 2.0
    assert r.poll() is not None and r.releases == 2


def test_frozen_garbage_waits_for_the_release():
    """After ``freeze_survivors`` (a server, at each built page) no collection walks the
    frozen objects, so a frozen cycle that becomes garbage is not collected by a
    collection, but is by the release, which thaws, collects and freezes the
    survivors again. A process that never froze is
    left unfrozen by a release. In fresh interpreters (a freeze is process-wide)."""
    code = """
import gc, weakref
from orthoviz.runtime import memory
memory.release()
assert gc.get_freeze_count() == 0 and not memory.freezing()
class Cycle: pass
keep = Cycle(); keep.me = keep
memory.freeze_survivors()
a = Cycle(); a.me = a; r = weakref.ref(a)
n = memory.freeze_survivors()
assert memory.freezing() and r() is a and n == gc.get_freeze_count()
del a
gc.collect()
assert r() is not None  # frozen: no collection walks it
memory.release()
assert r() is None  # the release thawed it: collected
assert gc.get_freeze_count() > 0 and keep.me is keep  # survivors frozen again
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
