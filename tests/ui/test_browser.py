"""Headless Chromium (the OS package, via Playwright): index -> app -> Start -> curve ->
Stop. Assertions are on DOM text and elements, never on pixels."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("panel")
pytest.importorskip("playwright")

from orthoviz.ui.serve import app_paths  # noqa: E402

pytestmark = pytest.mark.ui
STEP = re.compile(r"^step (\d+) / (\d+)$")


def step_of(page) -> int:
    text = page.get_by_text(STEP).first.inner_text().strip()
    return int(STEP.match(text).group(1))


#: CSS animations that repeat forever and are running, in the document and every
#: shadow root (Panel's components live in shadow roots)
ENDLESS_ANIMATIONS = """() => {
  const out = [];
  const walk = root => {
    for (const a of root.getAnimations())
      if (a.playState === "running" && a.effect.getTiming().iterations === Infinity)
        out.push(String(a.animationName || a.id));
    for (const el of root.querySelectorAll("*")) if (el.shadowRoot) walk(el.shadowRoot);
  };
  walk(document);
  return out;
}"""


@pytest.mark.timeout(240)
def test_start_shows_progress_and_a_curve_then_stop(tmp_path, panel_server, page):
    apps = app_paths()
    nc = next(p for p in apps if p.stem == "neural_collapse")
    # every request the page makes goes to the server: nothing off it (Panel's Fast
    # design asked fonts.googleapis.com for a web font, which an offline class waits on)
    away: list[str] = []
    page.on("request", lambda r: away.append(r.url) if not r.url.startswith(
        ("http://127.0.0.1", "http://localhost", "ws://127.0.0.1", "data:", "blob:"))
        else None)
    with panel_server(apps, tmp_path / "serve.log") as url:
        page.goto(url + "/", timeout=120_000)
        link = page.locator("a[href*='neural_collapse']").first
        link.wait_for(timeout=60_000)
        # the URL carries the config: a long run, so that Stop has something to stop
        page.goto(f"{url}/{nc.stem}?steps=1000000&record_every=10", timeout=120_000)
        start = page.get_by_role("button", name=re.compile("Start"))
        start.wait_for(timeout=120_000)
        page.wait_for_function("() => document.readyState === 'complete'")
        assert step_of(page) == 0
        assert page.get_by_text("step 0 / 1000000").count() == 1  # the URL was applied
        # an idle page animates nothing forever: Panel's busy spinner, which followed a
        # process-wide flag, spun on every idle page (~7% of a core each in Chromium)
        assert page.evaluate(ENDLESS_ANIMATIONS) == []
        start.click()
        deadline_ms = 90_000
        page.get_by_text(re.compile(r"^step [1-9]\d* / 1000000$")).first.wait_for(
            timeout=deadline_ms)
        first = step_of(page)
        page.get_by_text(re.compile(r"^running")).first.wait_for(timeout=10_000)
        # a curve is drawn: Bokeh canvases exist and the step keeps advancing
        assert page.locator("canvas").count() > 0
        page.wait_for_timeout(1500)
        page.screenshot(path=str(tmp_path / "running.png"), full_page=True)
        page.get_by_role("button", name=re.compile("Stop")).click()
        page.get_by_text(re.compile(r"^stopped")).first.wait_for(timeout=60_000)
        assert step_of(page) >= first
        page.screenshot(path=str(tmp_path / "stopped.png"), full_page=True)
        # the panes are tabs, only the open one drawn (page load draws 7 NC figures,
        # not 13): opening another draws its pane, with the stopped run's state
        before = page.locator("canvas").count()
        page.get_by_text("Gram matrices: measured vs predicted", exact=True).click()
        for _ in range(100):
            if page.locator("canvas").count() > before:
                break
            page.wait_for_timeout(100)
        assert page.locator("canvas").count() > before
    assert away == []
