"""The lazy model manager (orthoviz.ui.docmodels) against Bokeh's full walk.

The invariant is Bokeh's own: after every outermost freeze ends, the document's models
are exactly the models reachable from its roots. It is checked after each kind of
change a live page makes (streamed data, a pane's element replaced, a layout grown, a
root removed and added); the saving is that a data-only update walks nothing where
Bokeh's manager walks the page.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import pytest
from bokeh.document import Document
from bokeh.document.models import DocumentModelManager

from orthoviz.ui.docmodels import LazyModelManager, lazy_models

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class CountingManager(DocumentModelManager):
    """Bokeh's manager, counting its walks (the reference the saving is measured by)."""

    walks = 0

    def recompute(self) -> None:
        self.walks += 1
        super().recompute()


def reachable(doc: Document) -> set:
    return {m.id for r in doc.roots for m in r.references()}


def page(doc: Document):
    hv.extension("bokeh", logo=False)
    buffer = hv.streams.Buffer(pd.DataFrame({"x": [0.0], "y": [0.0]}), length=100,
                               index=False)
    curve = pn.pane.HoloViews(hv.DynamicMap(hv.Curve, streams=[buffer]))
    pane = pn.pane.HoloViews(hv.Scatter([(0, 0), (1, 1)]))
    col = pn.Column(curve, pane, pn.pane.Markdown("step 0"))
    doc.add_root(col.get_root(doc))
    return buffer, pane, col


def send(doc: Document, buffer, i: int) -> None:
    with pn.io.hold(doc, freeze=True):  # as the explorer's tick does
        buffer.send(pd.DataFrame({"x": [float(i)], "y": [float(i * i)]}))


@pytest.mark.parametrize("manager", [CountingManager, LazyModelManager])
def test_the_documents_models_are_the_reachable_ones_after_every_change(manager):
    doc = Document()
    buffer, pane, col = page(doc)
    doc.models.__class__ = manager
    doc.models.recompute()
    assert {m.id for m in doc.models} == reachable(doc)
    changes = [
        lambda: send(doc, buffer, 1),  # data only
        lambda: setattr(pane, "object", hv.Image(np.eye(3))),  # new plot, new models
        lambda: col.append(pn.pane.Markdown("a note")),  # a layout grows
        lambda: send(doc, buffer, 2),
        lambda: col.pop(-1),  # and shrinks: its models leave the document
    ]
    for change in changes:
        change()
        assert {m.id for m in doc.models} == reachable(doc)
    extra = pn.pane.Markdown("another root").get_root(doc)
    doc.add_root(extra)
    assert {m.id for m in doc.models} == reachable(doc)
    assert extra.id in {m.id for m in doc.models}
    doc.remove_root(extra)
    assert {m.id for m in doc.models} == reachable(doc)
    assert extra.id not in {m.id for m in doc.models}


def test_a_data_update_walks_nothing_where_bokeh_walks_the_page():
    walks = {}
    for manager in (CountingManager, LazyModelManager):
        doc = Document()
        buffer, _, _ = page(doc)
        doc.models.__class__ = manager
        send(doc, buffer, 1)  # the first update may add glyph models: a walk
        before = doc.models.walks
        for i in range(2, 7):
            send(doc, buffer, i)
        walks[manager.__name__] = doc.models.walks - before
        assert {m.id for m in doc.models} == reachable(doc)
    assert walks["CountingManager"] >= 5  # Bokeh: one walk an update at least
    assert walks["LazyModelManager"] == 0


def test_lazy_models_swaps_once_and_leaves_other_objects():
    doc = Document()
    lazy_models(doc)
    assert type(doc.models) is LazyModelManager
    lazy_models(doc)  # idempotent
    assert type(doc.models) is LazyModelManager
    lazy_models(object())  # nothing to swap: no error
