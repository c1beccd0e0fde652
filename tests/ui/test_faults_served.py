"""Two browser sessions on one server (issue #10): an exception inside one session's
run ends that run, its message shown on that page only, while the other session's
run keeps training and its page keeps updating. (Without a browser, and for out of
memory and unwritable folders: tests/ui/test_faults.py.)"""

from __future__ import annotations

import re

import pytest

pn = pytest.importorskip("panel")
pytest.importorskip("playwright")

from orthoviz.ui import Explorer  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.ui.test_faults import LONG, failing  # noqa: E402

pytestmark = pytest.mark.ui
STEP = re.compile(r"^step (\d+) / ")
ERROR = "ValueError: singular matrix in step"


def shown_step(page) -> int:
    return int(STEP.match(page.get_by_text(STEP).first.inner_text().strip()).group(1))


@pytest.mark.timeout(240)
def test_an_exception_in_one_served_session_leaves_the_others_run_and_page_going(
        chromium, wait_until):
    made: dict[str, Explorer] = {}

    def app(kind: str):
        cls = "neural-collapse" if kind == "good" else failing(
            ValueError("singular matrix in step"), after=30)
        made[kind] = ex = Explorer(cls, preset="smoke", config=LONG)
        return ex.template()

    port = free_port()
    server = pn.serve({"good": lambda: app("good"), "bad": lambda: app("bad")}, port=port,
                      address="127.0.0.1", threaded=True, show=False,
                      websocket_origin=[f"127.0.0.1:{port}"])
    ctx = chromium.new_context()
    try:
        pages = {}
        for kind in ("good", "bad"):
            pages[kind] = page = ctx.new_page()
            page.goto(f"http://127.0.0.1:{port}/{kind}", timeout=120_000)
            page.get_by_role("button", name=re.compile("Start")).wait_for(timeout=120_000)
            page.wait_for_function("() => document.readyState === 'complete'")
        good, bad = pages["good"], pages["bad"]
        good.get_by_role("button", name=re.compile("Start")).click()
        good.get_by_text(re.compile(r"^step [1-9]\d* / ")).first.wait_for(timeout=60_000)
        bad.get_by_role("button", name=re.compile("Start")).click()
        # the failing session: "failed" with the exception, in words, and no run left
        bad.get_by_text(ERROR).first.wait_for(timeout=60_000)
        bad.get_by_text("failed", exact=True).first.wait_for(timeout=10_000)
        assert not made["bad"].runner.alive
        # the other session: still training, its page still moving, no word of it
        seen = shown_step(good)
        wait_until(lambda: shown_step(good) > seen + 20, timeout=60)
        assert made["good"].runner.alive and made["good"].status == "running"
        assert good.get_by_text(re.compile("singular|failed")).count() == 0
    finally:
        for ex in made.values():
            ex.stop(wait=True)
        ctx.close()
        server.stop()
