"""Server CPU of one live draw of each live plot: frames that share their
options trees (orthoviz.viz.style.Styles; live Layouts whose DynamicMaps carry no
options) against the per-frame options HoloViews otherwise builds.

Each plot is rendered into a Bokeh document (as under ``panel serve``) and fed the
states of real runs: the neural-collapse smoke preset with 2000 steps (every pane and
curve group), and the hierarchical and deep-CG smoke presets (the panes a run redraws).
30 draws of each pane (the run's arrays scaled a little per draw, so each draw has new
data; its rows) and 30 draws of each NC curve group (rows appended per draw). Two
modes in the same process, alternated per plot:

- ``shared``: the code as served;
- ``per_frame``: the baseline, as before the change: every ``.opts`` builds a new
  options tree (Styles made a no-op) and a live Layout gets its options by ``.opts``,
  which gives each of its DynamicMaps an options tree that HoloViews applies anew to
  every frame.

Run: ``python benchmarks/live_styles.py``; the CPU ratio per plot is the saving.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import holoviews as hv  # noqa: E402
import numpy as np  # noqa: E402
import panel as pn  # noqa: E402
from bokeh.document import Document  # noqa: E402
from common import report  # noqa: E402

from orthoviz.deep_cg import DeepCG  # noqa: E402
from orthoviz.hierarchical import Hierarchical  # noqa: E402
from orthoviz.neural_collapse import NeuralCollapse  # noqa: E402
from orthoviz.runtime import Runner  # noqa: E402
from orthoviz.ui import plots  # noqa: E402
from orthoviz.ui.docmodels import lazy_models  # noqa: E402
from orthoviz.viz import style  # noqa: E402
from orthoviz.viz.common import ensure_bokeh  # noqa: E402
from orthoviz.viz.neural_collapse import VIEWS  # noqa: E402
from orthoviz.viz.spec import ViewState, views_for  # noqa: E402

DRAWS = 30
STEPS = 2000  # a record every 10 steps: 201 rows, ~6 new rows per curve draw


class PerFrame(style.Styles):
    """The baseline: every call builds a new options tree (plain ``.opts``)."""

    def __call__(self, el, **options):
        return el.opts(**options)


def _served(obj) -> Document:
    doc = Document()
    lazy_models(doc)
    doc.add_root(obj.get_root(doc))
    return doc


def _time(doc, draw) -> list[float]:
    out = []
    for i in range(1, DRAWS + 1):
        c = time.process_time()
        with pn.io.hold(doc):
            draw(i)
        out.append((time.process_time() - c) * 1000)
    return out


def pane_draws(pane, run, mode: str) -> list[float]:
    exp, theory, arrays, rows = run
    live = plots.LivePane(pane)
    doc = _served(live.panel)

    def state(i):
        return ViewState(exp, theory, {k: np.asarray(v) * (1 + 0.01 * i)
                                       for k, v in arrays.items()}, rows)

    live.send(state(0), 0, force=True)
    obj = live.pane.object
    if mode == "per_frame" and isinstance(obj, hv.Layout):
        # as before: .opts on the live Layout, which hands its options tree to each
        # DynamicMap in it, and a DynamicMap applies its tree to every frame anew
        obj.opts(shared_axes=False, clone=False)
        assert all(d.id is not None for d in obj)
    return _time(doc, lambda i: live.send(state(i), i, force=True))


def curve_draws(spec, exp, theory, rows, mode: str) -> list[float]:
    live = plots.LiveCurves(spec, exp, theory)
    doc = _served(live.panel)
    per = max(1, len(rows) // (DRAWS + 1))
    live.send(rows[:per])
    return _time(doc, lambda i: live.send(rows[i * per:(i + 1) * per]))


def _run(exp):
    """(config, theory, latest arrays, rows) of a finished run."""
    run = Runner(exp, seed=0, device="cpu").start()
    run.join(300)
    return exp, run.theory, dict(run.latest_arrays), [r.row() for r in run.history]


#: the panes a run redraws, per experiment (theory-only panes draw once per config)
LIVE_PANES = {
    "hierarchical": ("Learned feature vs p", "Fitted link", "Training curve"),
    "deep-cg": ("Residual vs wall time", "Residuals", "Search directions",
                "A-orthogonality"),
}


def main() -> int:
    ensure_bokeh()
    nc = _run(NeuralCollapse.from_preset("smoke", steps=STEPS))  # as load.py runs it
    exp, theory, _, rows = nc
    jobs = [(f"NC pane: {p.title}", lambda m, p=p: pane_draws(p, nc, m)) for p in VIEWS.panes]
    jobs += [(f"NC curves: {c.title[:32]}",
              lambda m, c=c: curve_draws(c, exp, theory, rows, m)) for c in VIEWS.curves]
    for other in (Hierarchical.from_preset("smoke"), DeepCG.from_preset("smoke")):
        run = _run(other)
        jobs += [(f"{other.key} pane: {p.title}", lambda m, p=p, run=run: pane_draws(p, run, m))
                 for p in views_for(type(other)).panes if p.title in LIVE_PANES[other.key]]
    shared_styles = plots.Styles
    result = []
    for name, job in jobs:
        med = {}
        for mode in ("per_frame", "shared", "per_frame", "shared"):  # alternate: drift
            plots.Styles = PerFrame if mode == "per_frame" else shared_styles
            try:
                med.setdefault(mode, []).append(statistics.median(job(mode)))
            finally:
                plots.Styles = shared_styles
        pf, sh = min(med["per_frame"]), min(med["shared"])
        result.append({"plot": name, "per_frame_cpu_ms": round(pf, 1),
                       "shared_cpu_ms": round(sh, 1), "ratio": round(sh / pf, 2)})
    report("live_styles", result, {"draws": DRAWS, "preset": "smoke", "steps": STEPS})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
