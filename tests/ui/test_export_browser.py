"""The app's HTML export opened in headless Chromium: every plot at its page size, two
columns as on the page, with the title, config, notes and theory numbers.

The pages are exported before the browser starts (module fixture listed first):
Playwright's sync API holds an event loop on the main thread, which HoloViews and
Panel must not see while they build.
"""

from __future__ import annotations

import pytest

pytest.importorskip("panel")
pytest.importorskip("playwright")

from orthoviz.runtime import list_experiments  # noqa: E402
from orthoviz.ui import Explorer  # noqa: E402
from orthoviz.viz import page as pg  # noqa: E402

pytestmark = pytest.mark.ui

# every Bokeh figure of the page: its configured size and the size the browser drew
FIGURES = """() => {
  const out = [], seen = new Set();
  const walk = (v) => {
    if (!v || seen.has(v)) return;
    seen.add(v);
    if (v.model && v.model.constructor.__name__ === "Figure") {
      const r = v.el.getBoundingClientRect();
      out.push({title: v.model.title ? v.model.title.text : "",
                width: v.model.width ?? v.model.frame_width, x: r.left, y: r.top,
                drawn_width: r.width, drawn_height: r.height});
    }
    for (const c of (v.child_views || [])) walk(c);
  };
  for (const root of Object.values(Bokeh.index)) walk(root);
  return out;
}"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """key -> (html path, explorer facts) after a smoke run of each experiment."""
    out = {}
    for key in list_experiments():
        e = Explorer(key, preset="smoke", device="cpu")
        assert e.start() and e.runner.join(120) and e.status == "finished", e.message
        path = tmp_path_factory.mktemp(key) / "figures.html"
        path.write_bytes(e.files._html().read())
        out[key] = (path, {"curves": [c.title for c in e.views.curves],
                           "notes": list(e.final.notes), "seed": e.run_seed,
                           "title": e.experiment_cls.title or key,
                           "theory": pg.theory_numbers(e.runner.theory)})
        e.teardown()
    return out


@pytest.mark.timeout(600)
@pytest.mark.parametrize("key", list_experiments())
def test_exported_page_shows_every_plot_at_its_page_size(exported, page, key):
    path, facts = exported[key]
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0 && "
                           "Bokeh.documents.every(d => d.is_idle)", timeout=60_000)
    # the root views are built after the documents go idle: wait for the figures
    page.wait_for_function(f"() => ({FIGURES})().length >= {len(facts['curves'])}",
                           timeout=60_000)
    page.wait_for_timeout(300)  # the last layout pass
    figs = page.evaluate(FIGURES)
    assert not errors, errors
    assert len(figs) >= len(facts["curves"])
    for f in figs:  # none squashed: each drawn at (nearly) the width it was given
        assert f["drawn_width"] >= 0.9 * f["width"] and f["drawn_height"] >= 150, f
    by_title = {f["title"]: f for f in figs}
    curves = [by_title[t] for t in facts["curves"]]
    assert all(f["drawn_width"] >= 0.9 * pg.CELL_WIDTH for f in curves)
    if len(curves) >= 2:  # the page's two columns: the first two groups side by side
        a, b = curves[:2]
        assert a["y"] == pytest.approx(b["y"], abs=2)
        assert b["x"] >= a["x"] + 0.9 * pg.CELL_WIDTH
    if "measured" in by_title:  # NC's 3-D pair stays one cell, side by side, as on the page
        m, p = by_title["measured"], by_title["predicted"]
        assert m["y"] == pytest.approx(p["y"], abs=2) and p["x"] > m["x"]
        assert p["x"] + p["drawn_width"] - m["x"] <= pg.CELL_WIDTH
    # the header is a Bokeh Div: its HTML sits in a shadow root (CSS locators pierce it)
    assert page.locator("h1").first.inner_text().strip() == facts["title"]
    tables = page.locator("table.ov").all_inner_texts()
    assert len(tables) == 1 + bool(facts["theory"])  # config, theory (if any numbers)
    config = dict(line.split("\t", 1) for line in tables[0].splitlines() if "\t" in line)
    assert config["experiment"] == key and config["seed"] == str(facts["seed"])
    if facts["theory"]:  # the theory's key numbers, as computed for the run
        theory = dict(line.split("\t", 1) for line in tables[1].splitlines()
                      if "\t" in line)
        assert theory == facts["theory"]
    notes = page.locator("ul.ov").all_inner_texts()
    for note in facts["notes"]:  # the run's notes, as text
        assert note in "\n".join(notes)
