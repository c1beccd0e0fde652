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
    elif path.stem == "03_hierarchical":
        (v,) = verdicts
        # at n = 8 d^k the three-layer net is past the d^k transition and the kernel is
        # not (it needs ~d^{kq}): their losses differ by > 3 standard errors over trials
        # (measured 0.247 against an SE of 0.065, seed 0, test_size 8192), and the
        # feature correlation is near its limit 1 (measured 0.916; 0.8 leaves room for
        # BLAS-order differences, while a kernel-like plateau gives ~0)
        assert v["experiment"] == "hierarchical" and v["beats_kernel"] == "1", v
        assert float(v["n_over_dk"]) >= 8 and float(v["feature_corr"]) >= 0.8, v
    elif path.stem == "04_deep_cg":
        (v,) = verdicts
        # every solver reaches the tolerance; the packaged network needs <= 30
        # iterations at 64^2 where CG needs ~200 (README, measured 19 against 207)
        assert v["experiment"] == "deep-cg" and v["converged"] == "1", v
        assert v["grid"] == "64" and int(v["dcdm_iterations"]) <= 30, v
        assert int(v["cg_iterations"]) >= 5 * int(v["dcdm_iterations"]), v
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
