"""Command line: ``orthoviz list | run | sweep | serve | export``.

User errors (a bad ``--set``, an unknown experiment, a size the resource guard refuses,
a damaged run folder, a port in use) print one line on stderr that names the
parameter, file or port, never a traceback. Nothing is written for a refused run.

Exit codes:

- 0: done (for ``serve``: stopped by SIGTERM or SIGINT);
- 1: the run failed (e.g. a metric became non-finite);
- 2: something to change in the command (a bad value, a missing or damaged file, a
  port in use);
- 130 / 143 (128 + the signal): ``run`` was interrupted by SIGINT / SIGTERM. It stopped
  at the next step, flushed its rows and marked the run folder ``interrupted`` with
  the step reached; the folder opens and exports. ``sweep`` cancels its pending cells,
  writes the table of the finished ones and exits the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from typing import Any

from orthoviz.runtime.errors import ConfigError, NonFiniteError
from orthoviz.runtime.rundir import RunFolderError

#: exit code of an interrupted ``orthoviz run``: 128 + the signal, as shells report it
INTERRUPTED_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors: one line, exit 2
        self.exit(2, f"orthoviz: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="orthoviz", description="The geometry of learning, live.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    ls = sub.add_parser("list", help="experiments, presets and parameters")
    ls.add_argument("experiment", nargs="?", help="show only this experiment")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    r = sub.add_parser("run", help="run an experiment headless and save the run folder")
    r.add_argument("experiment")
    r.add_argument("--preset", default="default")
    r.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a parameter (repeatable)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--device", default="auto", help="auto | cpu | cuda")
    r.add_argument("--out", default="runs", help="root folder of run folders")
    r.add_argument("--json", action="store_true", help="print one JSON object at the end")
    r.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    w = sub.add_parser("sweep", help="a grid of runs on Dask (a LocalCluster by default)")
    w.add_argument("experiment")
    w.add_argument("--preset", default="default")
    w.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="values of one parameter (repeatable; the cells are the product)")
    w.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 per config")
    w.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="a running `dask scheduler` (default $ORTHOVIZ_DASK_SCHEDULER, "
                   "else a LocalCluster)")
    w.add_argument("--workers", type=int, default=None, help="LocalCluster processes")
    w.add_argument("--device", default="cpu", help="cpu | cuda | auto (per worker)")
    w.add_argument("--out", default="runs/sweeps/sweep",
                   help="sweep folder (table + run folders); under runs/ the app opens it")
    w.add_argument("--json", action="store_true", help="print the table as JSON rows")
    w.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    s = sub.add_parser("serve", help="serve the dashboards (apps/*.py) on a Panel server")
    s.add_argument("apps", nargs="*", help="app names (default: all)")
    s.add_argument("--port", type=int, default=5006,
                   help="TCP port to listen on (default 5006); a port in use is refused "
                   "with one line")
    s.add_argument("--address", default=None,
                   help="address to listen on (default 127.0.0.1: this machine only; "
                   "0.0.0.0 or a LAN address needs --allow-origin)")
    s.add_argument("--allow-origin", action="append", default=[], metavar="HOST[:PORT]",
                   help="an origin browsers may connect from (repeatable; required with "
                   "a non-local --address; the port defaults to --port; no '*')")
    s.add_argument("--data-root", default=None, metavar="DIR",
                   help="the only folder data_dir may point into (default "
                   "$ORTHOVIZ_DATA_ROOT, else ./data)")
    s.add_argument("--basic-auth", default=None, metavar="PASSWORD|FILE",
                   help="require a login: one password, or a JSON file of user: password")
    s.add_argument("--num-threads", type=int, default=4,
                   help="threads of the server's pool for callbacks and draws (default 4); "
                   "each session's training runs on its own thread")
    s.add_argument("--max-runs", type=int, default=None, metavar="N",
                   help="runs computed at once across all sessions (default "
                   "$ORTHOVIZ_MAX_RUNS, else the number of cores); later Starts wait "
                   "in a queue and see their place")
    s.add_argument("--show", action=argparse.BooleanOptionalAction, default=False,
                   help="open a browser")
    s.add_argument("--autosave", action="store_true",
                   help="write every run into ./runs as it goes (a stopped or killed "
                   "server leaves folders that 'Open run' shows as interrupted)")
    e = sub.add_parser("export", help="figures (HTML, PNG when possible) and CSV of a run")
    e.add_argument("run_dir")
    e.add_argument("--to", default=None)
    e.add_argument("--png", action=argparse.BooleanOptionalAction, default=True,
                   help="also a PNG where a browser driver is available")
    return p


def _fail(msg: str, code: int = 2) -> int:
    print(f"orthoviz: {msg}", file=sys.stderr)
    return code


def _build(args) -> Any:
    from orthoviz.runtime.registry import get_experiment

    cls = get_experiment(args.experiment)
    overrides = {}
    for item in args.sets:
        if "=" not in item:
            raise ConfigError("--set", item, "KEY=VALUE")
        k, v = item.split("=", 1)
        overrides[k.strip()] = v
    return cls.from_preset(args.preset, **overrides)


def cmd_list(args) -> int:
    from orthoviz.runtime.registry import get_experiment, list_experiments

    names = [args.experiment] if args.experiment else list_experiments()
    info = []
    for name in names:
        cls = get_experiment(name)
        info.append({"experiment": name, "title": cls.title, "summary": cls.summary,
                     "presets": list(cls.presets), "parameters": cls.describe()})
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    for e in info:
        print(f"{e['experiment']}: {e['title']}")
        print(f"  presets: {', '.join(e['presets'])}")
        for p in e["parameters"]:
            print(f"  {p['name']:<20} default {p['default']!s:<12} {p['allowed']}")
            if p["doc"]:
                print(f"  {'':<20} {p['doc']}")
        print()
    return 0


def cmd_run(args) -> int:
    from orthoviz.runtime.params import to_jsonable
    from orthoviz.runtime.runner import FINISHED, Runner
    from orthoviz.runtime.store import RunWriter, mark_interrupted

    exp = _build(args)
    stream = exp.run(seed=args.seed, device=args.device)  # validates: raises before writing
    from orthoviz.runtime.device import resolve_device

    device = resolve_device(args.device)
    stream.close()
    writer = RunWriter(exp, args.seed, device, root=args.out)
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=exp.total_steps(), desc=exp.key, file=sys.stderr, unit="step")

    def on_flush(batch):
        if bar is not None:
            bar.n = batch[-1].step
            bar.refresh()

    t0 = time.perf_counter()
    runner = Runner(exp, args.seed, device, on_flush=on_flush, writer=writer,
                    flush_interval=0.25)
    got: list[int] = []

    def on_signal(signum, frame):  # stop at the next step; a second signal: now
        if got:
            mark_interrupted(writer.path, runner.step, signal.Signals(signum).name)
            os._exit(INTERRUPTED_EXIT.get(signum, 128 + signum))
        got.append(signum)
        runner.stop()

    old = {sig: signal.signal(sig, on_signal) for sig in INTERRUPTED_EXIT}
    try:
        runner.start()
        while not runner.join(0.2):
            pass
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if bar is not None:
        bar.close()
    wall = time.perf_counter() - t0
    if got and runner.status != FINISHED:
        name = signal.Signals(got[0]).name
        mark_interrupted(writer.path, runner.step, name)
        print(f"orthoviz: interrupted by {name} at step {runner.step}; run folder: "
              f"{writer.path}", file=sys.stderr)
        return INTERRUPTED_EXIT[got[0]]
    if runner.status != FINISHED:
        return _fail(f"run {runner.status}: {runner.message} (run folder: {writer.path})", 1)
    if runner.write_error:  # finished, but the folder lacks rows (a full disk)
        return _fail(f"run finished, but the {runner.write_error}", 1)
    final = runner.final
    for note in final.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.json:
        out = {"experiment": exp.key, "preset": args.preset, "seed": args.seed,
               "device": device, "config": exp.config(), "final": dict(final.scalars),
               "notes": list(final.notes), "theory": exp.theory(),
               "run_dir": str(writer.path), "wall_time_s": wall}
        print(json.dumps(to_jsonable(out)))
    else:
        print(f"finished in {wall:.1f} s; run folder: {writer.path}")
    return 0


def cmd_sweep(args) -> int:
    from orthoviz.runtime.params import to_jsonable
    from orthoviz.runtime.sweep import parse_grid, sweep

    if args.seeds < 1:
        raise ConfigError("--seeds", args.seeds, "an integer >= 1")
    if args.workers is not None and args.workers < 1:
        raise ConfigError("--workers", args.workers, "an integer >= 1")
    got: list[int] = []

    def on_signal(signum, frame):  # SIGTERM like Ctrl-C: cancel, keep what is done
        got.append(signum)
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, on_signal)
    t0 = time.perf_counter()
    try:
        df = sweep(args.experiment, preset=args.preset, grid=parse_grid(args.grid),
                   seeds=args.seeds, scheduler=args.scheduler, workers=args.workers,
                   out=args.out, device=args.device, progress=not args.no_progress)
    except KeyboardInterrupt:
        sig = got[0] if got else signal.SIGINT
        print(f"orthoviz: sweep interrupted by {signal.Signals(sig).name}; finished cells "
              f"are in {args.out} (a rerun runs only the rest)", file=sys.stderr)
        return INTERRUPTED_EXIT[sig]
    finally:
        signal.signal(signal.SIGTERM, old)
    bad = df[df["status"] == "error"] if "status" in df else df.iloc[0:0]
    if args.json:
        rows = [{k: v for k, v in r.items() if v == v} for r in df.to_dict("records")]
        print(json.dumps(to_jsonable({"table": df.attrs["table"], "cells": len(df),
                                      "submitted": df.attrs["submitted"],
                                      "skipped": df.attrs["skipped"], "rows": rows})))
    else:
        print(f"{len(df)} cells ({df.attrs['submitted']} run, {df.attrs['skipped']} "
              f"already done) in {time.perf_counter() - t0:.1f} s; table: "
              f"{df.attrs['table']}")
    for _, r in bad.iterrows():
        print(f"orthoviz: cell {r['cell']}: {r['message']}", file=sys.stderr)
    return 1 if len(bad) else 0


def cmd_serve(args) -> int:
    from orthoviz.ui.serve import serve_apps

    return serve_apps(args.apps or None, port=args.port, address=args.address,
                      show=args.show, num_threads=args.num_threads,
                      allow_origin=args.allow_origin, data_root=args.data_root,
                      basic_auth=args.basic_auth, max_runs=args.max_runs,
                      autosave=args.autosave)


def cmd_export(args) -> int:
    from orthoviz.runtime.store import load_run
    from orthoviz.viz.export import export_run

    saved = load_run(args.run_dir)  # refuses what cannot open; notes the damage
    paths = export_run(args.run_dir, args.to, png=args.png)
    for path in paths:
        print(path)
    for note in [*saved.notes, *getattr(paths, "notes", [])]:
        print(f"note: {note}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve" and argv is None:  # the process's own command line
        from orthoviz.ui.serve import reexec_with_system_malloc

        reexec_with_system_malloc()  # returns only when already set (or not possible)
    try:
        return {"list": cmd_list, "run": cmd_run, "sweep": cmd_sweep, "serve": cmd_serve,
                "export": cmd_export}[args.command](args)
    except NonFiniteError as e:
        return _fail(str(e), 1)
    except (ConfigError, FileNotFoundError, RunFolderError) as e:
        return _fail(str(e))


if __name__ == "__main__":
    sys.exit(main())
