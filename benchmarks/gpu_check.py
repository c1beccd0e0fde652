"""One script for a GPU machine: every GPU-relevant test and benchmark, then a short table.

Each step runs in a subprocess with its own timeout, inside one overall budget of
about 8 minutes (a step that would start with under 10 s left is skipped and says so):

1. pytest: ``tests/test_gpu.py`` (marker ``gpu``) and the CPU side of the same rules
   (``tests/runtime/test_device.py``, ``tests/neural_collapse/test_transfer.py``).
2. ``benchmarks/transfer.py``: bytes moved device -> host per ``gpu_large`` record on
   CUDA; with a git checkout also the code before this change (``BEFORE_REV``).
3. ``benchmarks/neural_collapse.py``: E1 steps/s on the CPU and on CUDA, ``gpu_large``
   (float32, TF32) on CUDA; the record stream against a bare loop.
4. ``benchmarks/nc_gpu.py``: CPU/CUDA agreement of E1's float64 records, and E1 with
   CUDA graphs and with seeds batched, against eager steps.
5. ``benchmarks/deep_cg.py --gpu --no-cpu`` (3-D CG and DCDM rows) and
   ``benchmarks/hierarchical.py --gpu`` (``paper_cubic``, one trial); other modules may
   still plug in through ``HOOKS`` and a ``gpu_rows() -> list[dict]`` function.
6. ``benchmarks/random_features.py`` (RF's CUDA leg).

Imports nothing from panel/holoviews/bokeh (the GPU machine need not have them). Writes
``gpu_check.json`` and every benchmark's JSON to ``$OUT`` if set, else
``benchmarks/results/``. Usage, from the repository root:

    python benchmarks/gpu_check.py
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(os.environ.get("OUT") or ROOT / "benchmarks" / "results")
BEFORE_REV = "bdd1609"  # main before the device-side NC metrics
BUDGET_S, MIN_START_S = 540.0, 10.0
HOOKS = ()  # deep_cg and hierarchical run as steps of their own above
_T0 = time.monotonic()


def run_step(name: str, cmd: list[str], timeout: float) -> dict:
    """Run ``cmd`` with ``timeout`` capped by what is left of the budget."""
    left = BUDGET_S - (time.monotonic() - _T0)
    if left < MIN_START_S:
        print(f"--- {name}: skipped (time budget spent)", flush=True)
        return {"step": name, "status": "skipped: budget", "seconds": 0.0, "stdout": ""}
    t0 = time.perf_counter()
    env = {**os.environ, "ORTHOVIZ_BENCH_OUT": str(OUT),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    try:
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env,
                           timeout=min(timeout, left))
        status, out = ("ok" if p.returncode == 0 else f"FAILED (rc {p.returncode})"), \
            p.stdout + p.stderr
    except subprocess.TimeoutExpired as e:
        status = "TIMEOUT"
        out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
    dt = time.perf_counter() - t0
    print(f"--- {name}: {status} ({dt:.0f} s)\n{out[-2500:]}", flush=True)
    return {"step": name, "status": status, "seconds": round(dt, 1), "stdout": out}


def hook_child(name: str) -> None:
    """In a subprocess: import benchmarks/<name>.py and print its gpu_rows() as JSON."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    if importlib.util.find_spec(name) is None:
        result = {"status": "not present"}
    else:
        try:
            mod = importlib.import_module(name)
        except ImportError as e:
            result = {"status": f"import failed: {e}"}
        else:
            fn = getattr(mod, "gpu_rows", None)
            result = ({"status": "no gpu_rows()"} if fn is None
                      else {"status": "ok", "rows": fn()})
    print(json.dumps(result, default=str))


def _load(name: str) -> list[dict]:
    f = OUT / f"{name}.json"
    return json.loads(f.read_text()).get("rows", []) if f.exists() else []


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return "-" if v is None else str(v)


def _kv(row: dict) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in row.items() if k != "case")


