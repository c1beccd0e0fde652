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


def arenas() -> list[dict]:
    """glibc's ``malloc_info`` per arena: MB the arena holds from the system and MB
    free in its bins, split at the page size (free blocks under a page sit between
    live ones: no trim can give them back). Empty off glibc."""
    import tempfile
    import xml.etree.ElementTree as ET

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.fopen.restype = ctypes.c_void_p
        libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
        libc.fclose.argtypes = [ctypes.c_void_p]
    except (OSError, AttributeError):
        return []
    with tempfile.NamedTemporaryFile(suffix=".xml") as tmp:
        f = libc.fopen(tmp.name.encode(), b"w")
        libc.malloc_info(0, f)
        libc.fclose(f)
        root = ET.fromstring(Path(tmp.name).read_text())
    mb, out = 1 / 2**20, []
    for heap in root.findall("heap"):
        small = sum(int(x.get("total", 0)) for x in heap.iter("size")
                    if int(x.get("to", 0)) < 4096)
        big = sum(int(x.get("total", 0)) for x in heap.iter("size")
                  if int(x.get("to", 0)) >= 4096)
        unsorted = sum(int(x.get("total", 0)) for x in heap.iter("unsorted"))
        system = {x.get("type"): int(x.get("size")) for x in heap.findall("system")}
        out.append({"nr": int(heap.get("nr")), "system_mb": round(system.get("current", 0) * mb, 1),
                    "free_under_page_mb": round(small * mb, 1),
                    "free_over_page_mb": round(big * mb, 1),
                    "unsorted_mb": round(unsorted * mb, 1)})
    return out


def mappings() -> dict:
    """Resident MB by kind of mapping (/proc/self/smaps): the main heap, anonymous
    memory (other malloc arenas, thread stacks, large blocks), files (libraries)."""
    kinds: dict[str, float] = {}
    kind = None
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
            name = head[5] if len(head) > 5 else ""
            kind = "heap" if name == "[heap]" else "stack" if name.startswith("[stack") \
                else "anon" if not name else "other" if name.startswith("[") else "file"
        elif head and head[0] == "Rss:" and kind:
            kinds[kind] = kinds.get(kind, 0.0) + int(head[1]) / 1024
    return {k: round(v, 1) for k, v in kinds.items()}


def survivors(top: int = 25) -> list[dict]:
    """With ``LOAD_TRACEMALLOC=frames`` in the environment, the first heap probe starts
    tracemalloc and each later one lists where the memory still traced was allocated
    (everything allocated since the first probe and alive now, by traceback, largest
    count first): the objects a class leaves behind, which pin the pages around them."""
    import tracemalloc

    frames = int(os.environ.get("LOAD_TRACEMALLOC", "0") or 0)
    if not frames:
        return []
    if not tracemalloc.is_tracing():
        tracemalloc.start(frames)
        return []
    here = str(Path(__file__).resolve())
    snap = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, here)])
    total = sum(s.count for s in snap.statistics("filename"))
    stats = sorted(snap.statistics("traceback"), key=lambda s: -s.count)[:top]
    return [{"count": total, "kb": None, "where": ["(all)"]}] + [
        {"count": s.count, "kb": round(s.size / 1024, 1),
         "where": [f"{f.filename.split('site-packages/')[-1]}:{f.lineno}"
                   for f in s.traceback]} for s in stats]


_WARM_IDS: set[int] = set()


def _name(o) -> str:
    t = type(o)
    return f"{getattr(t, '__module__', '?')}.{t.__qualname__}"


