"""Server time of one live draw, for each app's default preset (issue: target <= 50 ms).

The explorer is rendered into a Bokeh document as under ``panel serve`` (its models
exist; DynamicMaps are attached), a real run of the default preset fills the Runner's
queue, and the records are replayed in the batches the session's periodic callback
would drain (what the run produces in one PUMP_MS tick, measured from its own wall
time). Each tick's draw (the explorer's ``_pump`` inside ``pn.io.hold``) is timed in
process CPU time and wall time. Also timed: the first paint of the theory-only views.
Each app is drawn twice in the same process: with Bokeh's model manager, which walks
the whole page after every draw, and with the lazy one served pages get
(:mod:`orthoviz.ui.docmodels`, a walk only when a draw adds models); the ratio of their
median draw CPU is the saving.

Run: ``python benchmarks/live.py``. Compare figures only on the same machine, and
prefer the CPU column on a loaded machine (other processes inflate the wall times).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bokeh.document import Document  # noqa: E402
from common import report  # noqa: E402

from orthoviz.runtime import Runner  # noqa: E402
from orthoviz.ui import Explorer  # noqa: E402
from orthoviz.ui.docmodels import lazy_models  # noqa: E402
from orthoviz.ui.stream import PUMP_MS  # noqa: E402


class Replay:
    """A finished Runner whose queue is handed out in tick-sized batches."""

    def __init__(self, runner: Runner, per_tick: int):
        self.__dict__.update({k: getattr(runner, k) for k in (
            "experiment", "seed", "total", "device", "theory", "final", "status",
            "message", "artifacts", "history", "latest_arrays", "arrays_version")})
        self._records, _ = runner.drain()
        self._i, self.per_tick = 0, max(1, per_tick)
        self.step, self.queue_place, self.write_error = 0, None, None

    def drain(self):
        batch = self._records[self._i:self._i + self.per_tick]
        self._i += len(batch)
        if batch:
            self.step = batch[-1].step
        return batch, self._i >= len(self._records)


def measure(app: str, preset: str = "default", lazy: bool = True) -> dict:
    doc = Document()
    if lazy:
        lazy_models(doc)
    t0, c0 = time.perf_counter(), time.process_time()
    ex = Explorer(app, preset=preset)
    ex._served_doc = lambda: doc  # draw inside pn.io.hold(doc) as the server does
    doc.add_root(ex.main.get_root(doc))
    paint_wall, paint_cpu = time.perf_counter() - t0, time.process_time() - c0
    exp = ex.experiment_cls.from_config(ex.config.config())
    exp.share_theory(ex.config)
    runner = Runner(exp, seed=0, device="cpu")
    runner.start().join()
    per_tick = round(len(runner.history) * PUMP_MS / 1000 / max(runner.wall_time, 1e-9))
    replay = Replay(runner, per_tick)
    ex.runner, ex.run_config = replay, exp
    ex._clear_plots()
    walls, cpus = [], []
    while not ex._final_drawn:
        t, c = time.perf_counter(), time.process_time()
        ex._pump(replay)
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    ms = 1000.0
    return {"app": app, "preset": preset, "models": "lazy" if lazy else "bokeh",
            "records": len(replay._records),
            "run_s": round(runner.wall_time, 2), "records_per_tick": replay.per_tick,
            "ticks": len(walls), "first_paint_ms": round(paint_wall * ms),
            "first_paint_cpu_ms": round(paint_cpu * ms),
            "draw_median_ms": round(statistics.median(walls) * ms, 1),
            "draw_cpu_median_ms": round(statistics.median(cpus) * ms, 1),
            "draw_max_ms": round(max(walls) * ms, 1),
            "final_draw_ms": round(walls[-1] * ms, 1)}


if __name__ == "__main__":
    rows, ratios = [], {}
    for app in ("neural-collapse", "random-features"):
        pair = [measure(app, lazy=False), measure(app, lazy=True)]
        rows += pair
        ratios[app] = round(pair[1]["draw_cpu_median_ms"]
                            / max(pair[0]["draw_cpu_median_ms"], 1e-9), 3)
    print("draw CPU, lazy / bokeh manager:", ratios)
    report("live", rows, {"pump_ms": PUMP_MS, "lazy_over_bokeh_draw_cpu": ratios})
