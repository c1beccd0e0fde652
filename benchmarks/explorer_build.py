"""Page-load CPU of the explorer: time to build each experiment's Explorer and render
its Bokeh models (what a session pays at first paint), median of a few builds.

    python benchmarks/explorer_build.py [--label before] [--repeat 5]

Prints a table and writes benchmarks/results/explorer_build[-label].json; compare two
labels (before/after a change) run on the same machine, as a ratio. In the same
process it also renders each page with every pane tab built (``Tabs.dynamic`` off, as
before the panes became tabs): ``all_panes_ms`` and the ratio of what a page costs now.
"""

from __future__ import annotations

import argparse
import statistics
import time

import panel as pn
from bokeh.document import Document

from benchmarks.common import report
from orthoviz.runtime import list_experiments
from orthoviz.ui import Explorer


def build_seconds(key: str, repeat: int, all_panes: bool = False) -> tuple[float, float]:
    """(median seconds to construct the Explorer, median seconds to render its models);
    ``all_panes``: every pane tab rendered, not only the open one."""
    built, rendered = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        e = Explorer(key, preset="smoke")
        if all_panes and e.pane_tabs is not None:  # as before: every pane drawn, built
            for p in e.panes:
                p.shown = True
            e._send_panes(None, force=True)
            e.pane_tabs.dynamic = False
        t1 = time.perf_counter()
        pn.panel(e).get_root(Document())
        t2 = time.perf_counter()
        built.append(t1 - t0)
        rendered.append(t2 - t1)
    return statistics.median(built), statistics.median(rendered)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--label", default="")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    for key in list_experiments():  # warm: imports and first-use caches
        Explorer(key, preset="smoke")
    rows = []
    for key in list_experiments():
        b, r = build_seconds(key, args.repeat)
        ab, ar = build_seconds(key, args.repeat, all_panes=True)
        rows.append({"experiment": key, "build_ms": 1000 * b, "render_ms": 1000 * r,
                     "total_ms": 1000 * (b + r), "all_panes_ms": 1000 * (ab + ar),
                     "ratio": round((b + r) / (ab + ar), 2)})
    name = "explorer_build" + (f"-{args.label}" if args.label else "")
    report(name, rows, {"repeat": args.repeat})


if __name__ == "__main__":
    main()
