"""Panel components: the explorer shell every app uses (imports Panel).

``Explorer("neural-collapse")`` displays in a notebook after ``pn.extension()`` and is
served by the thin scripts in ``apps/``. Nothing in ``orthoviz.ui`` computes a metric.
"""

from orthoviz.ui.explorer import Explorer

__all__ = ["Explorer"]
