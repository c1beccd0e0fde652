"""orthoviz's index page: every served app with its title, sentence, thumbnail and
links (headless Chromium against ``orthoviz serve``), and the template escapes text."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("panel")
requests = pytest.importorskip("requests")

from orthoviz.ui.index import INDEX_TEMPLATE, PAPERS, card, cards  # noqa: E402
from orthoviz.ui.serve import app_paths  # noqa: E402

APPS = app_paths()
THUMBS = Path(__file__).resolve().parents[2] / "apps" / "thumbnails"


def _render(items) -> str:
    from tornado.template import Loader

    path = Path(INDEX_TEMPLATE)
    return Loader(str(path.parent)).load(path.name).generate(
        items=items, prefix="", PANEL_CDN="").decode()


def test_every_app_has_a_committed_thumbnail_and_a_card():
    for p in APPS:
        thumb = THUMBS / f"{p.stem}.png"
        assert thumb.exists() and 1_000 < thumb.stat().st_size < 200_000, thumb
        c = card(f"/{p.stem}")
        assert c.title and c.sentence and c.thumbnail == f"thumbnails/{p.stem}.png"
        if p.stem.replace("_", "-") in PAPERS:
            assert c.paper_url.startswith("https://arxiv.org/") and c.notebook_name


def test_template_escapes_every_text():
    evil = '/<img src=x onerror="alert(1)">'
    html = _render([(evil, "x"), ("/neural_collapse", "neural_collapse")])
    assert "<img src=x" not in html and "&lt;img src=x" in html
    assert [c.slug for c in cards([("/a", "a"), "/b"])] == ["a", "b"]


@pytest.mark.ui
@pytest.mark.timeout(240)
def test_index_lists_every_app_with_its_thumbnail(orthoviz_server, page, tmp_path,
                                                  wait_until):
    stems = [p.stem for p in APPS]
    with orthoviz_server(tmp_path, apps=stems) as (_, port, _log):
        base = f"http://127.0.0.1:{port}"
        for s in stems:  # the thumbnails are served next to the index
            r = requests.get(f"{base}/thumbnails/{s}.png", timeout=10)
            assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        page.goto(f"{base}/", wait_until="load")
        assert page.title().startswith("orthoviz")
        wait_until(lambda: page.locator("li.app").count() == len(stems), timeout=30)
        for s in stems:
            item = page.locator(f'li.app[data-app="{s}"]')
            assert item.locator("h2").inner_text() == card(f"/{s}").title
            assert item.locator("p").inner_text().strip()
            img = item.locator("img")
            wait_until(lambda img=img: img.evaluate("i => i.complete && i.naturalWidth > 0"),
                       timeout=15)
            assert item.locator("a").first.get_attribute("href") == f"./{s}"
            if s.replace("_", "-") in PAPERS:
                assert item.locator("a.paper").get_attribute("href").startswith("https://")
                assert "notebooks/" in item.locator("a.notebook").get_attribute("href")
        page.screenshot(path=str(tmp_path / "index.png"), full_page=True)
        page.locator("li.app h2 a").first.click()  # the card opens its app
        wait_until(lambda: page.url.rstrip("/").endswith(f"/{stems[0]}"), timeout=30)