def new_objects(top: int = 30) -> dict:
    """With ``LOAD_NEW_OBJECTS=1`` in the environment, the first heap probe notes every
    object the collector tracks and each later one describes the tracked objects made
    since and still alive (what a class leaves behind: each pins the heap page it sits
    on): counts by type, what the new weak references and bound builtins point at,
    which classes were made, and who holds the new dicts and lists."""
    import _abc
    import abc
    import weakref
    from collections import Counter

    if not os.environ.get("LOAD_NEW_OBJECTS"):
        return {}
    objs = gc.get_objects()
    if not _WARM_IDS:
        _WARM_IDS.update(map(id, objs))
        return {}
    new = [o for o in objs if id(o) not in _WARM_IDS]
    del objs
    fresh = {id(o) for o in new}
    weak = Counter(f"{_name(o())} cb={getattr(o.__callback__, '__qualname__', None)}"
                   for o in new if isinstance(o, weakref.ReferenceType))
    builtin = Counter(f"{_name(getattr(o, '__self__', None))}.{o.__name__}"
                      for o in new if type(o).__name__ == "builtin_function_or_method")
    funcs = Counter(f"{o.__module__}.{o.__qualname__}" for o in new
                    if type(o).__name__ == "function")
    abcs: Counter = Counter()  # which ABC caches the new weak references sit in
    for o in gc.get_objects():
        if isinstance(o, abc.ABCMeta):
            for kind, refs in zip(("registry", "cache", "negative"), _abc._get_dump(o)):
                k = sum(id(r) in fresh for r in refs)
                if k:
                    abcs[f"{o.__module__}.{o.__qualname__} {kind}"] += k
    timers = Counter(repr(getattr(o, "_callback", None))[:90] for o in new
                     if type(o).__name__ == "TimerHandle")
    holders: Counter = Counter()
    # a sample of the new containers: each get_referrers walks the whole heap
    for o in [o for o in new if type(o) in (dict, list, tuple, set)][::7][:150]:
        refs = [r for r in gc.get_referrers(o) if r is not new]
        holders[f"{type(o).__name__} <- " + ", ".join(
            sorted({_name(r) + ("(new)" if id(r) in fresh else "") for r in refs[:3]}))] += 1
    return {"count": len(new), "types": dict(Counter(map(_name, new)).most_common(top)),
            "weakrefs_to": dict(weak.most_common(top)),
            "builtins": dict(builtin.most_common(top)),
            "functions": dict(funcs.most_common(top)),
            "classes": [f"{o.__module__}.{o.__qualname__}" for o in new
                        if isinstance(o, type)][:top],
            "holders": dict(holders.most_common(top)), "timers": dict(timers.most_common(top)),
            "abc_token": abc.get_cache_token(), "abc_caches": dict(abcs.most_common(top))}


def heap_probe() -> dict:
    """Live explorers and Bokeh documents after a full collection; resident memory
    before and after the probe's own collection and ``malloc_trim`` (a drop there is
    memory the server's release left resident: measured 623 -> 498 MB after a class,
    before the release had its follow-up pass)."""
    from collections import Counter

    from bokeh.document import Document

    from orthoviz.ui.explorer import Explorer

    def resident() -> dict:
        return {"rss_mb": round(rss_mb(), 1), "heap_mb": mappings().get("heap")}

    before = resident()
    # the server freezes its pages (orthoviz.runtime.memory.freeze_survivors), and
    # neither a collection nor gc.get_objects() sees frozen objects: thaw for the walk
    frozen = gc.get_freeze_count()
    gc.unfreeze()
    gc.collect()
    collected = resident()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    trimmed = resident()
    objs = gc.get_objects()
    types = Counter(f"{getattr(type(o), '__module__', '?')}.{type(o).__qualname__}"
                    for o in objs)
    out = {"explorers": sum(isinstance(o, Explorer) for o in objs),
           "documents": sum(isinstance(o, Document) for o in objs),
           "objects": len(objs), "types": dict(types.most_common(60)),
           "rss_mb": round(rss_mb(), 1), "malloc": malloc_info(),
           "arenas": arenas(), "mappings_mb": mappings(), "survivors": survivors(),
           "new_objects": new_objects(), "frozen_before": frozen,
           "probe_rss": {"before": before, "collected": collected, "trimmed": trimmed}}
    if frozen:
        gc.freeze()  # as the server had it
    return out


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
               "last_release": RELEASER.last,
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
