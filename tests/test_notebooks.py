"""Every notebook executes headless on its *default* preset (nbclient) and prints the
verdict it teaches: neural collapse reaches the predicted optimum, random features
match the eigenframework within the notebook's stated tolerance. Each default must
reach its verdict in under 30 s on a laptop CPU (the ``seconds=`` the notebook prints).

Notebooks added later (03_hierarchical, 04_deep_cg, ...) execute too; their verdict
lines are checked when they print one.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
VERDICT_BUDGET_S = 30.0  # the run inside each notebook's default (issue 11)


def _verdicts(nb) -> list[dict[str, str]]:
    """Every ``VERDICT <experiment> key=value ...`` line the notebook printed."""
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []) if cell.cell_type == "code" else []:
            text = o.get("text", "") if o.get("output_type") == "stream" else ""
            for line in text.splitlines():
                if line.startswith("VERDICT "):
                    name, *pairs = line.split()[1:]
                    out.append({"experiment": name, **dict(p.split("=", 1) for p in pairs)})
    return out


def test_there_is_a_notebook_per_algorithm():
    names = {p.name for p in NOTEBOOKS}
    assert {"01_neural_collapse.ipynb", "02_random_features.ipynb"} <= names


def test_notebooks_are_committed_without_outputs():
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), path.name


@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_reaches_its_verdict_on_the_default_preset(path, monkeypatch):
    monkeypatch.delenv("ORTHOVIZ_PRESET", raising=False)
    nb = nbformat.read(path, as_version=4)
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=240, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    wall = time.perf_counter() - t0
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, errors[0].get("evalue")
    verdicts = _verdicts(nb)
    print(f"{path.name}: {wall:.1f} s wall, verdicts {verdicts}")
    if path.stem == "01_neural_collapse":
        (v,) = verdicts
        assert v["experiment"] == "neural-collapse" and v["at_optimum"] == "1", v
    elif path.stem == "02_random_features":
        (v,) = verdicts
        assert v["experiment"] == "random-features", v
        assert float(v["median_rel_error"]) <= float(v["tolerance"]) <= 0.05, v
        assert v["within"] == "1" and v["optimal_monotone"] == "1", v
    for v in verdicts:
        if "seconds" in v:
            assert float(v["seconds"]) < VERDICT_BUDGET_S, v


def test_verdict_lines_parse():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [nbformat.v4.new_output(
        "stream", name="stdout", text="x\nVERDICT nc at_optimum=1 seconds=8.2\n")]
    nb.cells = [cell]
    assert _verdicts(nb) == [{"experiment": "nc", "at_optimum": "1", "seconds": "8.2"}]
    assert re.match(r"VERDICT \S+", "VERDICT nc")
