"""The explorer's sweep view: heatmap and curve data against an independent pandas
reduction, the theory beside them, grid validation before anything starts, and a sweep
folder written by the CLI opening in the view (inside the runs directory only)."""

from __future__ import annotations

import subprocess
import sys

import holoviews as hv
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from orthoviz.runtime import get_experiment
from orthoviz.runtime.sweep import read_table
from orthoviz.ui.sweep_view import SweepView
from orthoviz.viz import sweep as sv
from orthoviz.viz.common import ensure_bokeh, is_placeholder
from orthoviz.viz.random_features import SWEEP, best_risk_theory

RF = get_experiment("random-features")
HIER = get_experiment("hierarchical")


@pytest.fixture(autouse=True)
def bokeh():
    ensure_bokeh()


def rf_rows(seeds: int = 3) -> list[dict]:
    """Table rows as a sweep writes them (list parameters as JSON text), random risks,
    plus a failed cell that must not count."""
    rng = np.random.default_rng(0)
    rows = [{"cell": f"c{n}-{k}-{s}", "n": n, "sweep_values": f"[{k}]", "seed": s,
             "status": "finished", "test_risk_best": float(rng.uniform(0.5, 3.0))}
            for n in (16, 32, 64) for k in (8, 32) for s in range(seeds)]
    rows.append({"cell": "bad", "n": 16, "sweep_values": "[8]", "seed": 9,
                 "status": "error", "message": "KilledWorker"})
    return rows


def test_heatmap_is_the_mean_over_seeds():
    rows = rf_rows()
    ax = sv.Axes.from_spec(SWEEP, "n", "sweep_values", "test_risk_best")
    got = sv.heat_data(sv.frame(rows, ax), ax).set_index(["n", "k"])["test_risk_best"]
    df = pd.DataFrame([r for r in rows if r["status"] == "finished"])
    df["k"] = df["sweep_values"].str.strip("[]").astype(int)
    want = df.groupby(["n", "k"])["test_risk_best"].mean()
    assert len(got) == 6
    pd.testing.assert_series_equal(got.sort_index(), want.sort_index(), check_names=False,
                                   rtol=1e-12)
    heat = sv.heatmap(sv.frame(rows, ax), ax)
    assert isinstance(heat, hv.HeatMap) and heat.kdims == ["n", "k"]


def test_curves_are_mean_and_standard_error_with_the_theory_dashed():
    rows = rf_rows()
    ax = sv.Axes.from_spec(SWEEP, "n", "sweep_values", "test_risk_best")
    theory, marks = sv.theory_table(RF, "smoke", {"n": [16, 32, 64], "sweep_values":
                                                  ["8", "32"]}, SWEEP, ax)
    assert marks == {} and len(theory) == 6
    for t in theory.to_dict("records"):  # each cell's own config's theory
        cfg = RF.from_preset("smoke").set(n=int(t["n"]), sweep_values=[int(t["k"])])
        assert t["test_risk_best"] == best_risk_theory(cfg)["test_risk_best"]
    over = sv.curves(sv.frame(rows, ax), ax, theory, marks)
    df = pd.DataFrame(rows[:-1])
    for k in (8, 32):
        sub = df[df["sweep_values"] == f"[{k}]"].groupby("n")["test_risk_best"]
        line = [e for e in over if isinstance(e, hv.Curve) and e.label == f"k={k}"][0]
        spread = [e for e in over if isinstance(e, hv.Spread) and e.label == f"k={k}"][0]
        np.testing.assert_allclose(line.dimension_values(1), sub.mean().to_numpy(),
                                   rtol=1e-12)
        np.testing.assert_allclose(spread.dimension_values(2),
                                   sub.agg(stats.sem).to_numpy(), rtol=1e-12)
        dashed = [e for e in over if e.label == f"k={k} (theory)"][0]
        want = theory[theory["k"] == k].sort_values("n")["test_risk_best"].to_numpy()
        np.testing.assert_allclose(dashed.dimension_values(1), want, rtol=1e-12)


