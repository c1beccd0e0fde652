"""HoloViews builders: records and arrays in, hv elements out. Never computes a metric.

Each algorithm has ``orthoviz/viz/<package>.py`` defining ``VIEWS`` (a
:class:`~orthoviz.viz.spec.Views`); the explorer shell finds it with
:func:`views_for`, so a new algorithm plugs in without touching the shell.
"""

from orthoviz.viz.spec import Curves, Pane, Views, ViewState, views_for

__all__ = ["Curves", "Pane", "ViewState", "Views", "views_for"]
