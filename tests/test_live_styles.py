"""A live plot's frames share their HoloViews options trees (:class:`style.Styles`):
curves and panes render exactly as the static figures do, later frames make no new
trees, the trees go when the plot's Styles and frames do, and a live Layout's
DynamicMaps carry no options of their own (a DynamicMap applies its options tree to
every frame anew)."""

from __future__ import annotations

import gc

import holoviews as hv
import pytest
from holoviews.core.options import Store

from orthoviz.neural_collapse import NeuralCollapse
from orthoviz.random_features import RandomFeatures
from orthoviz.viz import curves as cv
from orthoviz.viz.common import build_pane, ensure_bokeh
from orthoviz.viz.spec import ViewState
from orthoviz.viz.style import DEFAULT, Styles, styled


def _nc_rows(n: int) -> list[dict]:
    return [{"phase": "train", "step": 10 * i, "objective": 1.0 / (i + 1),
             "nc1": 0.5 ** i, "nc1_quotient": 0.7 ** i} for i in range(n)]


def _rf_rows(exp, n: int) -> list[dict]:
    return [{"phase": "point", exp.sweep: 2 ** (i + 2), "trial": t, "ridge": r,
             "test_risk": 1.0 + t + r / (i + 1), "train_risk": 0.5 + t}
            for i in range(n) for t in range(2) for r in exp.ridges]


def _glyphs(obj) -> list:
    """What a page shows of a frame: title, axis scale, legend, each glyph's style."""
    fig = hv.render(obj, backend="bokeh")
    out = [fig.title.text, type(fig.y_scale).__name__,
           [str(i.label) for lg in fig.legend for i in lg.items]]
    for r in fig.renderers:
        g = getattr(r, "glyph", r)
        out.append([type(g).__name__] + [_value(getattr(g, a, None)) for a in (
            "line_color", "line_width", "line_dash", "fill_color", "fill_alpha",
            "line_alpha")])
    return out


def _value(v) -> str:
    """A glyph property as the page sees it: a mapped colour by its field and palette
    (not the mapper's Bokeh id, new in every render)."""
    t = getattr(v, "transform", None)
    if getattr(v, "field", None) is not None and t is not None:
        return f"{v.field}:{type(t).__name__}:{list(getattr(t, 'palette', []))}"
    return str(v)


CASES = [
    ("nc", lambda: NeuralCollapse.from_preset("smoke"), 1, _nc_rows),
    ("rf", lambda: RandomFeatures.from_preset("smoke", ridges=[1e-3, 0.5]), 0, None),
]


@pytest.mark.parametrize("name,make,group,rows", CASES, ids=[c[0] for c in CASES])
def test_live_frames_share_trees_and_render_as_static_figures(name, make, group, rows):
    ensure_bokeh()
    from importlib import import_module

    exp = make()
    views = import_module(f"orthoviz.viz.{exp.key.replace('-', '_')}").VIEWS
    spec = views.curves[group]
    all_rows = rows(8) if rows else _rf_rows(exp, 8)
    colors = cv.Colors()
    logy = spec.logy is True
    lines = cv.theory(spec, exp, {}, logy, colors)  # none: no theory values given
    cuts = [all_rows[: n * (1 if rows else 4)] for n in (2, 4, 8)]

    def live_frames(styles):
        out, trees = [], []
        for part in cuts:
            df = cv.frame(part, spec, exp)
            out.append(cv.overlay(df, spec, exp, lines, logy, colors,
                                  cv.line_keys(df, spec), styles=styles))
            trees.append(len(Store._custom_options["bokeh"]))
        return out, trees

    frames, trees = live_frames(Styles())
    # frames after the first take the first frame's trees: the same ids, no new tree
    ids = [sorted(str(e.id) for e in f.traverse(lambda x: x)) for f in frames]
    assert ids[0] == ids[1] == ids[2]
    assert trees[0] == trees[1] == trees[2]
    shared = {e.id for e in frames[0].traverse(lambda x: x)} - {None}
    assert shared and shared <= set(Store._custom_options["bokeh"])
    # the plot goes (its Styles and frames): HoloViews drops the trees they kept
    # alive (checked before any rendering: HoloViews' renderer keeps its last plot)
    del frames
    gc.collect()
    assert not shared & set(Store._custom_options["bokeh"])

    for part, live in zip(cuts, live_frames(Styles())[0]):
        df = cv.frame(part, spec, exp)
        plain = cv.overlay(df, spec, exp, lines, logy, colors, cv.line_keys(df, spec))
        # the same page: every glyph's colour, width, dash, alpha; title; legend
        assert _glyphs(live) == _glyphs(plain)


def _pane_frames(pane, states, styles):
    """Each state's items as a live pane draws them (styled, framewise), or as a
    static figure would with ``styles=None``."""
    out = []
    for st in states:
        obj = build_pane(pane, ViewState(st.config, st.theory, st.arrays, st.rows,
                                         styles=styles))
        items = list(obj) if isinstance(obj, hv.Layout) else [obj]
        out.append([styled(x, DEFAULT, styles=styles, framewise=True) for x in items])
    return out


