"""Reading run folders back, whatever state a crash, a kill or a full disk left them in.

A run folder (see :mod:`orthoviz.runtime.store`) may be damaged:

- ``metrics.csv`` cut mid-row (SIGKILL during an append): the partial last row is
  dropped with a note "interrupted at step N";
- ``summary.json`` missing (the run never finished): the run opens as "interrupted";
- ``summary.json``, ``env.json`` or ``arrays.npz`` truncated or garbage: one note naming
  the file and what is wrong, and everything else still opens;
- ``config.json`` damaged: nothing can be rebuilt, so :class:`RunFolderError`, one line
  naming the file;
- a file that is a symbolic link out of the run folder is not read (a note), and with
  ``root`` the folder itself must lie inside the runs directory.

Every problem is one line in ``SavedRun.notes``; no reader raises a traceback's worth
of text.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from orthoviz.runtime.record import Record

INTERRUPTED = "interrupted"


class RunFolderError(ValueError):
    """A run folder that cannot be opened; the message is one line naming the file."""


def inside(path: Path, folder: Path) -> bool:
    """True when ``path`` resolves (symlinks followed) to ``folder`` or below it."""
    real, base = Path(path).resolve(), Path(folder).resolve()
    return real == base or base in real.parents


def _cell(v: str) -> Any:
    """A CSV cell: a number where it parses as one, else the text (a solver name)."""
    try:
        f = float(v)
    except ValueError:
        return v
    return int(f) if f.is_integer() and "." not in v and "e" not in v.lower() else f


def _parse(row: dict) -> dict[str, Any]:
    parsed = {}
    for k, v in row.items():
        if v in ("", None) or k is None:
            continue
        if k == "phase":
            parsed[k] = v
        elif k == "step":
            parsed[k] = int(float(v))
        else:
            c = _cell(v)
            parsed[k] = float(c) if isinstance(c, int) else c
    if "step" not in parsed:
        raise ValueError("no step")
    return parsed


def load_metrics(path: str | os.PathLike, notes: list[str] | None = None) -> list[dict[str, Any]]:
    """metrics.csv as a list of dicts (numbers parsed; empty cells dropped).

    A last row without its line end (cut by a kill) and rows that do not parse are
    dropped; each drop adds one line to ``notes`` when given.
    """
    text = Path(path).read_bytes().decode("utf-8", errors="replace")
    *lines, tail = text.split("\n")  # rows end in "\r\n": a non-empty tail was cut
    partial = tail != ""
    out: list[dict[str, Any]] = []
    bad = 0
    if lines and "\x00" not in lines[0]:
        header = next(csv.reader([lines[0]]))
        for line in lines[1:]:
            try:
                cells = next(csv.reader([line]))
                if "\x00" in line or len(cells) != len(header):
                    raise ValueError("wrong number of cells")
                out.append(_parse(dict(zip(header, cells))))
            except (ValueError, csv.Error, StopIteration):
                bad += 1
    elif lines:
        bad = len(lines)
    if notes is not None:
        step = out[-1]["step"] if out else 0
        if partial:
            notes.append(f"metrics.csv: a partial last row was dropped (interrupted at "
                         f"step {step})")
        if bad:
            notes.append(f"metrics.csv: {bad} unreadable row(s) skipped")
    return out


def split_row(row: dict[str, Any], coords: tuple[str, ...]) -> Record:
    """A metrics.csv row back to a Record: coordinate columns go to ``coords`` (ints
    stay ints), text in any other column to neither."""
    row = dict(row)
    step, phase = row.pop("step"), row.pop("phase", "train")
    co = {}
    for k in coords:
        if k in row:
            v = row.pop(k)
            co[k] = int(v) if isinstance(v, float) and v.is_integer() else v
    scalars = {k: v for k, v in row.items() if isinstance(v, float)}
    return Record(step, phase, scalars, coords=co)


@dataclass
class SavedRun:
    """A run reopened from disk, with no retraining."""

    path: Path
    experiment: Any  # Experiment instance with the saved config
    seed: int
    device: str
    records: list[Record]
    arrays: dict[str, np.ndarray]
    summary: dict[str, Any]
    env: dict[str, Any]
    notes: list[str] = field(default_factory=list)  # one line per problem found
    readable: set[str] = field(default_factory=set)  # files read (inside the folder)

    @property
    def final(self) -> Record | None:
        return next((r for r in reversed(self.records) if r.is_final), None)

    @property
    def status(self) -> str:
        return str(self.summary.get("status", INTERRUPTED))


def _member(folder: Path, name: str, notes: list[str]) -> Path | None:
    """``folder/name`` if it exists and does not lead out of the folder."""
    p = folder / name
    if not p.exists() and not p.is_symlink():
        return None
    if not inside(p, folder) or not p.is_file():
        notes.append(f"{name}: not read (a link out of the run folder, or not a file)")
        return None
    return p


def _json(folder: Path, name: str, notes: list[str]) -> dict | None:
    p = _member(folder, name, notes)
    if p is None:
        return None
    try:
        obj = json.loads(p.read_bytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        notes.append(f"{name}: damaged ({_why(e)})")
        return None
    if not isinstance(obj, dict):
        notes.append(f"{name}: damaged (not a JSON object)")
        return None
    return obj


def _why(e: Exception) -> str:
    return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}".rstrip(": ")


def _arrays(folder: Path, notes: list[str]) -> dict[str, np.ndarray]:
    p = _member(folder, "arrays.npz", notes)
    if p is None:
        return {}
    try:
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files if k != "step"}
    except Exception as e:  # BadZipFile, zlib.error, ValueError, EOFError, ...
        notes.append(f"arrays.npz: damaged ({_why(e)}); geometry views stay empty")
        return {}


def open_folder(path: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """``path`` as a run folder, refused (RunFolderError) when ``root`` is given and
    the folder, symlinks followed, is not inside it."""
    path = Path(path)
    if root is not None and not inside(path, root):
        raise RunFolderError(f"{path} is not inside the runs folder {Path(root)}")
    if not (path / "config.json").exists() and not (path / "config.json").is_symlink():
        raise FileNotFoundError(f"{path} is not a run folder (no config.json)")
    return path


def load_run(path: str | os.PathLike, root: str | os.PathLike | None = None) -> SavedRun:
    """Reopen a run folder written by :class:`~orthoviz.runtime.store.RunWriter`.

    Raises FileNotFoundError (no config.json), RunFolderError (config.json damaged or
    a folder outside ``root``) or ConfigError (a config this version refuses). Any
    other damage becomes a line of ``notes``.
    """
    from orthoviz.runtime.registry import get_experiment

    path = open_folder(path, root)
    notes: list[str] = []
    cfg = _json(path, "config.json", notes)
    if cfg is None or not isinstance(cfg.get("config"), dict) or "experiment" not in cfg:
        why = notes[-1] if notes else "config.json: no experiment and config in it"
        raise RunFolderError(f"cannot open {path}: {why}")
    exp = get_experiment(str(cfg["experiment"])).from_config(cfg["config"])
    readable = {"config.json"}
    coords = tuple(getattr(exp, "coords", ()))
    records: list[Record] = []
    csv_path = _member(path, "metrics.csv", notes)
    if csv_path is not None:
        records = [split_row(r, coords) for r in load_metrics(csv_path, notes)]
        readable.add("metrics.csv")
    else:
        notes.append("metrics.csv: missing (no rows)")
    arrays = _arrays(path, notes)
    summary, env = _json(path, "summary.json", notes), _json(path, "env.json", notes)
    readable |= {n for n, v in (("summary.json", summary), ("env.json", env),
                                ("arrays.npz", arrays)) if v}
    if summary is None:
        step = records[-1].step if records else 0
        notes.append(f"summary.json: missing or damaged; the run was interrupted at "
                     f"step {step}")
        summary = {"status": INTERRUPTED, "step": step}
    if records and records[-1].is_final:
        last = records[-1]
        records[-1] = Record(last.step, last.phase, last.scalars, arrays or None,
                             tuple(summary.get("notes", ())), last.coords)
    try:
        seed = int(cfg.get("seed", 0))
    except (TypeError, ValueError):
        seed = 0
    return SavedRun(path, exp, seed, str(cfg.get("device", "cpu")), records, arrays,
                    summary, env or {}, notes, readable)


def list_runs(root: str | os.PathLike, experiment: str | None = None) -> list[Path]:
    """Run folders under ``root`` (newest first), optionally for one experiment; links
    that lead out of ``root`` are left out."""
    root = Path(root)
    pattern = f"{experiment}/*" if experiment else "*/*"
    runs = [p for p in root.glob(pattern)
            if (p / "config.json").is_file() and inside(p, root)]
    return sorted(runs, key=lambda p: p.name, reverse=True)
