"""One script for a GPU machine (under 5 minutes on one H100/H200): the GPU tests, then
the GPU legs of every benchmark, then a short table.

Usage (from the repository root): python benchmarks/gpu_check.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(os.environ.get("OUT", ROOT / "benchmarks" / "results"))


def step(name: str, cmd: list[str], timeout: int) -> dict:
    t0 = time.perf_counter()
    env = {**os.environ, "ORTHOVIZ_BENCH_OUT": str(OUT), "PYTHONPATH": str(ROOT)}
    try:
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                           env=env)
        ok, tail = p.returncode == 0, (p.stdout + p.stderr)[-3000:]
    except subprocess.TimeoutExpired as e:
        ok, tail = False, f"timed out after {timeout} s\n{(e.stdout or '')[-2000:]}"
    print(f"--- {name}: {'ok' if ok else 'FAILED'} ({time.perf_counter() - t0:.0f} s)\n{tail}",
          flush=True)
    return {"step": name, "ok": ok, "seconds": round(time.perf_counter() - t0, 1)}


def main() -> int:
    import torch

    OUT.mkdir(parents=True, exist_ok=True)
    print(f"torch {torch.__version__}, CUDA {torch.cuda.is_available()}"
          + (f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""))
    py = sys.executable
    rows = [
        step("pytest -m gpu", [py, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider",
                               "tests/test_gpu.py", "tests/deep_cg/test_gpu_path.py"], 120),
        step("benchmarks/neural_collapse.py", [py, "benchmarks/neural_collapse.py",
                                               "--steps", "2000", "--repeats", "2"], 150),
        step("benchmarks/random_features.py", [py, "benchmarks/random_features.py"], 150),
        # 3-D rows only (the 2-D CPU table is the CPU machine's): trains a 32^3 network
        # for 1,500 steps, then CG and DCDM (fp32/fp16) at 32^3, 64^3, 128^3
        step("benchmarks/deep_cg.py --gpu", [py, "benchmarks/deep_cg.py", "--gpu", "--no-cpu"],
             240),
    ]
    print("\n=== summary ===")
    for name in ("neural_collapse", "random_features", "deep_cg"):
        f = OUT / f"{name}.json"
        if f.exists():
            data = json.loads(f.read_text())
            for r in data.get("rows", []):
                print(name, json.dumps(r, default=str))
    for r in rows:
        print(f"{r['step']:<34} {'ok' if r['ok'] else 'FAILED':<7} {r['seconds']:>6} s")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
