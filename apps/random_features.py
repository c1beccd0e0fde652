"""Random features explorer, served at /random_features by `panel serve apps/*.py`.

Thin on purpose: the shell lives in ``orthoviz.ui``, the figures in
``orthoviz.viz.random_features``. Importing this file has no side effect.
"""

import panel as pn

from orthoviz.ui import Explorer

if pn.state.served:
    pn.extension()
    Explorer("random-features").servable(title="orthoviz: Random features")
