"""Damaged run folders: each kind of damage gives one line (a note, or the one error
when nothing can be rebuilt) and no traceback; what is readable still opens and
exports (through ``orthoviz export``)."""

from __future__ import annotations

import json
import shutil

import pytest

from orthoviz import cli
from orthoviz.runtime import Runner, get_experiment
from orthoviz.runtime.rundir import RunFolderError, list_runs, load_metrics, load_run
from orthoviz.runtime.store import RunWriter

KEY = "neural-collapse"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    exp = get_experiment(KEY).from_preset("smoke")
    runner = Runner(exp, seed=1, device="cpu", writer=RunWriter(exp, 1, "cpu", root))
    runner.start()
    assert runner.join(60) and runner.status == "finished", runner.message
    return runner.writer.path


@pytest.fixture
def run(pristine, tmp_path):
    dst = tmp_path / "runs" / KEY / pristine.name
    shutil.copytree(pristine, dst)
    return dst


def export(run_dir, capsys, tmp_path):
    rc = cli.main(["export", str(run_dir), "--to", str(tmp_path / "out"), "--no-png"])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return rc, out, [line for line in err.splitlines() if line.strip()]


def cut(path, keep):
    data = path.read_bytes()
    path.write_bytes(data[:keep(len(data))])


def test_a_row_cut_anywhere_is_dropped_with_the_step(run):
    """Every cut inside the last row (a kill mid-append) drops only that row."""
    raw = (run / "metrics.csv").read_bytes()
    start = raw.rstrip(b"\r\n").rfind(b"\n") + 1  # first byte of the last row
    whole = load_metrics(run / "metrics.csv")
    for end in range(start + 1, len(raw) - 1):
        (run / "metrics.csv").write_bytes(raw[:end])
        notes = []
        rows = load_metrics(run / "metrics.csv", notes)
        assert rows == whole[:-1], end
        assert notes == [f"metrics.csv: a partial last row was dropped (interrupted at step "
                         f"{whole[-2]['step']})"]


DAMAGE = {
    "csv cut mid-number": ("metrics.csv", lambda p: cut(p, lambda n: n - 7),
                           "partial last row was dropped (interrupted at step"),
    "csv garbage row": ("metrics.csv", lambda p: p.write_bytes(
        p.read_bytes().replace(b"\n", b"\n\x00garbage,,\n", 1)), "1 unreadable row"),
    "summary cut": ("summary.json", lambda p: cut(p, lambda n: n // 2),
                    "summary.json: damaged (JSONDecodeError"),
    "summary garbage": ("summary.json", lambda p: p.write_bytes(b"\xff\xfe[1, 2"),
                        "summary.json: damaged"),
    "summary missing": ("summary.json", lambda p: p.unlink(),
                        "summary.json: missing or damaged; the run was interrupted at step"),
    "npz cut": ("arrays.npz", lambda p: cut(p, lambda n: n // 2), "arrays.npz: damaged"),
    "npz garbage": ("arrays.npz", lambda p: p.write_bytes(b"PK\x03\x04 not a zip"),
                    "arrays.npz: damaged"),
    "env garbage": ("env.json", lambda p: p.write_text("{"), "env.json: damaged"),
    "csv missing": ("metrics.csv", lambda p: p.unlink(), "metrics.csv: missing"),
}


EXPORTED = ("csv cut mid-number", "csv missing", "summary missing", "npz garbage")


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_damage_is_one_note_and_the_rest_opens_and_exports(run, kind, capsys, tmp_path):
    name, damage, note = DAMAGE[kind]
    damage(run / name)
    saved = load_run(run)
    assert len(saved.notes) >= 1 and any(note in n for n in saved.notes), saved.notes
    assert all("\n" not in n for n in saved.notes)
    if "summary" in kind:
        assert saved.status == "interrupted"
    if name != "arrays.npz":
        assert saved.arrays, "the intact arrays still open"
    if kind not in EXPORTED:  # (an HTML export costs seconds: one per file suffices)
        return
    rc, out, err = export(run, capsys, tmp_path)
    assert rc == 0 and "figures.html" in out
    assert [e for e in err if note in e], err
    assert all(e.startswith("note: ") for e in err), err


@pytest.mark.parametrize("damage", ["cut", "garbage", "not an object", "missing", "link"])
def test_a_damaged_config_is_one_line_naming_it(run, damage, capsys, tmp_path):
    cfg = run / "config.json"
    if damage == "cut":
        cut(cfg, lambda n: n // 2)
    elif damage == "garbage":
        cfg.write_bytes(b"\x00\x01garbage")
    elif damage == "not an object":
        cfg.write_text("[1, 2]")
    elif damage == "missing":
        cfg.unlink()
    else:  # a link out of the run folder
        (tmp_path / "elsewhere.json").write_text(cfg.read_text())
        cfg.unlink()
        cfg.symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises((RunFolderError, FileNotFoundError), match="config.json"):
        load_run(run)
    rc, out, err = export(run, capsys, tmp_path)
    assert rc == 2 and out == "" and len(err) == 1 and "config.json" in err[0], err


def test_member_links_out_of_the_folder_are_not_read(run, tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("step,phase,password\n1,train,hunter2\n")
    (run / "metrics.csv").unlink()
    (run / "metrics.csv").symlink_to(secret)
    saved = load_run(run)
    assert saved.records == [] and "metrics.csv" not in saved.readable
    assert any("metrics.csv: not read (a link out of the run folder" in n for n in saved.notes)


def test_only_folders_inside_the_runs_root_open(run, tmp_path):
    root = run.parents[1]
    outside = tmp_path / "outside" / KEY / run.name
    shutil.copytree(run, outside)
    (root / KEY / "escape").symlink_to(outside, target_is_directory=True)
    assert load_run(run, root=root).experiment.key == KEY
    for bad in (outside, root / KEY / "escape", root / ".." / "outside" / KEY / run.name):
        with pytest.raises(RunFolderError, match="not inside the runs folder"):
            load_run(bad, root=root)
    assert list_runs(root, KEY) == [run]  # the link out is not listed


def test_the_explorer_opens_only_runs_under_its_root(run, tmp_path):
    pytest.importorskip("panel")
    from orthoviz.ui import Explorer

    root = run.parents[1]
    outside = tmp_path / "outside"
    shutil.copytree(run, outside)
    e = Explorer(KEY, preset="smoke", runs_root=str(root))
    for bad in (outside, f"{root}/../outside"):
        assert e.open_run(bad) is False
        assert "not inside the runs folder" in e.message
    (run / "summary.json").unlink()
    assert e.open_run(run.relative_to(root)) is True  # relative to the runs root
    assert e.status == "interrupted" and "summary.json: missing" in e.message
    summary = json.loads((outside / "summary.json").read_text())
    assert summary["status"] == "finished"
