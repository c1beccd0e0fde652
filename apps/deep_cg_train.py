"""Deep conjugate directions: training the direction network live, compared with the
packaged one, served at /deep_cg_train by `panel serve apps/*.py`.

Thin on purpose: the shell lives in ``orthoviz.ui``, the figures in
``orthoviz.viz.deep_cg``. Importing this file has no side effect.
"""

import panel as pn

from orthoviz.ui import Explorer

if pn.state.served:
    pn.extension()
    Explorer("deep-cg-train").servable(title="orthoviz: Training the DCDM network")
