"""A server killed mid-run (issue #10): ``orthoviz serve --autosave`` writes each run
as it goes; after SIGKILL the run folder opens with every row the page showed (rows
are flushed every 0.1 s) and as "interrupted", and a restarted server lists it under
"Saved runs" and "Open run" shows it as interrupted at the step reached. A server
stopped by SIGTERM stops its runs first: their folders are closed as stopped."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

pytest.importorskip("panel")
pytest.importorskip("playwright")

from orthoviz.runtime.rundir import load_run  # noqa: E402

pytestmark = [pytest.mark.ui, pytest.mark.timeout(420)]
STEP = re.compile(r"^step (\d+) / (\d+)$")
APP = "neural_collapse"
LONG = "steps=1000000&record_every=5"


def shown_step(page) -> int:
    return int(STEP.match(page.get_by_text(STEP).first.inner_text().strip()).group(1))


def open_app(page, port: int, query: str = "") -> None:
    page.goto(f"http://127.0.0.1:{port}/{APP}{query}", timeout=120_000)
    page.get_by_role("button", name=re.compile("Start")).wait_for(timeout=120_000)
    page.wait_for_function("() => document.readyState === 'complete'")


def test_sigkill_mid_run_leaves_a_folder_that_reopens_as_interrupted(
        tmp_path, orthoviz_server, page, wait_until):
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    runs = tmp_path / "runs"
    with orthoviz_server(tmp_path, "--autosave", apps=[APP]) as (proc, port, log):
        assert f"run folders: only under {runs.resolve()} (runs saved there as they go)" \
            in log.read_text()
        # the same process (pid) re-executed itself with the system allocator, so that
        # memory of ended sessions can go back to the system (orthoviz.runtime.memory)
        environ = Path(f"/proc/{proc.pid}/environ").read_bytes().split(b"\0")
        assert b"PYTHONMALLOC=malloc" in environ
        open_app(page, port, f"?{LONG}")
        page.get_by_role("button", name=re.compile("Start")).click()
        page.get_by_text(re.compile(r"^running")).first.wait_for(timeout=60_000)
        wait_until(lambda: shown_step(page) >= 50, timeout=120)
        seen = shown_step(page)
        page.wait_for_timeout(1000)  # > the flush interval: what was seen is on disk
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    folders = list(runs.glob("neural-collapse/*"))
    assert len(folders) == 1
    saved = load_run(folders[0], root=runs)
    assert saved.status == "interrupted" and saved.final is None
    last = saved.records[-1].step
    assert last >= seen, (last, seen)
    steps = [r.step for r in saved.records]
    assert steps == sorted(set(steps)) and steps[0] <= 5  # every row, from the start
    assert any(f"interrupted at step {last}" in n for n in saved.notes), saved.notes

    with orthoviz_server(tmp_path, "--autosave", apps=[APP]) as (proc, port, log):
        open_app(page, port)
        page.get_by_text("Runs", exact=True).first.click()  # the collapsed card
        page.get_by_role("button", name=re.compile("Open run")).click()
        status = page.get_by_text(re.compile(r"opened .*interrupted at step")).first
        status.wait_for(timeout=60_000)
        assert str(folders[0].name) in status.inner_text()
        page.get_by_text(re.compile("^interrupted$")).first.wait_for(timeout=10_000)
        assert shown_step(page) == last
        page.screenshot(path=str(tmp_path / "reopened.png"))
    assert not errors, errors


def test_sigterm_mid_run_stops_the_runs_and_closes_their_folders(
        tmp_path, orthoviz_server, page, wait_until):
    """Before, the runs were daemon threads the exiting process cut off inside torch:
    it aborted ("terminate called without an active exception") and left folders with
    no summary."""
    runs = tmp_path / "runs"
    with orthoviz_server(tmp_path, "--autosave", apps=[APP]) as (proc, port, log):
        open_app(page, port, f"?{LONG}")
        page.get_by_role("button", name=re.compile("Start")).click()
        page.get_by_text(re.compile(r"^running")).first.wait_for(timeout=60_000)
        wait_until(lambda: shown_step(page) >= 50, timeout=120)
        seen = shown_step(page)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        text = log.read_text()
    assert "terminate called" not in text and "Traceback" not in text, text[-3000:]
    [folder] = runs.glob("neural-collapse/*")
    saved = load_run(folder, root=runs)
    last = saved.records[-1].step
    assert saved.status == "stopped" and last >= seen
    assert saved.summary["message"] == f"stopped at step {last} (the server stopped)"
