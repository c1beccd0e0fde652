"""Links restore the explorer (headless Chromium, the OS package): a URL with a preset
and changed values shows exactly those values in the widgets, edits are written back to
the URL, and a refused URL value is named in the status line. Values are read from the
page's widgets, never from the server."""

from __future__ import annotations

import re
import urllib.parse

import pytest

pytest.importorskip("panel")
pytest.importorskip("playwright")

from playwright.sync_api import expect  # noqa: E402

from orthoviz.ui.serve import app_paths  # noqa: E402

pytestmark = [pytest.mark.ui, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def nc_url(tmp_path_factory):
    from tests.conftest import panel_server

    nc = next(p for p in app_paths() if p.stem == "neural_collapse")
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with panel_server([nc], log) as url:
        yield f"{url}/{nc.stem}"


def open_app(page, url: str) -> None:
    page.goto(url, timeout=120_000)
    page.get_by_role("button", name=re.compile("Start")).wait_for(timeout=120_000)
    page.wait_for_function("() => document.readyState === 'complete'")


def value(page, label: str) -> str:
    return page.get_by_label(label, exact=True).input_value()


def test_a_link_with_a_preset_and_changed_values_restores_them(nc_url, page):
    changed = {"preset": "imbalanced_E2", "lr": "0.05", "depth": "2",
               "class_sizes": "[200, 100, 60, 50]", "seed": "11"}
    open_app(page, f"{nc_url}?{urllib.parse.urlencode(changed)}")
    assert value(page, "Preset") == "imbalanced_E2"
    assert float(value(page, "Learning rate")) == 0.05  # the link's value, not the preset's
    assert value(page, "Depth M (linear layers)") == "2"  # the preset has 3
    assert value(page, "Class sizes (override)") == "[200, 100, 60, 50]"
    assert value(page, "Seed") == "11"
    assert value(page, "Steps") == "30000"  # unchanged: the preset's, not the default 4000
    assert value(page, "Feature decay λ_H") == "0.0005"
    page.get_by_text("step 0 / 30000").first.wait_for(timeout=10_000)
    assert page.get_by_text(re.compile("URL value not applied")).count() == 0
    # an edit reaches the URL, so the link can be shared again
    box = page.get_by_label("Learning rate", exact=True)
    box.fill("0.07")
    box.press("Enter")
    page.wait_for_function("() => window.location.search.includes('lr=0.07')",
                           timeout=30_000)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(page.url).query))
    assert query["preset"] == "imbalanced_E2" and query["device"] == "auto"
    assert query["depth"] == "2" and "steps" not in query  # only what differs


def test_an_invalid_link_value_is_named_and_the_rest_applies(nc_url, page):
    open_app(page, f"{nc_url}?lr=abc&depth=99&steps=123&device=cuda:7")
    status = page.get_by_text(re.compile("URL value not applied")).first
    status.wait_for(timeout=30_000)
    text = status.inner_text()
    assert "'lr': 'abc'" in text and "1e-07 <= lr <= 10" in text, text
    assert "'depth'" in text and "depth <= 12" in text, text
    assert "'device': 'cuda:7'" in text, text
    assert value(page, "Steps") == "123"  # a valid value beside bad ones still applies
    assert value(page, "Depth M (linear layers)") == "3"
    page.get_by_text("step 0 / 123").first.wait_for(timeout=10_000)


def test_a_typed_value_out_of_range_is_named_and_put_back(nc_url, page):
    """A value typed into a widget goes through the same check as a URL value: the
    class sizes box takes any text, so a refused list reaches the server; the status
    line names the parameter and its range, the box shows the value in force again,
    and the session goes on (a valid edit after it applies)."""
    open_app(page, f"{nc_url}?preset=smoke")
    box = page.get_by_label("Class sizes (override)", exact=True)
    before = box.input_value()
    box.fill("[1e400, 5]")
    box.press("Enter")
    status = page.get_by_text(re.compile("not applied: invalid value for 'class_sizes'"))
    status.first.wait_for(timeout=30_000)
    expect(box).to_have_value(before, timeout=10_000)
    box.fill('["a", 5]')
    box.press("Enter")
    page.get_by_text(re.compile(r"'class_sizes': \['a', 5\]")).first.wait_for(timeout=30_000)
    expect(box).to_have_value(before, timeout=10_000)
    steps = page.get_by_label("Steps", exact=True)
    steps.fill("321")
    steps.press("Enter")
    page.get_by_text("step 0 / 321").first.wait_for(timeout=30_000)
