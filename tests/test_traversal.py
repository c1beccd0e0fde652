"""Every place that takes a path from a user, against ``..``, absolute paths outside and
symbolic links out (issue #10). Elsewhere: ``data_dir`` (tests/test_datasets.py), the
readers and Open run's root (tests/runtime/test_rundir.py). Here: the run-folder
references of deep-cg (``weights``, ``compare_with``), which ``orthoviz serve`` confines
to ./runs; Open run through a link; ``orthoviz export``, which copies no file that
links out of the run folder; and the sweep view's folders (listed and opened only inside
the runs folder, their files read only when inside their folder)."""

from __future__ import annotations

import json
import shutil

import pytest

from orthoviz import cli
from orthoviz.runtime import ConfigError, Runner, get_experiment
from orthoviz.runtime.artifacts import RUNS_ROOT_ENV, packaged_dir
from orthoviz.runtime.store import RunWriter

NC = "neural-collapse"


def weights_run(folder):
    """A deep-cg-train-like run folder holding the packaged 2-D network."""
    (folder / "artifacts").mkdir(parents=True)
    shutil.copyfile(packaged_dir("deep_cg") / "dcdm2d.pt", folder / "artifacts" / "weights.pt")
    cfg = {"dim": 2, "network": "dcdm", "arch": "from64", "geometry": False}
    (folder / "config.json").write_text(json.dumps({"experiment": "deep-cg-train",
                                                    "config": cfg}))
    return folder


@pytest.fixture
def served_runs(tmp_path, monkeypatch):
    """(runs root as `orthoviz serve` sets it, a run inside, a run outside)."""
    root = tmp_path / "srv" / "runs"
    inside = weights_run(root / "deep-cg-train" / "good")
    outside = weights_run(tmp_path / "elsewhere" / "run")
    (root / "deep-cg-train" / "escape").symlink_to(outside, target_is_directory=True)
    monkeypatch.setenv(RUNS_ROOT_ENV, str(root))
    monkeypatch.chdir(tmp_path / "srv")
    return root, inside, outside


def check(key: str, **values):
    return get_experiment(key).from_preset("smoke", **values).check(device="cpu")


@pytest.mark.parametrize("key, name", [("deep-cg", "weights"),
                                       ("deep-cg-train", "compare_with")])
def test_served_run_folder_references_stay_inside_the_runs_folder(served_runs, key, name):
    root, inside, outside = served_runs
    for ok in (str(inside), "runs/deep-cg-train/good", "deep-cg-train/good"):
        assert check(key, **{name: ok}) == "cpu"  # absolute, from the cwd, from the root
    bad = [str(outside), "../elsewhere/run", "runs/../../elsewhere/run",
           "deep-cg-train/escape", str(root / "deep-cg-train" / "escape"), "/"]
    for ref in bad:
        with pytest.raises(ConfigError, match=f"'{name}'.*inside the runs folder"):
            check(key, **{name: ref})
    for ref in ("packaged:../dcdm2d", "packaged:/etc/passwd", "packaged:"):
        with pytest.raises(ConfigError, match=f"'{name}'"):
            check(key, **{name: ref})


def test_without_a_server_a_run_folder_anywhere_is_the_users_choice(tmp_path, monkeypatch):
    monkeypatch.delenv(RUNS_ROOT_ENV, raising=False)
    outside = weights_run(tmp_path / "elsewhere" / "run")
    assert check("deep-cg", weights=str(outside)) == "cpu"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    exp = get_experiment(NC).from_preset("smoke")
    runner = Runner(exp, device="cpu", writer=RunWriter(exp, 0, "cpu", root)).start()
    assert runner.join(60) and runner.status == "finished"
    return runner.writer.path


