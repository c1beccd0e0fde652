"""Neural collapse explorer, served at /neural_collapse by `panel serve apps/*.py`.

Thin on purpose: the shell lives in ``orthoviz.ui``, the figures in
``orthoviz.viz.neural_collapse``. Importing this file has no side effect.
"""

import panel as pn

from orthoviz.ui import Explorer

if pn.state.served:
    pn.extension()
    Explorer("neural-collapse").servable(title="orthoviz: Neural collapse")
