"""orthoviz: the geometry of learning, theory beside experiment.

The library is UI-free: ``orthoviz.runtime`` holds the run protocol (a ``param`` config
in, a stream of :class:`~orthoviz.runtime.Record` out) and every algorithm package
registers one :class:`~orthoviz.runtime.Experiment`. Dashboards live in ``orthoviz.ui``
and ``apps/``; nothing imported here pulls in Panel, HoloViews, Bokeh or matplotlib.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
