"""Named artifacts of runs (a ``state_dict``, a matrix) and the packaged ones.

A run hands objects to save in ``Record.artifacts``; the run store writes them under
``<run>/artifacts/``: a mapping of tensors (a ``state_dict``) as ``<name>.pt`` through
``torch.save``, numpy arrays as ``<name>.npz``. A consuming experiment names one by a
reference string checked at validation:

- ``"packaged:<name>"``: ``orthoviz/<package>/artifacts/<name>.pt`` shipped with the
  library, with ``<name>.json`` beside it (command, preset, seed that produced it);
- a run folder (``runs/deep-cg-train/<time>-<id>``) holding ``artifacts/<name>.pt``;
  under ``orthoviz serve`` (``$ORTHOVIZ_RUNS_ROOT``) it must lie, symlinks followed,
  inside the runs folder.

Weights are read with ``torch.load(weights_only=True)``: no arbitrary object is ever
unpickled from a file a user can choose.
"""

from __future__ import annotations

import io
import json
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from orthoviz.runtime.errors import ConfigError

PACKAGED = "packaged:"
#: set by ``orthoviz serve``: run-folder references must lie inside this folder
RUNS_ROOT_ENV = "ORTHOVIZ_RUNS_ROOT"


def runs_root() -> Path | None:
    """The folder run-folder references are confined to (served apps), or None."""
    root = os.environ.get(RUNS_ROOT_ENV, "").strip()
    return Path(root).expanduser().resolve() if root else None


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def save_artifacts(run_dir: str | os.PathLike, artifacts: dict[str, Any]) -> list[str]:
    """Write each artifact into ``run_dir/artifacts/``; returns the file names."""
    if not artifacts:
        return []
    out = Path(run_dir) / "artifacts"
    out.mkdir(exist_ok=True)
    names = []
    for name, obj in artifacts.items():
        buf = io.BytesIO()
        if isinstance(obj, np.ndarray):
            np.savez(buf, value=obj)
            fname = f"{name}.npz"
        else:
            import torch

            torch.save(obj, buf)
            fname = f"{name}.pt"
        _write(out / fname, buf.getvalue())
        names.append(fname)
    return names


def packaged_dir(package: str) -> Path:
    """``orthoviz/<package>/artifacts`` (the folder need not exist)."""
    return Path(__file__).resolve().parents[1] / package / "artifacts"


def packaged(package: str) -> list[str]:
    """Names of the artifacts shipped with ``orthoviz.<package>``."""
    d = packaged_dir(package)
    return sorted(p.stem for p in d.glob("*.pt")) if d.is_dir() else []


def resolve(ref: str, package: str, name: str = "weights", parameter: str = "weights") -> Path:
    """The file a reference names; ``ConfigError`` (naming ``parameter``) if none.

    ``ref`` is ``"packaged:<artifact>"`` or a run folder holding ``artifacts/<name>.pt``.
    """
    if ref.startswith(PACKAGED):
        art = ref[len(PACKAGED):]
        path = packaged_dir(package) / f"{art}.pt"
        if not art or "/" in art or "\\" in art or not path.is_file():
            choices = ", ".join(PACKAGED + p for p in packaged(package)) or "none shipped"
            raise ConfigError(parameter, ref, f"{choices}, or a run folder")
        return path
    from orthoviz.runtime.pathtext import looked_up, path_text

    folder = "a run folder, or packaged:<name>"
    run, root = Path(path_text(ref, parameter, folder)).expanduser(), runs_root()
    looked_up(run, parameter, ref, folder)  # (a name the system refuses: ConfigError)
    if root is not None:  # served: no path out of the runs folder (.., links, /etc)
        from orthoviz.runtime.rundir import inside

        run = run if run.is_absolute() or run.exists() else root / run
        if not inside(looked_up(run, parameter, ref, folder), root):
            raise ConfigError(parameter, ref, f"packaged:<name>, or a run folder inside "
                              f"the runs folder {root}")
    path = run / "artifacts" / f"{name}.pt"
    if not path.is_file():
        raise ConfigError(parameter, ref, f"a run folder with artifacts/{name}.pt, or "
                          + (", ".join(PACKAGED + p for p in packaged(package)) or
                             "a packaged artifact"))
    return path


def provenance(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON sidecar of a packaged artifact (command, preset, seed), or {}."""
    side = Path(path).with_suffix(".json")
    try:
        return json.loads(side.read_text())
    except (OSError, ValueError):
        return {}


def load_state_dict(path: str | os.PathLike, map_location: str = "cpu") -> dict:
    """A ``state_dict`` saved by ``torch.save``, loaded without unpickling arbitrary
    objects (``weights_only=True``)."""
    import torch

    return torch.load(Path(path), map_location=map_location, weights_only=True)