def test_hierarchical_curves_mark_d_to_the_k():
    from orthoviz.viz.hierarchical import SWEEP as H

    ax = sv.Axes.from_spec(H, "n_over_dk", "d", H.metric)
    _, marks = sv.theory_table(HIER, "smoke", {"n_over_dk": ["1", "4"], "d": ["6", "8"]},
                               H, ax)
    assert marks == {6: 36.0, 8: 64.0}  # d^k with the smoke preset's k = 2
    rows = [{"n_over_dk": f"[{r}]", "d": d, "coord_n": r * d * d, "seed": 0,
             "status": "finished", H.metric: 1.0 / r} for r in (1.0, 4.0) for d in (6, 8)]
    over = sv.curves(sv.frame(rows, ax), ax, None, marks)
    vlines = {e.label: e.data for e in over if isinstance(e, hv.VLine)}
    assert vlines == {"d=6 (36)": 36.0, "d=8 (64)": 64.0}
    lines = [e for e in over if isinstance(e, hv.Curve)]
    assert [e.label for e in lines] == ["d=6", "d=8"]
    assert {e.kdims[0].name for e in lines} == {"n"}  # the run's n, not the ratio
    np.testing.assert_array_equal(lines[0].dimension_values(0), [36.0, 144.0])


def test_a_bad_grid_value_names_the_key_and_starts_nothing(tmp_path):
    v = SweepView(RF, runs_root=str(tmp_path))
    v.values1.value = "16, 99999"
    assert not v.start()
    assert "'n'" in v.alert.object and "2 <= n <= 20000" in v.alert.object
    assert v.handle is None and not (tmp_path / "sweeps").exists()
    v.axis2.value = "n"
    assert not v.start() and "two different parameters" in v.alert.object


def test_a_page_starts_at_most_max_page_cells(tmp_path):
    """Planning a grid runs on the session's event loop of a shared server: a page
    refuses more than MAX_PAGE_CELLS cells, naming the count and the limit."""
    from orthoviz.ui.sweep_view import MAX_PAGE_CELLS

    v = SweepView(RF, runs_root=str(tmp_path))
    v.values1.value = ", ".join(str(16 + i) for i in range(11))
    v.values2.value = ", ".join(str(8 + i) for i in range(10))
    v.seeds.value = 10  # 11 x 10 x 10 = 1100 cells
    assert not v.start()
    assert f"'cells': 1100 (allowed: at most {MAX_PAGE_CELLS} from a page)" in v.alert.object
    assert v.handle is None and not (tmp_path / "sweeps").exists()


@pytest.mark.skipif(not __import__("importlib").util.find_spec("distributed"),
                    reason="dask.distributed is not installed")
def test_a_cli_sweep_folder_opens_in_the_view(tmp_path):
    runs = tmp_path / "runs"
    out = runs / "sweeps" / "rf"
    p = subprocess.run([sys.executable, "-m", "orthoviz.cli", "sweep", "random-features",
                        "--preset", "smoke", "--grid", "n=16,32", "--grid",
                        "sweep_values=8,32", "--workers", "1", "--out", str(out),
                        "--no-progress"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    v = SweepView(RF, runs_root=str(runs))
    v.refresh_folders()
    assert list(v.folders.options) == ["sweeps/rf"]
    assert v.open_sweep("sweeps/rf"), v.alert.object  # relative to the runs directory
    assert v.status == "opened" and v.count.object == "4 / 4 cells"
    assert (v.axis1.value, v.axis2.value) == ("n", "sweep_values")
    v.wait_theory()
    table = read_table(out)
    table["k"] = table["sweep_values"].str.strip("[]").astype(int)
    want = table.groupby(["n", "k"])["test_risk_best"].mean()
    heat, lines = v.figures()
    assert isinstance(heat, hv.Layout)  # the measured heatmap and the theory's
    drawn = heat[0].dframe().astype({"n": int, "k": int})  # categorical axes: text
    measured = drawn.set_index(["n", "k"])["test_risk_best"]
    pd.testing.assert_series_equal(measured.sort_index(), want.sort_index(),
                                   check_names=False, rtol=1e-12)
    assert not is_placeholder(lines)
    assert not is_placeholder(v.heat.object) and not is_placeholder(v.lines.object)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "sweep.json").write_text((out / "sweep.json").read_text())
    assert not v.open_sweep(outside) and "not inside the runs directory" in v.alert.object


def test_the_explorer_has_a_sweep_card_with_the_experiment_defaults(tmp_path):
    import panel as pn

    from orthoviz.ui import Explorer

    e = Explorer("random-features", preset="smoke", runs_root=str(tmp_path))
    card = e.sweep_card
    assert card in e.main and card.collapsed
    assert card.objects == [e._sweep_placeholder]  # the sweep view is built on open
    card.collapsed = False
    assert card.objects[0] is not e._sweep_placeholder
    assert e.sweep_view.start_button in list(card.objects[0].select(pn.widgets.Button))
    v = e.sweep_view
    assert v.runs_root == str(tmp_path) and v.cls is RF
    assert (v.axis1.value, v.axis2.value, v.metric.value) == ("n", "sweep_values",
                                                              "test_risk_best")
    e.teardown()  # no sweep running: nothing to cancel, nothing raised
