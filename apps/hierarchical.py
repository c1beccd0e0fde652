"""Hierarchical polynomials explorer, served at /hierarchical by `panel serve apps/*.py`.

Thin on purpose: the shell lives in ``orthoviz.ui``, the figures in
``orthoviz.viz.hierarchical``. Importing this file has no side effect.
"""

import panel as pn

from orthoviz.ui import Explorer

if pn.state.served:
    pn.extension()
    Explorer("hierarchical").servable(title="orthoviz: Hierarchical polynomials")