@pytest.mark.parametrize("title", ["Geometry in 3-D", "Gram matrices"])
def test_live_pane_frames_share_trees_and_render_as_static_ones(title):
    import numpy as np

    from orthoviz.viz.neural_collapse import VIEWS

    ensure_bokeh()
    exp = NeuralCollapse.from_preset("smoke")
    th = exp.theory()
    pane = next(p for p in VIEWS.panes if p.title.startswith(title))
    keys = ("means_3d", "classifier_3d", "gram_features", "gram_classifier")
    rng = np.random.default_rng(0)
    # a run's arrays moving towards the prediction, frame after frame
    states = [ViewState(exp, th, {k: np.asarray(th[k]) + rng.normal(0, 0.3 / (i + 1),
                                                                      np.shape(th[k]))
                                  for k in keys}, []) for i in range(3)]
    styles = Styles()
    frames = _pane_frames(pane, states, styles)
    ids = [sorted(str(e.id) for f in fr for x in f for e in x.traverse(lambda y: y))
           for fr in [[f] for f in frames]]
    assert ids[0] == ids[1] == ids[2]  # later frames: the first frame's trees
    plain = _pane_frames(pane, states, None)
    for live, static in zip(frames, plain):
        # measured and predicted differ in title and legend: neither takes the other's
        assert [_glyphs(x) for x in live] == [_glyphs(x) for x in static]


def test_a_live_layouts_dynamicmaps_have_no_options_of_their_own():
    pytest.importorskip("panel")
    from orthoviz.ui.plots import LivePane
    from orthoviz.viz.neural_collapse import VIEWS

    ensure_bokeh()
    exp = NeuralCollapse.from_preset("smoke")
    live = LivePane(next(p for p in VIEWS.panes if p.title.startswith("Geometry")))
    assert live.send(ViewState(exp, exp.theory(), {}, []), signature=1, force=True)
    obj = live.pane.object
    assert isinstance(obj, hv.Layout) and len(obj) == 2
    # the Layout keeps its own option (frames side by side, each with its own axes)
    assert Store.lookup_options("bokeh", obj, "plot").kwargs["shared_axes"] is False
    # ...which its DynamicMaps do not carry: none has a tree to apply to each frame
    assert all(isinstance(d, hv.DynamicMap) and d.id is None for d in obj)
    # each frame re-ranges itself (framewise, a normalisation option, given by the
    # frame's own options as the DynamicMap's options gave it before)
    for d in obj:
        frame = d[()]
        assert Store.lookup_options("bokeh", frame, "norm").kwargs["framewise"] is True


def _run_states(exp, n: int = 3) -> list[ViewState]:
    """The states a live pane is sent at a run's last ``n`` records with arrays (the
    arrays merged as the explorer merges them, the rows so far)."""
    recs = list(exp.run(seed=0, device="cpu"))
    th, rows, arrays, out = exp.theory(), [], {}, []
    for r in recs:
        rows.append(r.row())
        if r.arrays:
            arrays.update(r.arrays)
            out.append(ViewState(exp, th, dict(arrays), list(rows)))
    return out[-n:]


def _make(key: str):
    from orthoviz.deep_cg import DeepCG
    from orthoviz.hierarchical import Hierarchical

    return {"nc": lambda: NeuralCollapse.from_preset("smoke", imbalance_ratio=4.0),
            "hier": lambda: Hierarchical.from_preset("smoke"),
            "race": lambda: DeepCG.from_preset("smoke")}[key]()


RUN_PANES = [("nc", "Minority collapse"), ("nc", "Per layer"),
             ("hier", "Learned feature vs p"), ("hier", "Fitted link"),
             ("hier", "Training curve"), ("race", "Residual vs wall time"),
             ("race", "Residuals"), ("race", "Search directions"),
             ("race", "A-orthogonality")]


@pytest.mark.parametrize("key,title", RUN_PANES, ids=[f"{k}-{t}" for k, t in RUN_PANES])
def test_every_live_pane_of_a_run_shares_trees_and_renders_as_static(key, title):
    from orthoviz.viz.spec import views_for

    ensure_bokeh()
    exp = _make(key)
    pane = next(p for p in views_for(type(exp)).panes if p.title == title)
    states = _run_states(exp)
    styles = Styles()
    frames = _pane_frames(pane, states[:1], styles)
    kept, trees = styles.kept, set(Store._custom_options["bokeh"])
    frames += _pane_frames(pane, states[1:], styles)
    ids = [sorted(str(e.id) for x in fr for e in x.traverse(lambda y: y)) for fr in frames]
    # the frames hold the same elements (same options) at the run's end: the later
    # ones take the first's trees, and make no new key or tree of their own
    assert ids[0] == ids[1] == ids[2]
    assert kept > 0 and styles.kept == kept
    assert set(Store._custom_options["bokeh"]) <= trees
    plain = _pane_frames(pane, states, None)
    for live, static in zip(frames, plain):
        assert [_glyphs(x) for x in live] == [_glyphs(x) for x in static]


def test_a_plots_styles_keep_at_most_max_trees():
    # a title with a number in it makes a key per frame: past MAX_TREES the frames are
    # styled as plain options are (same glyphs) and the cache stops growing
    ensure_bokeh()
    styles = Styles()
    n = Styles.MAX_TREES + 10
    out = [styles(hv.Curve([1, 2, 3 + i]), title=f"frame {i}", color="red")
           for i in range(n)]
    assert styles.kept == Styles.MAX_TREES
    assert [_glyphs(x) for x in out[-2:]] == [
        _glyphs(hv.Curve([1, 2, 3 + i]).opts(title=f"frame {i}", color="red"))
        for i in (n - 2, n - 1)]
