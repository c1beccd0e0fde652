"""The CLI as a user runs it: --json output, exit code 2 on bad input, nothing written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def orthoviz(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "orthoviz.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def test_list_shows_experiments_presets_and_bounds():
    p = orthoviz("list")
    assert p.returncode == 0
    assert "neural-collapse" in p.stdout and "balanced_E1" in p.stdout
    assert "1 <= depth <= 12" in p.stdout


def test_run_json_writes_a_complete_run_folder(tmp_path):
    p = orthoviz("run", "neural-collapse", "--preset", "smoke", "--json", "--seed", "1",
                 "--out", str(tmp_path))
    assert p.returncode == 0, p.stderr
    lines = [line for line in p.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, "exactly one JSON object on stdout"
    out = json.loads(lines[0])
    assert {"experiment", "preset", "seed", "device", "config", "final", "theory",
            "run_dir", "wall_time_s"} <= set(out)
    assert out["experiment"] == "neural-collapse" and out["seed"] == 1
    run_dir = Path(out["run_dir"])
    for f in ("config.json", "metrics.csv", "summary.json", "arrays.npz", "env.json"):
        assert (run_dir / f).exists(), f
    assert not list(run_dir.glob(".*.tmp")), "temporary files left behind"
    from orthoviz.runtime.store import load_run

    saved = load_run(run_dir)
    assert saved.final.scalars["nc1"] == pytest.approx(out["final"]["nc1"], rel=1e-12)
    assert saved.experiment.config() == out["config"]


@pytest.mark.parametrize("setting, fragment", [
    ("depth=0", "'depth'"),               # out of bounds
    ("depth=two", "'depth'"),             # wrong type
    ("colour=red", "'colour'"),           # unknown key
    ("loss=hinge", "one of mse, mse_bias, ce"),
    ("samples_per_class=100000", "'samples_per_class'"),  # refused by the guard
])
def test_bad_set_exits_2_with_one_line_and_writes_nothing(tmp_path, setting, fragment):
    env_budget = ["--set", "n_classes=1000"] if "samples_per_class" in setting else []
    p = orthoviz("run", "neural-collapse", "--preset", "smoke", "--set", setting,
                 *env_budget, "--out", str(tmp_path), "--json")
    assert p.returncode == 2
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in p.stderr, p.stderr
    assert fragment in err[0] and "allowed" in err[0], err[0]
    assert p.stdout == ""
    assert not any(tmp_path.iterdir()), "a refused run must write nothing"


def test_unknown_experiment_exits_2():
    p = orthoviz("run", "no-such-thing")
    assert p.returncode == 2 and "neural-collapse" in p.stderr


def test_the_app_reopens_a_run_written_by_the_cli(tmp_path):
    pytest.importorskip("panel")
    from orthoviz.ui import Explorer

    p = orthoviz("run", "neural-collapse", "--preset", "smoke", "--json", "--out", str(tmp_path))
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    e = Explorer("neural-collapse", runs_root=str(tmp_path))
    assert e.open_run(out["run_dir"]) is True
    assert e.status == "finished"
    assert e.final.scalars["nc1"] == pytest.approx(out["final"]["nc1"], rel=1e-12)
    assert e.config.config() == out["config"]
