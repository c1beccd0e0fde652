"""Sidebar cards for files: export downloads, "Save run" and "Open run"."""

from __future__ import annotations

import io

import panel as pn

from orthoviz.runtime.store import list_runs
from orthoviz.ui.text import plain_html
from orthoviz.viz import export


class FilesPanel:
    """Export (HTML, PNG, CSV, JSON) and Save/Open run widgets of one explorer."""

    def __init__(self, explorer):
        self.explorer = explorer
        key = explorer.experiment_cls.key
        self.html = pn.widgets.FileDownload(
            callback=self._html, filename=f"{key}-figures.html", label="Figures (HTML)",
            color="default", sizing_mode="stretch_width")
        method, why = export.png_support()
        self.png = pn.widgets.FileDownload(
            callback=self._png, filename=f"{key}-figures.png", sizing_mode="stretch_width",
            label="Figures (PNG)" if method else "Figures (PNG): no browser driver",
            color="default", disabled=method is None, description=why)
        self.csv = pn.widgets.FileDownload(
            callback=self._csv, filename=f"{key}-metrics.csv", label="Metrics (CSV)",
            color="default", sizing_mode="stretch_width")
        self.json = pn.widgets.FileDownload(
            callback=self._json, filename=f"{key}-config.json", label="Config (JSON)",
            color="default", sizing_mode="stretch_width")
        self.png_note = pn.pane.HTML(
            "" if method else f"<i>{plain_html(why)}</i>", styles={"font-size": "0.85em"})

        self.save = pn.widgets.Button(label="Save run", color="primary",
                                      sizing_mode="stretch_width",
                                      description="Write the current run to a run folder")
        self.runs = pn.widgets.Select(label="Saved runs", options={},
                                      sizing_mode="stretch_width")
        self.refresh = pn.widgets.Button(label="↻", color="default", width=45,
                                         align="end", description="Refresh the list")
        self.path = pn.widgets.TextInput(label="…or a run folder path",
                                         placeholder="runs/<experiment>/<time>-<id>",
                                         sizing_mode="stretch_width")
        self.open = pn.widgets.Button(label="Open run", color="default",
                                      sizing_mode="stretch_width")
        # on the session's event loop, like the run buttons: from Panel's thread pool
        # (--num-threads) every plot update of an Open is deferred to a callback of its
        # own and applied out of order (17-46 s to open, a plot left blank)
        self.save.on_click(lambda e: explorer._on_loop(self._do_save))
        self.open.on_click(lambda e: explorer._on_loop(self._do_open))
        self.refresh.on_click(lambda e: self.refresh_runs())
        self.refresh_runs()

    # -- downloads (callbacks return file-like objects) -------------------------------
    def _page(self, tmp: str, png: bool):
        """The page of the run on show, written into ``tmp`` (as ``orthoviz export``
        writes it): title, config, notes, theory, the plots at their page size."""
        e = self.explorer
        state = e._state(e.runner)
        final = e.final
        config = {"experiment": e.experiment_cls.key, "seed": e.run_seed,
                  "device": e.run_device, **state.config.config()}
        title = e.experiment_cls.title or e.experiment_cls.key
        return export.write_page(e.views, state, tmp, title, config=config, png=png,
                                 notes=list(final.notes) if final is not None else [])

    def _html(self):
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            return io.BytesIO(self._page(tmp, png=False)[0].read_bytes())

    def _png(self):
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            result = self._page(tmp, png=True)
            if len(result) < 2:  # no PNG: say why on the page
                self.explorer.message = "; ".join(result.notes)
                return io.BytesIO(b"")
            return io.BytesIO(result[1].read_bytes())

    def _csv(self):
        return io.StringIO(export.metrics_csv(self.explorer.history))

    def _json(self):
        e = self.explorer
        return io.StringIO(export.config_json(e.run_config, e.run_seed, e.run_device))

    # -- runs -------------------------------------------------------------------------
    def refresh_runs(self) -> None:
        e = self.explorer
        paths = list_runs(e.runs_root, e.experiment_cls.key)
        self.runs.options = {p.name: str(p) for p in paths}

    def _do_save(self) -> None:
        path = self.explorer.save_run()
        if path is not None:
            self.refresh_runs()

    def _do_open(self) -> None:
        target = self.path.value.strip() or self.runs.value
        if not target:
            self.explorer.message = "choose a saved run or type a run folder path"
            return
        self.explorer.open_run(target)

    def panels(self) -> tuple[pn.Card, pn.Card]:
        runs = pn.Card(self.save, pn.Row(self.runs, self.refresh, sizing_mode="stretch_width"),
                       self.path, self.open, title="Runs", collapsed=True,
                       sizing_mode="stretch_width")
        files = pn.Card(self.html, self.png, self.csv, self.json, self.png_note,
                        title="Export", collapsed=True, sizing_mode="stretch_width")
        return runs, files
