"""Deep conjugate directions: the solver race, served at /deep_cg by
`panel serve apps/*.py` (training the network: /deep_cg_train).

Thin on purpose: the shell lives in ``orthoviz.ui``, the figures in
``orthoviz.viz.deep_cg``. Importing this file has no side effect.
"""

import panel as pn

from orthoviz.ui import Explorer

if pn.state.served:
    pn.extension()
    Explorer("deep-cg").servable(title="orthoviz: Deep conjugate directions")
