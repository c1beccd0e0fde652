"""Run folders on disk: ``runs/<experiment>/<UTC time>-<id>/`` (written here, read
back by :mod:`orthoviz.runtime.rundir`, which survives damage).

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
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from orthoviz.runtime.artifacts import save_artifacts
from orthoviz.runtime.params import to_jsonable
from orthoviz.runtime.record import Record
from orthoviz.runtime.rundir import (  # noqa: F401  (the readers, re-exported)
    INTERRUPTED,
    RunFolderError,
    SavedRun,
    list_runs,
    load_metrics,
    load_run,
    split_row,
)

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


def mark_interrupted(path: str | os.PathLike, step: int, reason: str) -> None:
    """Record in ``summary.json`` that the run was interrupted (by a signal) at
    ``step``; the readers show it as "interrupted"."""
    path = Path(path)
    try:
        summary = json.loads((path / "summary.json").read_text())
        summary = summary if isinstance(summary, dict) else {}
    except (OSError, ValueError):
        summary = {}
    summary.update(status=INTERRUPTED, step=int(step),
                   message=f"interrupted by {reason} at step {step}")
    _write_json(path / "summary.json", summary)
