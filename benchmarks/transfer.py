"""Bytes moved device -> host per neural-collapse record, for the ``gpu_large`` shapes.

Counted by ``orthoviz/runtime/transfer.py``: it wraps every call through which a
tensor's values can reach the host (``.cpu()``, ``.to(cpu)``, ``.item()``, ``.tolist()``,
``float()``/``int()``/``bool()``) and adds up the bytes of the tensors handed to them.
On a CPU run nothing moves and the count is what *would* cross on CUDA: the run takes
the same code path on either device, so the number is the same; on a GPU it is what
does cross.

The run uses the preset's shapes (K=100, n=50, so N=5000; d=512; depth 3; float32)
for 4 steps with a record at every step and a snapshot every second one, and reports
the bytes of a plain record, of a record with a snapshot, and their average at the
preset's own cadence (record every 250 steps, snapshot every 1000: one record in four).

``--rev REV`` measures the package as it was at commit REV (``git archive`` of
``orthoviz/`` into a temporary folder, run in a subprocess with the same counter):
that is how the "before" row is made.

Usage: python benchmarks/transfer.py [--device cpu|cuda] [--rev REV]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRESET, STEPS = "gpu_large", 4


def _counter():
    """The counter module, loaded from this tree by path (works under --rev too)."""
    spec = importlib.util.spec_from_file_location(
        "_ov_transfer", ROOT / "orthoviz" / "runtime" / "transfer.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def measure(device: str) -> dict:
    """Per-record transfer counts of a short gpu_large-shaped run on ``device``."""
    import orthoviz
    from orthoviz.neural_collapse import NeuralCollapse

    exp = NeuralCollapse.from_preset(PRESET, steps=STEPS, record_every=1, snapshot_every=2)
    cadence = NeuralCollapse.presets[PRESET]
    per_snap = cadence["snapshot_every"] // cadence["record_every"]
    counter = _counter()
    deltas = []  # (step, has snapshot, events, bytes)
    with counter.count_transfers() as c:
        stream = iter(exp.run(seed=0, device=device))
        while True:
            before = c.snapshot()
            try:
                rec = next(stream)
            except StopIteration:
                break
            e, b = (x - y for x, y in zip(c.snapshot(), before))
            deltas.append((rec.step, "means_3d" in (rec.arrays or {}), e, b))
    plain = [d for d in deltas if not d[1] and d[0] > 0]
    snap = [d for d in deltas if d[1] and 0 < d[0] < STEPS]  # not the first or final one
    b_plain = max(d[3] for d in plain)  # records of a kind move the same (the largest)
    b_snap = max(d[3] for d in snap)
    K, N = exp.n_classes, sum(exp.sizes())
    return {
        "device": device, "orthoviz": str(Path(orthoviz.__file__).parent),
        "K": K, "N": N, "d": exp.feature_dim, "depth": exp.depth, "dtype": exp.dtype,
        "bytes_plain_record": b_plain, "bytes_snapshot_record": b_snap,
        "bytes_per_record_at_preset_cadence": ((per_snap - 1) * b_plain + b_snap) / per_snap,
        "transfers_plain_record": max(d[2] for d in plain),
        "transfers_snapshot_record": max(d[2] for d in snap),
        "N_x_d_features_bytes": N * exp.feature_dim * 4,
        "per_record": [{"step": s, "snapshot": h, "transfers": e, "bytes": b}
                       for s, h, e, b in deltas],
    }


def measure_rev(rev: str, device: str) -> dict:
    """:func:`measure` on the package at commit ``rev``, in a subprocess."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "orthoviz"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        env = {**os.environ, "PYTHONPATH": tmp}
        out = subprocess.run([sys.executable, __file__, "--device", device, "--child"],
                             env=env, check=True, capture_output=True, text=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        if not row["orthoviz"].startswith(tmp):
            raise RuntimeError(f"the child imported {row['orthoviz']}, not commit {rev}")
        return {**row, "orthoviz": f"commit {rev}"}


def rows(device: str, rev: str | None) -> list[dict]:
    """The benchmark rows: ``rev``'s code (when given) then this tree's."""
    out = []
    if rev:
        try:
            out.append({"code": f"before ({rev})", **measure_rev(rev, device)})
        except subprocess.CalledProcessError as e:  # e.g. a copy without that commit
            print(f"before ({rev}) not measured: {e}", file=sys.stderr)
    out.append({"code": "this tree", **measure(device)})
    return out


def main() -> None:
    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--rev", default=None, help="also measure the code at this commit")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.device)))
        return
    sys.path.insert(0, os.path.dirname(__file__))
    from common import report

    result = rows(args.device, args.rev)
    table = [{k: v for k, v in r.items() if k not in ("per_record", "orthoviz")}
             for r in result]
    report("transfer", table, {"runs": result})


if __name__ == "__main__":
    main()
