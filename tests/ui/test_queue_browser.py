"""The run limit as a student sees it: with one run at a time, a second session's
Start waits in the queue and says so on the page ("queued", "place 1 of 1"), then runs
to its end once the first run stops."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("panel")
pytest.importorskip("playwright")

from orthoviz.runtime.capacity import MAX_RUNS_ENV  # noqa: E402
from orthoviz.ui.serve import app_paths  # noqa: E402

pytestmark = pytest.mark.ui


def button(page, name: str):
    return page.get_by_role("button", name=re.compile(name))


@pytest.mark.timeout(420)
def test_a_second_run_queues_with_its_place_then_finishes(tmp_path, panel_server,
                                                          chromium, monkeypatch):
    monkeypatch.setenv(MAX_RUNS_ENV, "1")  # read by the server's admission table
    apps = {p.stem: p for p in app_paths()}
    with panel_server([apps["neural_collapse"]], tmp_path / "serve.log") as url:
        pages = [chromium.new_context(viewport={"width": 1300, "height": 900}).new_page()
                 for _ in range(2)]
        a, b = pages
        a.goto(f"{url}/neural_collapse?steps=1000000&record_every=10", timeout=120_000)
        b.goto(f"{url}/neural_collapse?steps=60&record_every=10", timeout=120_000)
        for p in pages:
            button(p, "Start").wait_for(timeout=120_000)
            p.wait_for_function("() => document.readyState === 'complete'")
        button(a, "Start").click()
        a.get_by_text(re.compile(r"^step [1-9]\d* / ")).first.wait_for(timeout=120_000)
        button(b, "Start").click()
        b.get_by_text(re.compile(r"^queued")).first.wait_for(timeout=60_000)
        b.get_by_text(re.compile(r"place 1 of 1")).first.wait_for(timeout=60_000)
        b.screenshot(path=str(tmp_path / "queued.png"))
        assert b.get_by_text("step 0 / 60").count() == 1  # nothing computed while queued
        button(a, "Stop").click()
        a.get_by_text(re.compile(r"^stopped")).first.wait_for(timeout=60_000)
        b.get_by_text(re.compile(r"^finished")).first.wait_for(timeout=120_000)
        assert b.get_by_text("step 60 / 60").count() == 1


def test_the_status_line_names_the_place_and_the_gpu_wait():
    from types import SimpleNamespace

    from orthoviz.ui.stream import StreamingMixin

    say = StreamingMixin()._running_message
    cpu = SimpleNamespace(status="queued", queue_place=(2, 5), device="cpu", seed=0,
                          write_error=None)
    gpu = SimpleNamespace(status="queued", queue_place=(1, 2), device="cuda:0", seed=0,
                          write_error=None)
    assert say(cpu).startswith("place 2 of 5 ")
    assert say(gpu).startswith("place 1 of 2 for the GPU") and "cpu device" in say(gpu)
    admitted = SimpleNamespace(status="running", queue_place=None, device="cpu", seed=7,
                               write_error=None)
    assert say(admitted) == "seed 7"
