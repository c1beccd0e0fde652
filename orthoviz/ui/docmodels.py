"""A served page's Bokeh document walks its model graph only when the graph changed.

Bokeh recomputes the set of a document's models (a walk of every model reachable from
its roots) each time the outermost ``doc.models.freeze()`` ends, and HoloViews freezes
around every plot update. A live plot update only changes data, yet each one paid a
walk of the whole page: the neural-collapse page has ~4000 models, and the walk was
~40% of a live tick's server CPU (profiled: 14 walks, 2.6 s of 7.1 s in ticks).

:func:`lazy_models` makes a document's model manager skip that walk unless the graph
may have changed, which Bokeh itself signals: a property change whose old or new value
references models calls ``invalidate()`` (``Model.trigger``), and adding or removing a
root changes the roots. Data-only changes (``ColumnDataSource`` data, streams and
patches, numbers, strings) reference no models and need no walk.

Hand-written: Bokeh has no option for it, and its maintainers keep the manager as
low-level API (bokeh/bokeh#11707), so this is one small subclass swapped in per served
document, tested against a full walk after every kind of change (tests/ui/test_docmodels.py).
"""

from __future__ import annotations

from bokeh.document.models import DocumentModelManager


class LazyModelManager(DocumentModelManager):
    """A manager whose unfreeze recomputes only after an ``invalidate()`` or a change
    of the document's roots."""

    _dirty = True  # instances swapped in start dirty: one walk, then lazy
    _roots_seen: tuple = ()
    walks = 0  # recomputes done (for tests and profiling)

    def invalidate(self) -> None:
        self._dirty = True
        super().invalidate()  # unfrozen: recomputes at once, as Bokeh does

    def recompute(self) -> None:
        doc = self._document()
        self._roots_seen = tuple(id(r) for r in doc.roots) if doc is not None else ()
        self._dirty = False
        self.walks += 1
        super().recompute()

    def _pop_freeze(self) -> None:
        self._freeze_count -= 1
        if self._freeze_count == 0 and self._changed():
            self.recompute()

    def _changed(self) -> bool:
        if self._dirty:
            return True
        doc = self._document()
        return doc is not None and tuple(id(r) for r in doc.roots) != self._roots_seen


def lazy_models(doc) -> None:
    """Give ``doc`` the lazy manager (idempotent; a document without one is left)."""
    models = getattr(doc, "models", None)
    if isinstance(models, DocumentModelManager) and not isinstance(models, LazyModelManager):
        models.__class__ = LazyModelManager
