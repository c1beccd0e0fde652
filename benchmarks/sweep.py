"""A 100-cell smoke sweep on a LocalCluster of 1 and 2 workers against the same cells
run one by one in this process.

Reports wall time, cells per second, the scaling ratio (1 worker / 2 workers) and the
per-cell overhead of Dask against in-process, with and without the cluster start-up
(measured alone). Writes benchmarks/results/sweep.json.

    .venv/bin/python benchmarks/sweep.py [--cells 100]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import report  # noqa: E402

EXP = "neural-collapse"


def grid_for(cells: int) -> tuple[dict, int]:
    """depth x lr x seeds with ``cells`` cells (100: 5 depths x 4 rates x 5 seeds)."""
    depths, lrs = [1, 2, 3, 4, 5], [0.02, 0.05, 0.1, 0.2]
    seeds = max(1, cells // (len(depths) * len(lrs)))
    return {"depth": depths, "lr": lrs}, seeds


def in_process(grid: dict, seeds: int, out: str) -> tuple[float, int]:
    from orthoviz.runtime.cells import plan, run_cell
    from orthoviz.runtime.registry import get_experiment

    cells = plan(get_experiment(EXP), "smoke", grid, seeds)
    t0 = time.perf_counter()
    for c in cells:
        run_cell(c, out)
    return time.perf_counter() - t0, len(cells)


def startup(workers: int) -> float:
    """Seconds to start and close a LocalCluster of ``workers`` like the sweep's."""
    from orthoviz.runtime.sweep import _client

    t0 = time.perf_counter()
    client, cluster = _client(None, workers)
    client.wait_for_workers(workers)
    client.run(lambda: __import__("orthoviz.neural_collapse"))  # what the first cell does
    client.close()
    cluster.close()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=100)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from orthoviz.runtime.sweep import sweep

    grid, seeds = grid_for(args.cells)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base, n = in_process(grid, seeds, f"{tmp}/inproc")
        rows.append({"mode": "in-process", "workers": 0, "cells": n, "wall_s": base,
                     "cells_per_s": n / base, "startup_s": 0.0, "overhead_ms": 0.0,
                     "overhead_ms_no_startup": 0.0})
        walls = {}
        for w in (1, 2):
            up = startup(w)
            t0 = time.perf_counter()
            df = sweep(EXP, preset="smoke", grid=grid, seeds=seeds, workers=w,
                       out=f"{tmp}/w{w}", progress=False)
            wall = walls[w] = time.perf_counter() - t0
            assert len(df) == n and set(df["status"]) == {"finished"}
            ideal = base / w  # in-process time shared perfectly between the workers
            rows.append({"mode": "dask LocalCluster", "workers": w, "cells": n,
                         "wall_s": wall, "cells_per_s": n / wall, "startup_s": up,
                         "overhead_ms": 1000 * (wall - ideal) * w / n,
                         "overhead_ms_no_startup": 1000 * (wall - up - ideal) * w / n})
    ratio = walls[1] / walls[2]
    rows[-1]["scaling"] = ratio
    report("sweep", rows, {"experiment": EXP, "preset": "smoke", "grid": grid,
                           "seeds": seeds, "scaling_1_to_2_workers": ratio,
                           "note": "overhead_ms: (wall - in-process/workers) * workers "
                                   "/ cells, per cell and worker"})


if __name__ == "__main__":
    main()
