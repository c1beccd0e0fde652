"""Export figures and data of a run: HTML (no browser needed), PNG (needs a browser
driver), metrics CSV and config JSON.

The HTML is the run's page (:mod:`orthoviz.viz.page`): title, config, notes, theory
numbers and every plot at its page size, two columns, as in the explorer. The PNG is
that page's screenshot.

PNG goes through Bokeh's selenium export when ``selenium`` and a ``chromedriver`` are
installed, else through Playwright driving the OS Chromium (``$ORTHOVIZ_CHROMIUM`` or
``/usr/bin/chromium``). With neither, PNG is skipped and the reason is returned.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from orthoviz.runtime.params import to_jsonable
from orthoviz.runtime.record import Record
from orthoviz.viz import page
from orthoviz.viz.common import ensure_bokeh, figure_layout
from orthoviz.viz.spec import Views, ViewState, views_for


class ExportResult(list):
    """The written paths (a ``list[Path]``) plus ``notes``: what was skipped and why."""

    def __init__(self, paths=(), notes=()):
        super().__init__(paths)
        self.notes: list[str] = list(notes)


# -- data ------------------------------------------------------------------------------
def metrics_csv(records: Iterable[Record]) -> str:
    """step, phase and every scalar as CSV text (columns in order of appearance)."""
    rows = [r.row() for r in records]
    cols = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, cols or ["step", "phase"], restval="")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def config_json(experiment, seed: int, device: str) -> str:
    """The same shape as a run folder's ``config.json``."""
    return json.dumps(to_jsonable({"experiment": experiment.key, "seed": seed,
                                   "device": device, "config": experiment.config()}),
                      indent=2) + "\n"


def view_state(experiment, records: list[Record], arrays: dict) -> ViewState:
    """A saved or finished run's state for the static figures (the experiment's
    theory is computed once and cached on it)."""
    final = next((r for r in reversed(records) if r.is_final), None)
    return ViewState(config=experiment, theory=experiment.theory(), arrays=dict(arrays),
                     rows=[r.row() for r in records],
                     final=dict(final.scalars) if final is not None else None)


# -- figures ---------------------------------------------------------------------------
def figures(experiment, records: list[Record], arrays: dict):
    """All curves and panes of the experiment's views as one static hv.Layout."""
    ensure_bokeh()
    return figure_layout(views_for(type(experiment)), view_state(experiment, records, arrays))


def save_html(obj, path: str | os.PathLike, title: str = "orthoviz") -> Path:
    """A self-contained HTML file (Bokeh JS inlined: opens offline, no browser needed)."""
    import holoviews as hv
    from bokeh.resources import INLINE

    ensure_bokeh()
    path = Path(path)
    hv.save(obj, path, backend="bokeh", resources=INLINE, title=title)
    return path


def write_page(views: Views, state: ViewState, to: str | os.PathLike, title: str,
               notes: Iterable[str] = (), config: dict | None = None,
               png: bool = False) -> ExportResult:
    """The run's page as ``<to>/figures.html`` (and ``figures.png`` with ``png``, when a
    browser driver is at hand; else ``notes`` says why not)."""
    to = Path(to)
    model = page.page_model(views, state, title, notes, config=config)
    html = page.save_page(model, to / "figures.html", title)
    result = ExportResult([html])
    if png:
        try:
            result.append(page_png(model, html, to / "figures.png"))
        except RuntimeError as e:
            result.notes.append(f"PNG skipped: {e}")
    return result


def page_png(model, html: Path, png: Path) -> Path:
    """A screenshot of a saved page (Playwright), or Bokeh's selenium export of its
    layout; RuntimeError with :func:`png_support`'s reason when neither is possible."""
    method, why = png_support()
    if method is None:
        raise RuntimeError(why)
    if method == "playwright":
        _screenshot(html, png, width=page.COLUMNS * page.CELL_WIDTH + 120)
        return png
    from bokeh.io import export_png

    if os.geteuid() == 0:
        os.environ.setdefault("BOKEH_IN_DOCKER", "1")  # Bokeh then adds --no-sandbox
    export_png(model, filename=str(png))
    return png


def chromium_path() -> str | None:
    """The OS Chromium used for PNG export and browser tests, if any."""
    for cand in (os.environ.get("ORTHOVIZ_CHROMIUM"), "/usr/bin/chromium",
                 shutil.which("chromium"), shutil.which("chromium-browser")):
        if cand and os.path.exists(cand):
            return cand
    return None


