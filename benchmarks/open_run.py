"""Time of "Open run" in one session after a run (the explorer's work, no browser):
run a config, save it, run another config, then open the saved run; CPU seconds of
``open_run`` (median of a few opens) and how many Bokeh plot objects it replaced.

    python benchmarks/open_run.py [--label before] [--steps 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from benchmarks.common import report
from orthoviz.ui import Explorer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--label", default="")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as root:
        e = Explorer("neural-collapse", config={"steps": args.steps, "record_every": 10},
                     runs_root=root)
        e.start()
        e.runner.join(600)
        path = e.save_run()
        e.set_config(lr=0.05)
        e.start()
        e.runner.join(600)
        cpu, wall = [], []
        for _ in range(args.repeat):
            objs = [p.pane.object for p in e.panes] + [c.pane.object for c in e.curves]
            t0, c0 = time.perf_counter(), time.process_time()
            e.open_run(path)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            new = [p.pane.object for p in e.panes] + [c.pane.object for c in e.curves]
            replaced = sum(a is not b for a, b in zip(objs, new, strict=True))
        rows.append({"records": len(e.history), "open_cpu_s": statistics.median(cpu),
                     "open_wall_s": statistics.median(wall), "plots_replaced": replaced,
                     "plots": len(new)})
    report("open_run" + (f"-{args.label}" if args.label else ""), rows)


if __name__ == "__main__":
    main()
