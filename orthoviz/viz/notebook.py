"""Notebook helpers: run an experiment with a progress bar and draw its views.

``state = run(exp)`` consumes ``exp.run(seed, device)`` under a ``tqdm.auto`` bar
(a widget in JupyterLab, text in a terminal or under nbclient), merges the arrays by
key as the runner does and returns the :class:`~orthoviz.viz.spec.ViewState` the app's
views draw from; ``curves(state, i)`` and ``pane(state, title)`` draw one of them.
"""

from __future__ import annotations

import time

from tqdm.auto import tqdm

from orthoviz.viz.common import build_pane, ensure_bokeh
from orthoviz.viz.curves import figure
from orthoviz.viz.spec import ViewState, views_for


def run(exp, seed: int = 0, device: str = "auto", progress: bool = True) -> ViewState:
    """Run ``exp`` to the end and return its view state (``state.records``,
    ``state.seconds`` are attached for printing)."""
    records, arrays = [], {}
    t0 = time.perf_counter()
    with tqdm(total=exp.total_steps(), desc=exp.key, unit="step", disable=not progress,
              mininterval=0.5) as bar:
        for rec in exp.run(seed=seed, device=device):
            records.append(rec)
            arrays.update(rec.arrays or {})
            bar.update(max(0, rec.step - bar.n))
    final = records[-1]
    state = ViewState(config=exp, theory=exp.theory(), arrays=arrays,
                      rows=[r.row() for r in records], final=dict(final.scalars))
    state.records = records
    state.seconds = time.perf_counter() - t0
    return state


def curves(state: ViewState, title: str):
    """The declared curve group whose title starts with ``title``."""
    ensure_bokeh()
    views = views_for(type(state.config))
    spec = next(c for c in views.curves if c.title.startswith(title))
    return figure(state.rows, spec, state.config, state.theory)


def pane(state: ViewState, title: str):
    """The pane whose title starts with ``title`` (a placeholder before its data)."""
    ensure_bokeh()
    views = views_for(type(state.config))
    return build_pane(next(p for p in views.panes if p.title.startswith(title)), state)
