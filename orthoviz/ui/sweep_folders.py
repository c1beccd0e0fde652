"""Sweep folders in the sweep view: listing those under the runs directory and drawing
one (finished or partial, from the CLI or an earlier session); mixed into
:class:`~orthoviz.ui.sweep_view.SweepView`."""

from __future__ import annotations

import json
from pathlib import Path

from orthoviz.runtime.rundir import inside
from orthoviz.runtime.sweep import read_table

#: the files of a sweep folder the view reads
FILES = ("sweep.json", "results.parquet", "results.csv")


def _text(values) -> str:
    return ", ".join(str(v) for v in values)


def read_meta(folder: Path) -> dict:
    """``folder/sweep.json`` as a sweep description; ValueError (one line naming what is
    wrong) when a file the view reads links out of the folder, or the description is
    not one (a JSON object whose ``grid`` maps parameters to lists of values)."""
    for name in FILES:
        f = folder / name
        if (f.exists() or f.is_symlink()) and not (inside(f, folder) and f.is_file()):
            raise ValueError(f"{name} is a link out of the sweep folder, or not a file")
    meta = json.loads((folder / "sweep.json").read_text())
    if not isinstance(meta, dict):
        raise ValueError("sweep.json is not a sweep description (a JSON object)")
    grid, cells = meta.get("grid", {}), meta.get("cells", [])
    if not (isinstance(grid, dict) and all(isinstance(v, list) for v in grid.values())
            and isinstance(cells, list)):
        raise ValueError("sweep.json: 'grid' must map parameters to lists of values and "
                         "'cells' be a list")
    return meta


class SweepFolders:
    """``refresh_folders`` and ``open_sweep`` of the sweep view."""

    def refresh_folders(self) -> None:
        root = Path(self.runs_root)
        # (a folder or sweep.json linking out of the runs directory is not listed)
        found = sorted({p.parent for pat in ("*/sweep.json", "*/*/sweep.json")
                        for p in root.glob(pat) if inside(p, root)}) if root.is_dir() else []
        mine = [p for p in found if self._experiment_of(p) == self.cls.key]
        self.folders.options = {str(p.relative_to(root)): str(p) for p in mine}

    @staticmethod
    def _experiment_of(folder: Path) -> str | None:
        try:
            return read_meta(folder).get("experiment")
        except (OSError, ValueError):
            return None

    def _open_clicked(self) -> None:
        target = self.path.value.strip() or self.folders.value
        if not target:
            self._say("choose a sweep folder or type its path", "warning")
            return
        self.open_sweep(target)

    def open_sweep(self, path: str | Path) -> bool:
        """Draw a finished or partial sweep folder. Only folders inside ``runs_root``
        open; a relative path is tried from the working folder, then ``runs_root``."""
        if self.handle is not None and not self.handle.done:
            self._say("a sweep is running: cancel it first", "warning")
            return False
        target = Path(path)
        if not target.is_absolute() and not target.exists():
            target = Path(self.runs_root) / target
        if not inside(target, self.runs_root):
            self._say(f"cannot open {path}: not inside the runs directory "
                      f"{self.runs_root}", "danger")
            return False
        try:
            meta = read_meta(target)
            table = read_table(target)
        except (OSError, ValueError) as e:  # (JSON and table errors are ValueErrors)
            self._say(f"cannot open {path}: {e}", "danger")
            return False
        if meta.get("experiment") != self.cls.key:
            self._say(f"{path} is a sweep of {meta.get('experiment')}", "danger")
            return False
        self.handle, self.grid = None, {k: list(v) for k, v in meta.get("grid", {}).items()}
        self.preset_used = str(meta.get("preset", "default"))
        self.rows = table.to_dict("records")
        with self._holding():
            keys = list(self.grid)
            if keys:
                self.axis1.value = keys[0]
                self.values1.value = _text(self.grid[keys[0]])
            if len(keys) > 1:
                self.axis2.value = keys[1]
                self.values2.value = _text(self.grid[keys[1]])
            n = len(meta.get("cells", []))
            self.progress.max = max(n, 1)
            self.progress.value = min(len(self.rows), self.progress.max)
            self.count.object = f"{len(self.rows)} / {n} cells"
            self.status = "opened"
            self._say(f"opened {target}: {len(self.rows)} of {n} cells done", "success")
            self._theory, self._marks = None, {}
            self._keys = self._line_keys()
            self._redraw()
        if keys:
            self._start_theory()
            self._start_pump()  # draws the theory when it arrives, then stops
        return True
