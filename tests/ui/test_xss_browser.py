"""No script from a link (headless Chromium, the OS package): every URL parameter of each
app, and ``data_dir`` at Start, carries a ``<script>`` or ``onerror`` payload; none
runs (a ``window`` flag stays unset) and the message shows the text literally. A link
with NaN values is refused on arrival, by name, and the rest of it applies."""

from __future__ import annotations

import re
import urllib.parse

import pytest

pytest.importorskip("panel")
pytest.importorskip("playwright")

from orthoviz.runtime import get_experiment  # noqa: E402
from orthoviz.runtime.params import user_parameters  # noqa: E402

pytestmark = [pytest.mark.ui, pytest.mark.timeout(360)]
APPS = {"neural_collapse": ("neural-collapse", {"backbone": "mlp", "dataset": "cifar10",
                                                "steps": "10"}),
        "random_features": ("random-features", {"spectrum": "cifar10"})}


def payload(name: str, i: int) -> str:
    """A script tag or an image whose onerror sets ``window.__xss`` to the name."""
    if i % 2:
        return f"<script>window.__xss='{name}'</script>"
    return f"<img src=x onerror=\"window.__xss='{name}'\">"


def flag(page):
    return page.evaluate("() => window.__xss === undefined ? null : window.__xss")


def status_text(page, pattern: str) -> str:
    """Text of the status line once it matches ``pattern``."""
    found = page.get_by_text(re.compile(pattern)).first
    found.wait_for(timeout=120_000)
    return found.inner_text()


@pytest.mark.parametrize("app", list(APPS))
def test_payloads_in_the_url_and_data_dir_stay_text(app, tmp_path, orthoviz_server, page):
    key, cifar = APPS[app]
    names = ["seed", *user_parameters(get_experiment(key))]
    every = {n: payload(n, i) for i, n in enumerate(names)}
    (tmp_path / "data").mkdir()
    with orthoviz_server(tmp_path, "--data-root", str(tmp_path / "data"),
                         apps=[app]) as (_, port, _log):
        base = f"http://127.0.0.1:{port}/{app}"
        # 1. every parameter at once: refused values are named in the status line
        page.goto(f"{base}?{urllib.parse.urlencode(every)}", timeout=120_000)
        text = status_text(page, "URL value not applied")
        assert "<img src=x onerror=" in text and "<script>window.__xss=" in text, text
        assert page.locator("img[src='x']").count() == 0
        page.wait_for_timeout(500)  # an onerror would have fired by now
        assert flag(page) is None
        # 2. data_dir reaches Start (a string is a valid value): a folder outside the
        # data root, refused, and shown as text
        bad = "/" + payload("data_dir", 0)
        page.goto(f"{base}?{urllib.parse.urlencode({**cifar, 'data_dir': bad})}",
                  timeout=120_000)
        start = page.get_by_role("button", name=re.compile("Start"))
        start.wait_for(timeout=120_000)
        page.wait_for_function("() => document.readyState === 'complete'")
        start.click()
        text = status_text(page, "inside the data root")
        assert text.startswith("failed") and repr(bad) in text and "data_dir" in text, text
        page.wait_for_timeout(500)
        assert flag(page) is None
        assert page.locator("img[src='x']").count() == 0
        if app == "neural_collapse":  # 3. the NaN link: refused at load, named;
            # the valid value next to it applies, and Start runs that config
            page.goto(f"{base}?layer_decays=[NaN,NaN]&depth=2&steps=20", timeout=120_000)
            start = page.get_by_role("button", name=re.compile("Start"))
            page.wait_for_function("() => document.readyState === 'complete'")
            text = status_text(page, "URL value not applied")
            assert "'layer_decays'" in text and "'depth'" not in text, text
            assert start.is_enabled(), "not stuck at running: Start is available again"
            start.click()
            status_text(page, "^finished")
