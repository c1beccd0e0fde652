"""Shared benchmark plumbing: machine description, peak memory, table + JSON output.

Benchmarks are not tests: they print a table, write JSON under benchmarks/results/ and
compare against a baseline run in the same process.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
from pathlib import Path


def machine() -> dict:
    """What ran the benchmark (figures are only comparable on the same machine)."""
    import numpy as np
    import torch

    info = {
        "python": platform.python_version(), "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(), "torch": torch.__version__, "numpy": np.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def peak_host_mb() -> float:
    """Peak resident memory of this process so far (MiB)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024 if sys.platform != "darwin" else r / 2**20


def peak_gpu_mb() -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    return torch.cuda.max_memory_allocated() / 2**20


def report(name: str, rows: list[dict], extra: dict | None = None) -> Path:
    """Print rows as a table and write {machine, rows, extra} to results/<name>.json."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    width = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in cols}
    print(" | ".join(c.ljust(width[c]) for c in cols))
    print("-+-".join("-" * width[c] for c in cols))
    for r in rows:
        print(" | ".join(_fmt(r.get(c)).ljust(width[c]) for c in cols))
    m = machine()
    print(f"\nmachine: {m['processor']}, {m['cpu_count']} CPUs, torch {m['torch']}"
          + (f", GPU {m['gpu']}" if m.get("gpu") else ", no GPU"))
    out_dir = Path(os.environ.get("ORTHOVIZ_BENCH_OUT", Path(__file__).parent / "results"))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps({"machine": m, "rows": rows, **(extra or {})}, indent=2,
                               default=str))
    print(f"wrote {path}")
    return path


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
