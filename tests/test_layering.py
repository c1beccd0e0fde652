"""The numerical core imports no UI library (checked in a fresh interpreter)."""

import subprocess
import sys

CODE = """
import sys
import orthoviz, orthoviz.runtime
from orthoviz.runtime import list_experiments
names = list_experiments()  # imports every algorithm package
import orthoviz.cli
bad = sorted(m for m in sys.modules
             if m.split('.')[0] in {'panel', 'holoviews', 'bokeh', 'matplotlib', 'hvplot'})
print(','.join(names))
print(','.join(bad))
"""


def test_core_imports_no_ui_library():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert "neural-collapse" in out[0]
    assert out[1] == "", f"UI modules loaded by the core: {out[1]}"


def test_import_does_not_touch_cuda():
    code = ("import torch, orthoviz.runtime as r; r.list_experiments(); "
            "print(torch.cuda.is_initialized())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"
