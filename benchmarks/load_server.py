"""``orthoviz serve`` with a sampler, for benchmarks/load.py (not a user entry point).

Runs :func:`orthoviz.ui.serve.serve_apps` in this process and, on a daemon thread,
appends one JSON line every ``--every`` seconds to ``--samples``: resident memory,
threads (all, and orthoviz run threads), server CPU seconds, the admission table and
how many times the server gave memory back after sessions ended.
When the file ``--samples``.probe appears, the sampler also walks the heap once
(``gc.collect()``, then counts live explorers and Bokeh documents, and reads glibc's
allocator statistics) and writes the
result to ``--samples``.heap, then deletes the probe file.

Usage: ``python benchmarks/load_server.py --samples FILE -- APPS --port P [...]``
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import sys
import threading
import time
from pathlib import Path


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]


def malloc_info() -> dict:
    """glibc's own account (all arenas): bytes in use (Python objects under
    PYTHONMALLOC=malloc, numpy and torch buffers) and bytes free but kept by the
    allocator. Resident memory above in-use + free is other mappings (libraries,
    stacks); a gap between the baseline's and the after's in-use is live memory, a
    gap in free is fragmentation. Empty off glibc."""
    try:
        fn = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return {}
    fn.restype = _MallInfo2
    m = fn()
    mb = 1 / 2**20
    return {"in_use_mb": round((m.uordblks + m.hblkhd) * mb, 1),
            "free_mb": round(m.fordblks * mb, 1), "mmapped_mb": round(m.hblkhd * mb, 1)}


def heap_probe() -> dict:
    """Live explorers and Bokeh documents after a full collection."""
    from collections import Counter

    from bokeh.document import Document

    from orthoviz.ui.explorer import Explorer

    gc.collect()
    objs = gc.get_objects()
    types = Counter(f"{getattr(type(o), '__module__', '?')}.{type(o).__qualname__}"
                    for o in objs)
    return {"explorers": sum(isinstance(o, Explorer) for o in objs),
            "documents": sum(isinstance(o, Document) for o in objs),
            "objects": len(objs), "types": dict(types.most_common(60)),
            "rss_mb": round(rss_mb(), 1), "malloc": malloc_info()}


def sample_forever(path: Path, every: float) -> None:
    from orthoviz.runtime.capacity import ADMISSION
    from orthoviz.runtime.memory import RELEASER

    probe, heap = Path(f"{path}.probe"), Path(f"{path}.heap")
    while True:
        names = [t.name for t in threading.enumerate()]
        row = {"t": time.time(), "rss_mb": round(rss_mb(), 1),
               "threads": len(os.listdir("/proc/self/task")),
               "run_threads": sum(n.startswith("orthoviz-") for n in names),
               "cpu_s": round(time.process_time(), 2), "releases": RELEASER.releases,
               **ADMISSION.counts()}
        with open(path, "a") as f:
            f.write(json.dumps(row) + "\n")
        if probe.exists():
            tmp = heap.with_name(heap.name + ".tmp")
            tmp.write_text(json.dumps(heap_probe()))
            tmp.replace(heap)  # whole or absent: the reader polls for it
            probe.unlink()
        time.sleep(every)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--samples", required=True)
    p.add_argument("--every", type=float, default=0.5)
    p.add_argument("serve", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from orthoviz.cli import main as cli_main

    threading.Thread(target=sample_forever, args=(Path(args.samples), args.every),
                     name="load-sampler", daemon=True).start()
    rest = [a for a in args.serve if a != "--"]
    return cli_main(["serve", *rest])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
