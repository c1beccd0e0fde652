"""Run folders on disk: ``runs/<experiment>/<UTC time>-<id>/``.

Files: ``config.json`` (param serialization plus seed/device), ``metrics.csv``
(appended at every flush, so a crash loses at most the last flush), ``summary.json``
(final scalars, theory, status), ``arrays.npz`` (the latest snapshot) and ``env.json``
(versions, device, seed, git revision). Whole-file writes go to a temporary name and
are renamed into place.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from orthoviz.runtime.artifacts import save_artifacts
from orthoviz.runtime.params import to_jsonable
from orthoviz.runtime.record import Record

DEFAULT_ROOT = "runs"


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _write_json(path: Path, obj: Any) -> None:
    _atomic_write(path, (json.dumps(to_jsonable(obj), indent=2) + "\n").encode())


def _git_revision() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True,
            text=True, timeout=5,
        )
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def environment(device: str, seed: int) -> dict[str, Any]:
    """Versions and machine facts stored as ``env.json``."""
    import torch

    import orthoviz

    env = {
        "orthoviz": orthoviz.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device,
        "seed": seed,
        "git_revision": _git_revision(),
    }
    if device.startswith("cuda"):
        env["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return env


class RunWriter:
    """Streams one run into a new folder. Create it only after validation passed,
    so that a refused run writes nothing."""

    def __init__(self, experiment, seed: int, device: str, root: str | os.PathLike = DEFAULT_ROOT):
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        self.path = Path(root) / experiment.key / f"{stamp}-{uuid.uuid4().hex[:6]}"
        self.path.mkdir(parents=True, exist_ok=False)
        self.experiment, self.seed, self.device = experiment, seed, device
        self._columns: list[str] = []
        self._t0 = time.perf_counter()
        _write_json(self.path / "config.json", {
            "experiment": experiment.key, "seed": seed, "device": device,
            "config": experiment.config(),
        })
        _write_json(self.path / "env.json", environment(device, seed))

    def append(self, records: list[Record]) -> None:
        """Append rows to metrics.csv (rewritten atomically if new columns appear) and
        keep the latest array snapshot."""
        rows = [r.row() for r in records]
        new = [k for r in rows for k in r if k not in self._columns]
        csv_path = self.path / "metrics.csv"
        if new:
            old = load_metrics(csv_path) if csv_path.exists() else []
            self._columns += list(dict.fromkeys(new))
            buf = io.StringIO()
            w = csv.DictWriter(buf, self._columns, restval="")
            w.writeheader()
            w.writerows(old)
            w.writerows(rows)
            _atomic_write(csv_path, buf.getvalue().encode())
        else:
            with open(csv_path, "a", newline="") as f:
                csv.DictWriter(f, self._columns, restval="").writerows(rows)
                f.flush()
                os.fsync(f.fileno())
        arrays = next((r.arrays for r in reversed(records) if r.arrays), None)
        if arrays:
            buf = io.BytesIO()
            np.savez_compressed(buf, step=np.array(records[-1].step),
                                **{k: np.asarray(v) for k, v in arrays.items()})
            _atomic_write(self.path / "arrays.npz", buf.getvalue())

    def close(self, status: str, message: str, final: Record | None,
              theory: dict[str, Any], wall_time: float | None = None,
              artifacts: dict[str, Any] | None = None) -> None:
        """Write the artifacts, then summary.json: status, final scalars and the theory."""
        saved = save_artifacts(self.path, artifacts or {})
        _write_json(self.path / "summary.json", {
            "experiment": self.experiment.key, "status": status, "message": message,
            "seed": self.seed, "device": self.device,
            "final": dict(final.scalars) if final is not None else {},
            "notes": list(final.notes) if final is not None else [],
            "theory": theory,
            "coords": list(getattr(self.experiment, "coords", ())),
            "artifacts": saved,
            "wall_time_s": wall_time if wall_time is not None else time.perf_counter() - self._t0,
        })


def _cell(v: str) -> Any:
    """A CSV cell: a number where it parses as one, else the text (a solver name)."""
    try:
        f = float(v)
    except ValueError:
        return v
    return int(f) if f.is_integer() and "." not in v and "e" not in v.lower() else f


def load_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """metrics.csv as a list of dicts (numbers parsed; empty cells dropped)."""
    out = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
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
            out.append(parsed)
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

    @property
    def final(self) -> Record | None:
        return next((r for r in reversed(self.records) if r.is_final), None)


def load_run(path: str | os.PathLike) -> SavedRun:
    """Reopen a run folder written by :class:`RunWriter`."""
    from orthoviz.runtime.registry import get_experiment

    path = Path(path)
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"{path} is not a run folder (no config.json)")
    cfg = json.loads((path / "config.json").read_text())
    exp = get_experiment(cfg["experiment"]).from_config(cfg["config"])
    records = []
    coords = tuple(getattr(exp, "coords", ()))
    if (path / "metrics.csv").exists():
        records = [split_row(row, coords) for row in load_metrics(path / "metrics.csv")]
    arrays: dict[str, np.ndarray] = {}
    if (path / "arrays.npz").exists():
        with np.load(path / "arrays.npz") as z:
            arrays = {k: z[k] for k in z.files if k != "step"}
    summary, env = (json.loads((path / f).read_text()) if (path / f).exists() else {}
                    for f in ("summary.json", "env.json"))
    if records and records[-1].is_final:
        last = records[-1]
        records[-1] = Record(last.step, last.phase, last.scalars, arrays or None,
                             tuple(summary.get("notes", ())), last.coords)
    return SavedRun(path, exp, int(cfg.get("seed", 0)), cfg.get("device", "cpu"),
                    records, arrays, summary, env)


def list_runs(root: str | os.PathLike = DEFAULT_ROOT, experiment: str | None = None) -> list[Path]:
    """Run folders under ``root`` (newest first), optionally for one experiment."""
    root = Path(root)
    pattern = f"{experiment}/*" if experiment else "*/*"
    runs = [p for p in root.glob(pattern) if (p / "config.json").exists()]
    return sorted(runs, key=lambda p: p.name, reverse=True)
