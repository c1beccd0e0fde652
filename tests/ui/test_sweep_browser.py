"""Headless Chromium: the explorer's Sweep tab runs a 2 x 2 random-features grid (queued
behind the page's own run while ``--max-runs 1`` is taken), the progress reaches 4 / 4
with the heatmap drawn, and Cancel stops a long sweep with the
finished cells kept. Assertions are on DOM text, the results table and no page errors."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("playwright")
pytest.importorskip("distributed")

from orthoviz.runtime.sweep import read_table  # noqa: E402

pytestmark = pytest.mark.ui


@pytest.mark.timeout(600)
def test_sweep_tab_fills_in_and_cancels(tmp_path, orthoviz_server, page):
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # one run at a time: a long run holds the slot, so the sweep queues until it stops
    with orthoviz_server(tmp_path, "--max-runs", "1",
                         apps=("random_features",)) as (_, port, _log):
        page.goto(f"http://127.0.0.1:{port}/random_features?preset=gaussian_L1",
                  timeout=120_000)
        page.get_by_role("button", name=re.compile("Start$")).wait_for(timeout=120_000)
        page.wait_for_function("() => document.readyState === 'complete'")
        page.get_by_role("button", name=re.compile("Start$")).click()
        page.get_by_text(re.compile(r"^running")).first.wait_for(timeout=60_000)
        page.get_by_text("Sweep: a grid of runs on Dask").first.click()  # opens the card
        start = page.get_by_role("button", name="Start sweep")
        start.wait_for(timeout=60_000)
        for label, text in (("Values 1 (comma-separated)", "16, 32"),
                            ("Values 2 (comma-separated)", "8, 32")):
            box = page.get_by_label(label)
            box.fill(text)
            box.press("Enter")
        page.wait_for_timeout(500)  # the values reach the server before the click
        start.click()
        # the sweep's worker takes a run slot: it waits for the run, with its place
        page.get_by_text(re.compile(r"^queued: place 1 of 1 \(this server computes 1 run "
                                    r"at once")).first.wait_for(timeout=60_000)
        assert page.get_by_text("0 / 4 cells").count() == 0
        page.get_by_role("button", name=re.compile("Stop")).click()
        page.get_by_text("4 / 4 cells").first.wait_for(timeout=240_000)
        page.get_by_text(re.compile("^finished: 4 of 4 cells")).first.wait_for(
            timeout=60_000)
        # (plot titles are canvas pixels: the figures' data are checked in
        # test_sweep_view.py; here the plots exist on the page)
        assert page.locator("canvas").count() >= 2
        page.screenshot(path=str(tmp_path / "finished.png"), full_page=True)
        done = sorted((tmp_path / "runs" / "sweeps").iterdir())
        assert len(done) == 1 and len(read_table(done[0])) == 4

        seeds = page.get_by_label("Seeds")  # 400 cells: Cancel lands long before the end
        seeds.fill("100")
        seeds.press("Enter")
        page.wait_for_timeout(500)
        start.click()
        page.get_by_text(re.compile(r"^[1-9]\d* / 400 cells$")).first.wait_for(
            timeout=240_000)
        page.get_by_role("button", name="Cancel").click()
        try:  # (the cluster's close waits up to 4 s for a worker in a cell, then kills it)
            page.get_by_text(re.compile(r"^cancelled: \d+ of 400 cells")).first.wait_for(
                timeout=240_000)
        finally:
            page.screenshot(path=str(tmp_path / "cancelled.png"), full_page=True)
        shown = int(re.match(r"^cancelled: (\d+) of", page.get_by_text(
            re.compile("^cancelled:")).first.inner_text()).group(1))
        cancelled = sorted(p for p in (tmp_path / "runs" / "sweeps").iterdir()
                           if p not in done)
        table = read_table(cancelled[0])
        assert 1 <= shown < 400 and len(table) == shown  # the table holds what was shown
        assert set(table["status"]) == {"finished"}
    assert errors == []