def test_open_run_refuses_a_link_out_of_the_runs_folder(saved, tmp_path):
    pytest.importorskip("panel")
    from orthoviz.ui import Explorer

    root = tmp_path / "runs"
    outside = tmp_path / "outside" / saved.name
    shutil.copytree(saved, outside)
    (root / NC).mkdir(parents=True)
    (root / NC / "link").symlink_to(outside, target_is_directory=True)
    e = Explorer(NC, preset="smoke", runs_root=str(root))
    for ref in (f"{NC}/link", root / NC / "link", f"{root}/{NC}/../../outside/"
                f"{saved.name}"):
        assert e.open_run(ref) is False and "not inside the runs folder" in e.message
    assert e.files.runs.options == {}  # the link is not listed either


def test_export_copies_no_file_that_links_out_of_the_run(saved, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(saved, run)
    secret = tmp_path / "secret.json"
    secret.write_text('{"password": "hunter2"}')
    for name in ("summary.json", "env.json"):
        (run / name).unlink()
        (run / name).symlink_to(secret)
    rc = cli.main(["export", str(run), "--to", str(tmp_path / "out"), "--no-png"])
    err = capsys.readouterr().err
    assert rc == 0 and "Traceback" not in err
    assert "summary.json: not read (a link out of the run folder" in err
    written = list((tmp_path / "out").iterdir())
    assert {p.name for p in written} >= {"figures.html", "metrics.csv", "config.json"}
    assert not any("hunter2" in p.read_text(errors="replace") for p in written)


def _sweep_folder(folder, experiment="random-features"):
    """A minimal finished sweep folder: its description and a one-row table."""
    folder.mkdir(parents=True)
    meta = {"experiment": experiment, "preset": "smoke", "grid": {"n": [16]},
            "cells": ["c0"]}
    (folder / "sweep.json").write_text(json.dumps(meta))
    (folder / "results.csv").write_text("cell,n,status,test_risk_best\nc0,16,finished,0.5\n")
    return folder


def test_the_sweep_view_lists_and_opens_sweep_folders_only_inside_the_runs_folder(
        tmp_path):
    pytest.importorskip("panel")
    from orthoviz.ui.sweep_view import SweepView

    runs = tmp_path / "runs"
    _sweep_folder(runs / "sweeps" / "good")
    outside = _sweep_folder(tmp_path / "elsewhere" / "sweep")
    (runs / "sweeps" / "escape").symlink_to(outside, target_is_directory=True)
    # a folder inside whose table (or description) is a link to a file outside
    leak = _sweep_folder(runs / "sweeps" / "leak")
    (leak / "results.csv").unlink()
    (leak / "results.csv").symlink_to(outside / "results.csv")
    desc = _sweep_folder(runs / "sweeps" / "desc")
    (desc / "sweep.json").unlink()
    (desc / "sweep.json").symlink_to(outside / "sweep.json")
    # malformed descriptions: not an object; a grid that is not a mapping of lists
    (_sweep_folder(runs / "sweeps" / "list") / "sweep.json").write_text("[1, 2]")
    (_sweep_folder(runs / "sweeps" / "grid") / "sweep.json").write_text(json.dumps(
        {"experiment": "random-features", "grid": [1], "cells": []}))

    v = SweepView(get_experiment("random-features"), runs_root=str(runs))
    v.refresh_folders()
    assert list(v.folders.options) == ["sweeps/good"]  # the others are not offered
    assert v.open_sweep("sweeps/good"), v.alert.object
    for path, why in (("sweeps/escape", "not inside the runs directory"),
                      (str(outside), "not inside the runs directory"),
                      ("sweeps/../../elsewhere/sweep", "not inside the runs directory"),
                      ("sweeps/leak", "results.csv is a link out of the sweep folder"),
                      ("sweeps/desc", "sweep.json is a link out of the sweep folder"),
                      ("sweeps/list", "sweep.json is not a sweep description"),
                      ("sweeps/grid", "'grid' must map parameters to lists")):
        v.status = "idle"
        assert not v.open_sweep(path), path
        assert why in v.alert.object, (path, v.alert.object)
        assert v.status == "idle"  # nothing was opened