def _bytes(n) -> str:
    for unit, size in (("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def summary(steps: list[dict], hooks: dict) -> list[tuple[str, str]]:
    """(what, value) lines of the final table, from the benchmarks' JSON files."""
    lines = []
    for r in _load("neural_collapse"):
        if "bare_steps_per_s" in r:
            lines.append((f"NC {r['case']} steps/s bare | stream",
                          f"{_fmt(r['bare_steps_per_s'])} | {_fmt(r['stream_steps_per_s'])}"
                          f" (overhead {_fmt(r['overhead_pct'])}%)"))
        else:
            lines.append((f"NC {r['case']}", f"{_fmt(r.get('seconds'))} s"))
    for r in _load("transfer"):
        lines.append((f"NC gpu_large bytes/record, {r['code']} ({r['device']})",
                      f"plain {_bytes(r['bytes_plain_record'])}, snapshot "
                      f"{_bytes(r['bytes_snapshot_record'])}, at preset cadence "
                      f"{_bytes(r['bytes_per_record_at_preset_cadence'])}; copies "
                      f"{r['transfers_plain_record']}/{r['transfers_snapshot_record']}"))
    for r in _load("nc_gpu"):
        if "share_of_test_tol" in r:
            lines.append((r["case"], f"max rel diff {_fmt(r['max_rel_diff'])} "
                          f"({r['where']}); share of test tol {_fmt(r['share_of_test_tol'])}"))
        elif "error" in r:
            lines.append((r["case"], r["error"]))
        else:
            lines.append((r["case"], f"{_fmt(r['steps_per_s'])} steps/s, "
                          f"{_fmt(r['seed_steps_per_s'])} seed-steps/s, agrees with eager: "
                          f"{r['agrees']} ({_fmt(r['max_rel_diff_vs_eager'])})"))
    for name, res in hooks.items():
        if res.get("status") != "ok":
            lines.append((f"{name}.gpu_rows()", res.get("status", "?")))
        lines += [(f"{name}: {r.get('case', '')}", _kv(r)) for r in res.get("rows", [])]
    lines += [(f"RF {r.get('case', '')}", _kv(r)) for r in _load("random_features")]
    lines += [(f"step: {s['step']}", f"{s['status']} ({s['seconds']} s)") for s in steps]
    return lines


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--hook":
        hook_child(sys.argv[2])
        return 0
    import torch

    OUT.mkdir(parents=True, exist_ok=True)
    for name in ("neural_collapse", "transfer", "nc_gpu", "random_features", "deep_cg",
                 "hierarchical"):
        (OUT / f"{name}.json").unlink(missing_ok=True)  # no stale numbers in the table
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA"
    print(f"torch {torch.__version__}, {gpu}", flush=True)
    py, b = sys.executable, "benchmarks/"
    dev = "cuda" if torch.cuda.is_available() else "cpu"  # cpu: a dry run of the script
    rev = ["--rev", BEFORE_REV] if (ROOT / ".git").exists() else []
    steps = [
        run_step("pytest gpu + device rules", [
            py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_gpu.py",
            "tests/runtime/test_device.py", "tests/neural_collapse/test_transfer.py",
            "tests/deep_cg/test_gpu_path.py", "tests/hierarchical/test_gpu.py"], 150),
        run_step("transfer.py", [py, b + "transfer.py", "--device", dev, *rev], 90),
        run_step("neural_collapse.py", [py, b + "neural_collapse.py", "--steps", "2000",
                                        "--repeats", "2"], 120),
        # deep CG, 3-D rows: trains a 32^3 network, then CG and DCDM at 32^3..128^3
        run_step("deep_cg.py --gpu", [py, b + "deep_cg.py", "--gpu", "--no-cpu"], 160),
        # hierarchical paper_cubic (k = 3, d = 16, n up to 4 d^3, joint Adam), one trial
        run_step("hierarchical.py --gpu", [py, b + "hierarchical.py", "--skip-default",
                                           "--skip-joint", "--gpu"], 200),
        run_step("nc_gpu.py", [py, b + "nc_gpu.py", "--steps", "1000", "--seeds", "8",
                               "--device", dev], 90),
    ]
    hooks = {}
    for name in HOOKS:
        s = run_step(f"{name}.gpu_rows()", [py, b + "gpu_check.py", "--hook", name], 90)
        steps.append(s)
        try:
            hooks[name] = json.loads(s["stdout"].strip().splitlines()[-1])
        except (ValueError, IndexError):
            hooks[name] = {"status": s["status"]}
    steps.append(run_step("random_features.py", [py, b + "random_features.py"], 120))
    lines = summary(steps, hooks)
    (OUT / "gpu_check.json").write_text(json.dumps(
        {"device": gpu, "torch": torch.__version__,
         "steps": [{k: v for k, v in s.items() if k != "stdout"} for s in steps],
         "hooks": hooks, "table": lines}, indent=2, default=str))
    width = max(len(w) for w, _ in lines)
    print(f"\n=== gpu_check: {gpu}, torch {torch.__version__}, "
          f"{time.monotonic() - _T0:.0f} s ===")
    for what, value in lines:
        print(f"{what:<{width}}  {value}")
    return 0 if all(s["status"] == "ok" for s in steps) else 1


if __name__ == "__main__":
    sys.exit(main())
