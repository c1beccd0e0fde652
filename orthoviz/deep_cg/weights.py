"""Trained direction networks as artifacts: packaged ones and those of training runs.

A network is a ``state_dict`` plus the training parameters that fix its architecture
(``dim``, ``network``, ``arch``, ``levels``, ``geometry``): for a packaged network they
sit in ``orthoviz/deep_cg/artifacts/<name>.json`` (with the command, preset, seed and
final loss that produced it), for a ``deep-cg-train`` run in its ``config.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from orthoviz.deep_cg.model import build
from orthoviz.runtime import artifacts

PACKAGE = "deep_cg"
ARCH_KEYS = ("dim", "network", "arch", "levels", "geometry")


def resolve(ref: str, parameter: str = "weights") -> Path:
    """The ``.pt`` file of a reference (``packaged:<name>`` or a run folder);
    ``ConfigError`` naming ``parameter`` when there is none."""
    return artifacts.resolve(ref, PACKAGE, "weights", parameter)


def describe(path: str | Path) -> dict[str, Any]:
    """Architecture and provenance of a weights file: the packaged JSON sidecar, or
    the ``config.json`` of the run folder the file lies in."""
    path = Path(path)
    meta = artifacts.provenance(path)
    if meta:
        return meta
    config = path.parent.parent / "config.json"  # <run>/artifacts/weights.pt
    if config.is_file():
        cfg = json.loads(config.read_text())
        return {"config": cfg.get("config", cfg), "source": str(path.parent.parent)}
    return {}


def architecture(meta: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of :func:`orthoviz.deep_cg.model.build` from a description."""
    cfg = meta.get("config", meta)
    kind = cfg.get("network", "dcdm")
    kw: dict[str, Any] = {"kind": kind, "dim": int(cfg.get("dim", 2)),
                          "geometry": bool(cfg.get("geometry", False))}
    if kind == "dcdm":
        kw["arch"] = cfg.get("arch", "from64")
    else:
        kw["levels"] = int(cfg.get("levels", 3))
    return kw


def load_network(ref: str, dim: int | None = None, device: str = "cpu") -> torch.nn.Module:
    """The network a reference names, in eval mode.

    Raises ``ValueError`` when ``dim`` is given and the network was trained for another
    grid dimension.
    """
    path = resolve(ref)
    kw = architecture(describe(path))
    if dim is not None and kw["dim"] != dim:
        raise ValueError(f"{ref} is a {kw['dim']}-D network; the grid is {dim}-D")
    net = build(**kw)
    net.load_state_dict(artifacts.load_state_dict(path, map_location=device))
    return net.to(device).eval()


def package(run_dir: str | Path, name: str, preset: str) -> Path:
    """Ship a ``deep-cg-train`` run's weights as ``packaged:<name>`` (a maintainer's
    step, never called by a run): copies ``artifacts/weights.pt`` into
    ``orthoviz/deep_cg/artifacts/<name>.pt`` and writes ``<name>.json`` beside it with
    the command, preset, seed, configuration, final scalars and machine of the run."""
    import shutil

    run = Path(run_dir)
    cfg = json.loads((run / "config.json").read_text())
    summary = json.loads((run / "summary.json").read_text())
    env = json.loads((run / "env.json").read_text()) if (run / "env.json").exists() else {}
    out = artifacts.packaged_dir(PACKAGE)
    out.mkdir(exist_ok=True)
    shutil.copyfile(run / "artifacts" / "weights.pt", out / f"{name}.pt")
    meta = {"name": name,
            "command": f"orthoviz run deep-cg-train --preset {preset} --seed {cfg['seed']}",
            "preset": preset, "seed": cfg["seed"], "device": cfg.get("device"),
            "config": cfg["config"], "final": summary["final"],
            "notes": summary.get("notes", []), "environment": env,
            "source_run": run.name}
    side = out / f"{name}.json"
    side.write_text(json.dumps(meta, indent=1, default=str) + "\n")
    return side