def png_support() -> tuple[str | None, str]:
    """(method, explanation): method is ``"selenium"``, ``"playwright"`` or None."""
    try:
        import selenium  # noqa: F401

        if os.environ.get("BOKEH_CHROMEDRIVER_PATH") or shutil.which("chromedriver"):
            return "selenium", "Bokeh export through selenium + chromedriver"
    except ImportError:
        pass
    chrome = chromium_path()
    try:
        import playwright  # noqa: F401
    except ImportError:
        chrome = None
    if chrome:
        return "playwright", f"Playwright driving {chrome}"
    return None, ("PNG export needs a browser driver: install selenium and chromedriver "
                  "(Debian: apt-get install chromium-driver), or playwright with the OS "
                  "chromium; HTML export works without one")


def save_png(obj, path: str | os.PathLike) -> Path:
    """Render ``obj`` to PNG; raises RuntimeError with :func:`png_support`'s reason
    when no browser driver is available."""
    import holoviews as hv

    method, why = png_support()
    path = Path(path)
    if method is None:
        raise RuntimeError(why)
    ensure_bokeh()
    if method == "selenium":
        if os.geteuid() == 0:
            os.environ.setdefault("BOKEH_IN_DOCKER", "1")  # Bokeh then adds --no-sandbox
        hv.save(obj, path, backend="bokeh")
        return path
    with tempfile.TemporaryDirectory() as tmp:
        html = save_html(obj, Path(tmp) / "figure.html")
        _screenshot(html, path)
    return path


def _screenshot(html: Path, png: Path, timeout_s: float = 60.0, width: int = 1200) -> None:
    # The sync Playwright API refuses to run on a thread with an asyncio loop (a Panel
    # server callback), so it always runs on a fresh thread.
    err: list[BaseException] = []

    def work():
        try:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=chromium_path(), headless=True,
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                          "--disable-component-update", "--disable-sync", "--no-first-run"])
                try:
                    tab = browser.new_page(viewport={"width": width, "height": 800})
                    tab.goto(html.resolve().as_uri())
                    tab.wait_for_function(
                        "() => window.Bokeh && Bokeh.documents.length > 0 && "
                        "Bokeh.documents.every(d => d.is_idle)", timeout=timeout_s * 1000)
                    tab.wait_for_timeout(300)  # let the canvases paint
                    tab.screenshot(path=str(png), full_page=True)
                finally:
                    browser.close()
        except BaseException as e:  # reported on the caller's thread
            err.append(e)

    t = threading.Thread(target=work, name="orthoviz-png", daemon=True)
    t.start()
    t.join(timeout_s + 30)
    if t.is_alive():
        raise RuntimeError("PNG export timed out")
    if err:
        raise RuntimeError(f"PNG export failed: {err[0]}") from err[0]


# -- a saved run -----------------------------------------------------------------------
def export_run(run_dir: str | os.PathLike, to: str | os.PathLike | None = None,
               png: bool = True) -> ExportResult:
    """Write a saved run's figures (HTML, PNG where possible), metrics.csv and
    config.json into ``to`` (default ``<run_dir>/export/``), without retraining.

    Returns the written paths; ``result.notes`` says what was skipped (e.g. PNG
    without a browser driver).
    """
    from orthoviz.runtime.store import load_run

    saved = load_run(run_dir)
    out = Path(to) if to is not None else saved.path / "export"
    out.mkdir(parents=True, exist_ok=True)
    exp = saved.experiment
    state = view_state(exp, saved.records, saved.arrays)
    final = next((r for r in reversed(saved.records) if r.is_final), None)
    title = f"{exp.title or exp.key} — {saved.path.name}"
    config = {"experiment": exp.key, "seed": saved.seed, "device": saved.device,
              **exp.config()}
    result = write_page(views_for(type(exp)), state, out, title,
                        notes=list(final.notes) if final is not None else [],
                        config=config, png=png)
    result.notes[:0] = saved.notes  # damage found while reading (one line each)
    for name in ("metrics.csv", "config.json", "summary.json"):
        src = saved.path / name
        if name in saved.readable:  # never a file that links out of the run folder
            shutil.copyfile(src, out / name)
            result.append(out / name)
    return result
