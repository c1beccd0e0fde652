"""``orthoviz run`` stopped from outside: SIGTERM / SIGINT mark the folder interrupted
and exit 143 / 130; SIGKILL at several moments leaves folders that open and export."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from orthoviz import cli
from orthoviz.runtime.rundir import load_run

LONG = ["--preset", "smoke", "--set", "steps=5000000", "--set", "record_every=1",
        "--no-progress"]


def start_run(out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "orthoviz.cli", "run", "neural-collapse",
                             *LONG, "--out", str(out), "--device", "cpu", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def rows_written(out: Path, at_least: int, proc, timeout: float = 60.0) -> Path:
    """The run folder once metrics.csv holds ``at_least`` rows."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        for csv in out.glob("*/*/metrics.csv"):
            if csv.read_bytes().count(b"\n") > at_least:
                return csv.parent
        time.sleep(0.02)
    raise AssertionError("no rows written in time")


def test_sigterm_and_sigint_stop_flush_and_mark_the_folder(tmp_path, capsys):
    procs = {sig: start_run(tmp_path / sig.name) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for sig, proc in procs.items():
            folder = rows_written(tmp_path / sig.name, 5, proc)
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=30)
            assert proc.returncode == cli.INTERRUPTED_EXIT[sig] == 128 + sig, err
            lines = err.strip().splitlines()
            assert len(lines) == 1 and f"interrupted by {sig.name} at step" in lines[0], err
            summary = json.loads((folder / "summary.json").read_text())
            saved = load_run(folder)
            assert summary["status"] == "interrupted" == saved.status
            # the step reached is the last flushed row: nothing on screen was lost
            assert summary["step"] == saved.records[-1].step > 0
            assert f"at step {summary['step']}" in lines[0]
        rc = cli.main(["export", str(folder), "--to", str(tmp_path / "out"), "--no-png"])
        assert rc == 0 and "Traceback" not in capsys.readouterr().err
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def test_sigkill_at_several_moments_leaves_folders_that_open_and_export(tmp_path, capsys):
    """Kills right after the folder appears (config only), just after the first rows,
    and mid-run at an odd delay (rows are appended every 0.25 s). A kill inside an
    append is covered byte by byte in tests/runtime/test_rundir.py."""
    delays = [0.0, 0.013, 0.61]
    procs = [start_run(tmp_path / f"k{i}") for i in range(len(delays))]
    try:
        for i, (delay, proc) in enumerate(zip(delays, procs)):
            out = tmp_path / f"k{i}"
            if delay == 0.0:
                deadline = time.monotonic() + 60
                while not list(out.glob("*/*/config.json")) and time.monotonic() < deadline:
                    assert proc.poll() is None
                    time.sleep(0.005)
            else:
                rows_written(out, 2, proc)
                time.sleep(delay)
            proc.kill()
            proc.communicate()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    folders = [f for i in range(len(delays)) for f in (tmp_path / f"k{i}").glob("*/*")]
    assert len(folders) == len(delays)
    for folder in folders:
        saved = load_run(folder)
        assert saved.status == "interrupted"
        assert any("interrupted at step" in n for n in saved.notes), saved.notes
        if folder is folders[-1]:  # (an HTML export costs seconds: one suffices)
            rc = cli.main(["export", str(folder), "--to", str(folder / "x"), "--no-png"])
            assert rc == 0 and "Traceback" not in capsys.readouterr().err
