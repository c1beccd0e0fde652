"""Export of a saved run (``orthoviz export``): HTML, PNG where possible, CSV, JSON."""

from __future__ import annotations

import csv
import json

import pytest

pytest.importorskip("holoviews")

from orthoviz.runtime import Runner, get_experiment, list_experiments  # noqa: E402
from orthoviz.runtime.store import RunWriter, load_run  # noqa: E402
from orthoviz.viz import export  # noqa: E402


def saved_run(key: str, root) -> str:
    exp = get_experiment(key).from_preset("smoke")
    runner = Runner(exp, seed=1, device="cpu", writer=RunWriter(exp, 1, "cpu", root))
    runner.start()
    assert runner.join(60) and runner.status == "finished", runner.message
    return runner.writer.path


@pytest.mark.parametrize("key", list_experiments())
def test_export_run_writes_html_csv_json(key, tmp_path):
    run_dir = saved_run(key, tmp_path / "runs")
    out = export.export_run(run_dir, tmp_path / "out", png=False)
    names = {p.name for p in out}
    assert {"figures.html", "metrics.csv", "config.json"} <= names
    html = (tmp_path / "out" / "figures.html").read_text()
    assert "Bokeh" in html and "cdn.bokeh.org" not in html  # inline: opens offline
    cfg = json.loads((tmp_path / "out" / "config.json").read_text())
    assert cfg["experiment"] == key and cfg["seed"] == 1
    rows = list(csv.DictReader(open(tmp_path / "out" / "metrics.csv")))
    assert rows and rows[-1]["phase"] == "final"


def test_export_defaults_to_the_run_folder_and_reports_png(tmp_path):
    run_dir = saved_run(list_experiments()[0], tmp_path / "runs")
    out = export.export_run(run_dir)
    assert all(p.parent == run_dir / "export" for p in out)
    method, why = export.png_support()
    if method is None:
        assert any("PNG skipped" in n for n in out.notes)
    else:
        png = run_dir / "export" / "figures.png"
        assert png in out and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_metrics_csv_and_config_json_match_the_run_folder(tmp_path):
    run_dir = saved_run(list_experiments()[0], tmp_path / "runs")
    saved = load_run(run_dir)
    text = export.metrics_csv(saved.records)
    assert text.splitlines()[0].startswith("step,phase")
    assert len(text.strip().splitlines()) == len(saved.records) + 1
    cfg = json.loads(export.config_json(saved.experiment, saved.seed, saved.device))
    assert cfg == json.loads((run_dir / "config.json").read_text())


def test_export_of_a_missing_folder_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        export.export_run(tmp_path)
