"""Wall time of each experiment's presets on this machine's CPU: the figures behind
``Experiment.preset_seconds`` (shown under the explorer's preset selector).

    python benchmarks/preset_seconds.py [--cap 30] [--only neural-collapse]

Each preset runs in its own process (seed 0, device cpu) and is killed after ``--cap``
seconds; a run cut short is extrapolated from the share of its steps done (marked
``extrapolated``: sweeps whose later points cost more are underestimated). A preset the
memory check refuses is listed with its message.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time

from benchmarks.common import report


def _work(key: str, preset: str, out) -> None:
    import torch

    from orthoviz.runtime import ConfigError, get_experiment

    torch.set_num_threads(1)
    exp = get_experiment(key).from_preset(preset)
    total = max(1, exp.total_steps())
    t0 = time.perf_counter()
    try:
        for rec in exp.run(seed=0, device="cpu"):
            out.put(("step", rec.step / total, time.perf_counter() - t0))
    except ConfigError as e:
        out.put(("refused", str(e), 0.0))
        return
    out.put(("done", 1.0, time.perf_counter() - t0))


def measure(key: str, preset: str, cap: float) -> dict:
    out = mp.Queue()
    proc = mp.Process(target=_work, args=(key, preset, out), daemon=True)
    t0 = time.perf_counter()
    proc.start()
    last = ("step", 0.0, 0.0)
    while time.perf_counter() - t0 < cap + 60:  # + imports and setup
        try:
            last = out.get(timeout=1.0)
        except Exception:
            if not proc.is_alive():
                break
            if time.perf_counter() - t0 > cap and last[1] > 0:
                break
            continue
        if last[0] in ("done", "refused") or last[2] > cap:
            break
    proc.kill()
    proc.join()
    kind, frac, secs = last
    row = {"experiment": key, "preset": preset, "seconds": None, "extrapolated": False}
    if kind == "done":
        row["seconds"] = round(secs, 1)
    elif kind == "refused":
        row["note"] = frac
    elif frac > 0:
        row.update(seconds=round(secs / frac, 1), extrapolated=True,
                   note=f"{100 * frac:.0f}% in {secs:.0f} s")
    else:
        row["note"] = f"no record within {cap:.0f} s"
    return row


def main() -> None:
    from orthoviz.runtime import get_experiment, list_experiments

    ap = argparse.ArgumentParser()
    ap.add_argument("--cap", type=float, default=30.0)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    rows = []
    for key in list_experiments():
        if args.only and key != args.only:
            continue
        for preset in get_experiment(key).presets:
            rows.append(measure(key, preset, args.cap))
            print(rows[-1], flush=True)
    report("preset_seconds", rows, {"cap_s": args.cap})


if __name__ == "__main__":
    main()
