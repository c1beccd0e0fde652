"""Memory goes back to the system after sessions close (orthoviz.runtime.memory)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from orthoviz.runtime import memory


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
    r = memory.Releaser(quiet_s=5.0, clock=lambda: now[0])
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


def test_release_reports_what_it_did():
    done = memory.release()
    assert set(done) == {"collected", "trimmed", "cuda_emptied", "gc_s", "trim_s"}
    assert done["collected"] >= 0 and done["cuda_emptied"] in (False, True)
    assert done["gc_s"] >= 0 and done["trim_s"] >= 0
