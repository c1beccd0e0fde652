"""A class in front of one server: N browser sessions at once on ``orthoviz serve``.

``orthoviz serve`` runs as a subprocess on 127.0.0.1 (``load_server.py``: the same
server with a sampler of its memory, threads and CPU time). One headless Chromium
opens N contexts (separate sessions); each opens the app, presses Start on the smoke
preset and waits for its final state. ``--stop-sessions`` of them run a long version
of it instead and press Stop once it moves. Measured on the page (a recorder in each
page notes every change of the step line and the status line, with its time):

- completed runs (final state and the last step on the page; "stopped at step" for
  the Stop sessions), the largest queue place seen;
- p50/p95/max gap between page updates of the step line while running; and from the
  server's timing log, the gaps between a running session's plot refreshes and the
  collections that held the event loop over 0.5 s;
- time to first plot (navigation to the first canvas), Start to first update;
- Stop latency (click to "stopping", click to "stopped at step");
- Start clicks repeated: a Start the page had not answered after 90 s is clicked again
  (as a student would) and counted;

and on the server: resident memory before any session, after one warm-up session
(the baseline: first-use imports and caches are not leaks), at the peak, and after
every session closed and was cleaned up (a full gc, then counted: explorers and Bokeh
documents still alive; glibc's bytes in use and bytes free but kept, which tell a leak
from fragmentation), threads left, and server CPU seconds per page load (a session
that only looks) and in all.

Targets (issue #10, on a quiet 2-core machine): all N complete, p95 update gap < 2 s,
memory after within 10% of the baseline, no run thread left. ``--time-limit`` bounds
the whole benchmark; whatever did not finish by then is reported as not completed.

Run: ``python benchmarks/load.py [--sessions 20] [--app neural_collapse]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
ROOT = HERE.parent
CHROMIUM = os.environ.get("ORTHOVIZ_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

#: in every page: every 100 ms, the text of the step line (.ov-step) and the status
#: line (.ov-status), which live in shadow roots; each change is logged with its time
RECORDER = r"""
(() => {
  const rec = window.__ov = {log: [], step: "", status: ""};
  const found = {};
  const text = el => {
    const root = el.shadowRoot || el;
    let s = "";
    for (const n of root.childNodes)
      if (n.nodeName !== "STYLE" && n.nodeName !== "LINK") s += n.textContent + " ";
    return s.replace(/\s+/g, " ").trim();
  };
  const find = cls => {
    if (found[cls] && found[cls].isConnected) return found[cls];
    const walk = root => {
      for (const el of root.querySelectorAll("*")) {
        if (el.classList && el.classList.contains(cls)) return el;
        if (el.shadowRoot) { const f = walk(el.shadowRoot); if (f) return f; }
      }
      return null;
    };
    return (found[cls] = walk(document));
  };
  setInterval(() => {
    const s = find("ov-step"), t = find("ov-status");
    if (!s || !t) return;
    const step = text(s), status = text(t);
    if (step !== rec.step || status !== rec.status) {
      rec.step = step; rec.status = status;
      rec.log.push([Date.now() / 1000, step, status]);
    }
  }, 100);
})();
"""


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return round(v[min(len(v) - 1, int(round(q * (len(v) - 1))))], 3)


# -- the server ---------------------------------------------------------------------
class Server:
    """load_server.py in its own process group; samples read from its JSONL file."""

    def __init__(self, app: str, port: int, workdir: Path, max_runs: int | None):
        self.samples = workdir / "samples.jsonl"
        self.log = workdir / "serve.log"
        cmd = [sys.executable, str(HERE / "load_server.py"), "--samples", str(self.samples),
               "--", app, "--port", str(port)]
        if max_runs:
            cmd += ["--max-runs", str(max_runs)]
        from orthoviz.ui.serve import MALLOC_ENV  # what `orthoviz serve` re-executes with

        # the server's timing log (each tick and each collection over 50 ms): read
        # back for the plots' refresh gaps and the collections during the class
        self.timing = Path(os.environ.get("ORTHOVIZ_TIMING_LOG") or workdir / "timing.log")
        env = dict(os.environ, **MALLOC_ENV, ORTHOVIZ_TIMING_LOG=str(self.timing),
                   ORTHOVIZ_DEVICE=os.environ.get("ORTHOVIZ_DEVICE", "cpu"),
                   PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        self.url = f"http://127.0.0.1:{port}/{app}"

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while "websocket origins" not in self.log.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{self.log.read_text()}")
            time.sleep(0.2)

    def rows(self) -> list[dict]:
        if not self.samples.exists():
            return []
        return [json.loads(x) for x in self.samples.read_text().splitlines() if x.strip()]

    def last(self) -> dict:
        rows = self.rows()
        return rows[-1] if rows else {}

    async def settle(self, timeout: float, min_wait: float, quiet_s: float = 3.0) -> dict:
        """Wait min_wait (closed sessions are dropped by the server's unused-session
        check), then until no run is left, the server has given memory back since the
        sessions closed (orthoviz.runtime.memory) and memory has not moved for quiet_s."""
        deadline = time.monotonic() + timeout
        released = self.last().get("releases", 0)
        await asyncio.sleep(min_wait)
        while time.monotonic() < deadline:
            rows = [r for r in self.rows() if r["t"] > time.time() - quiet_s]
            if rows and all(r["run_threads"] == 0 and r["running"] == 0
                            and r["waiting"] == 0 for r in rows) \
                    and rows[0].get("releases", 0) > released \
                    and max(r["rss_mb"] for r in rows) - min(r["rss_mb"] for r in rows) < 2:
                break
            await asyncio.sleep(0.5)
        return self.last()

    async def heap(self, timeout: float = 60.0) -> dict:
        heap = Path(f"{self.samples}.heap")
        heap.unlink(missing_ok=True)
        Path(f"{self.samples}.probe").touch()
        deadline = time.monotonic() + timeout
        while not heap.exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.2)
        return json.loads(heap.read_text()) if heap.exists() else {}

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


# -- one session -------------------------------------------------------------------
START_ANSWER_S = 90.0  # a Start the page has not answered by then is a lost click
async def session(browser, url: str, stop: bool, out: dict, timeout: float) -> None:
    """Open, Start, (Stop once it moves), wait for the final state; fills ``out``."""
    import re

    ctx = await browser.new_context(viewport={"width": 1300, "height": 900})
    out["ctx"] = ctx
    page = await ctx.new_page()
    await page.add_init_script(RECORDER)
    page.on("pageerror", lambda e: out.setdefault("page_errors", []).append(str(e)))
    t0 = time.time()
    await page.goto(url, timeout=timeout * 1000)
    await page.locator("canvas").first.wait_for(timeout=timeout * 1000)
    out["first_plot_s"] = time.time() - t0
    start = page.get_by_role("button", name=re.compile("Start"))
    await start.wait_for(timeout=timeout * 1000)
    await page.wait_for_function("() => window.__ov && window.__ov.step.startsWith('step')",
                                 timeout=timeout * 1000)
    out["loaded_s"] = time.time() - t0
    out["start_t"] = time.time()
    await start.click(timeout=timeout * 1000)  # a loaded page takes its time
    # a click the page has not answered after START_ANSWER_S (status still "idle",
    # Start still enabled) is repeated, as a student would, and counted (the summary's
    # start_clicks_repeated); a Start that went disabled was taken, only slow to show
    for _ in range(2):
        try:
            await page.wait_for_function("() => !/^idle/.test(window.__ov.status)",
                                         timeout=START_ANSWER_S * 1000, polling=200)
            break
        except Exception:  # playwright's TimeoutError
            if not await start.is_enabled():
                continue
            out["start_repeats"] = out.get("start_repeats", 0) + 1
            await start.click(timeout=5000)
    if stop:
        await page.wait_for_function(
            "() => /^running/.test(window.__ov.status) && /^step [1-9]/.test(window.__ov.step)",
            timeout=timeout * 1000, polling=100)
        out["stop_t"] = time.time()
        await page.get_by_role("button", name=re.compile("Stop")).click(timeout=timeout * 1000)
        done = "() => /^stopped/.test(window.__ov.status)"
    else:
        done = "() => /^(finished|failed|stopped)/.test(window.__ov.status)"
    try:
        await page.wait_for_function(done, timeout=timeout * 1000, polling=200)
    except Exception:  # a page that never showed the end: what it shows, kept
        out["log"] = await page.evaluate("() => window.__ov.log")
        out["stuck"] = await page.evaluate("() => window.__ov.status + ' | ' + window.__ov.step")
        shot = Path(os.environ.get("ORTHOVIZ_BENCH_OUT", HERE / "results"))
        shot.mkdir(parents=True, exist_ok=True)
        out["stuck_shot"] = str(shot / f"load_stuck_{int(time.time() * 1000)}.png")
        await page.screenshot(path=out["stuck_shot"], full_page=True)
        raise
    await asyncio.sleep(0.3)  # one more recorder tick: the last step line
    out["log"] = await page.evaluate("() => window.__ov.log")


def analyse(out: dict, stop: bool) -> dict:
    """Completion, update gaps, first update and Stop latency of one session's log."""
    import re

    log = out.get("log") or []
    res = {"stop_session": stop, "completed": False, "gaps": [], "max_place": 0,
           "start_repeats": out.get("start_repeats", 0),
           "first_plot_s": out.get("first_plot_s"), "loaded_s": out.get("loaded_s"),
           **{k: out[k] for k in ("stuck", "stuck_shot") if k in out}}
    for _, _, status in log:
        m = re.search(r"place (\d+) of (\d+)", status)
        if m:
            res["max_place"] = max(res["max_place"], int(m.group(1)))
    if not log:
        return res
    t_start = out.get("start_t", log[0][0])  # the page's record, in seconds from Start
    res["log"] = [[round(t - t_start, 2), step, status[:40]] for t, step, status in log]
    last_step, last_status = log[-1][1], log[-1][2]
    m = re.match(r"step (\d+) / (\d+)", last_step)
    if stop:
        res["completed"] = last_status.startswith("stopped")
    else:
        res["completed"] = bool(last_status.startswith("finished") and m
                                and m.group(1) == m.group(2))
    start = out.get("start_t", 0)
    running = [(t, step) for t, step, status in log
               if t >= start and re.match(r"^(running|stopping|finished|stopped)", status)]
    changes, prev = [], None
    for t, step in running:
        if step != prev:
            changes.append(t)
            prev = step
    moved = [t for t, step in running if not step.startswith("step 0 ")]
    if moved:
        res["start_to_first_update_s"] = moved[0] - start
    res["gaps"] = [b - a for a, b in zip(changes, changes[1:])]
    if stop and "stop_t" in out:
        t = out["stop_t"]
        ack = [x for x, _, s in log if x >= t and re.match(r"^(stopping|stopped)", s)]
        done = [x for x, _, s in log if x >= t and s.startswith("stopped")]
        res["stop_ack_s"] = ack[0] - t if ack else None
        res["stop_latency_s"] = done[0] - t if done else None
    return res


def server_side(log: Path, t0: float, t1: float) -> dict:
    """From the server's timing log, between ``t0`` and ``t1``: the gaps between a
    running session's plot refreshes (ticks that drew a curve group, from the run's
    start to its end; the page's step line moves at every tick in between), and the
    collections that held the event loop over 0.5 s, and how long the runs napped for
    a lagging loop (orthoviz.runtime.loopwatch) against their wall time."""
    lines = [x.split() for x in log.read_text().splitlines()] if log.exists() else []
    lines = [x for x in lines if len(x) > 3 and t0 <= float(x[0]) <= t1]
    started, ended, draws, napped, walls = {}, {}, {}, 0.0, 0.0
    for x in lines:
        t, sid, what = float(x[0]), x[2], x[3]
        if what == "status" and x[4] == "running:":
            started.setdefault(sid, t)
        elif what == "ended":
            ended[sid] = t
            if "napped" in x:  # ... ended drawn (status) napped N s of W s
                i = x.index("napped")
                napped, walls = napped + float(x[i + 1]), walls + float(x[i + 4])
        elif what == "tick" and any(w.startswith("c") for w in x[9:]):
            draws.setdefault(sid, []).append(t)
    gaps = []
    for sid, a in started.items():
        b = ended.get(sid, t1)
        ts = [a] + [t for t in draws.get(sid, []) if a <= t <= b + 0.5]
        gaps += [v - u for u, v in zip(ts, ts[1:])]
    pauses = [float(x[5]) / 1000 for x in lines if x[1] == "gc" and float(x[5]) > 500]
    return {"plot_gap_p50_s": pct(gaps, 0.5), "plot_gap_p95_s": pct(gaps, 0.95),
            "plot_gap_max_s": pct(gaps, 1.0), "collections_over_0.5s": len(pauses),
            "collections_over_0.5s_s": round(sum(pauses), 1),
            "runs_napped_s": round(napped, 1), "runs_wall_s": round(walls, 1)}


def query(app_key: str, preset: str, extra: dict) -> str:
    from orthoviz.runtime.registry import get_experiment

    values = {**get_experiment(app_key).presets[preset], **extra}
    return urlencode({k: json.dumps(v) if isinstance(v, list | dict) else v
                      for k, v in values.items()})


# -- the benchmark -----------------------------------------------------------------
async def drive(args, server: Server) -> dict:
    from playwright.async_api import async_playwright

    key = args.app.replace("_", "-")
    steps = {"steps": args.steps} if args.steps else {}
    smoke = f"{server.url}?{query(key, args.preset, steps)}"
    long = f"{server.url}?{query(key, args.preset, {'steps': 100 * (args.steps or 1000)})}"
    result: dict = {"samples_cold": server.last()}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                          args=CHROMIUM_ARGS)
        # warm-up: one session opens, runs and closes (first-use imports, caches)
        warm: dict = {}
        await session(browser, smoke, False, warm, args.session_timeout)
        await warm["ctx"].close()
        result["warm"] = await server.settle(60 + args.cleanup_wait, args.cleanup_wait)
        result["warm_heap"] = await server.heap()
        result["baseline"] = server.last()
        # page-load CPU: sessions that only look
        cpu0 = server.last()["cpu_s"]
        lookers = []
        for _ in range(args.look_sessions):
            ctx = await browser.new_context()
            page = await ctx.new_page()
            await page.goto(smoke, timeout=args.session_timeout * 1000)
            await page.locator("canvas").first.wait_for(timeout=args.session_timeout * 1000)
            lookers.append(ctx)
        await asyncio.sleep(1.5)  # two sampler ticks after the last paint
        result["look_cpu_s"] = (server.last()["cpu_s"] - cpu0) / max(1, args.look_sessions)
        for ctx in lookers:
            await ctx.close()
        await server.settle(60 + args.cleanup_wait, args.cleanup_wait)
        # the class: N sessions at once
        n, k = args.sessions, min(args.stop_sessions, args.sessions)
        outs = [{} for _ in range(n)]
        stops = [i < k for i in range(n)]
        t0 = time.time()
        tasks = [asyncio.create_task(session(browser, long if s else smoke, s, o,
                                             args.session_timeout))
                 for s, o in zip(stops, outs)]
        done, pending = await asyncio.wait(tasks, timeout=args.time_limit)
        for t in pending:
            t.cancel()
        errors = [repr(t.exception())[:1500] for t in done if t.exception() is not None]
        result["class_s"] = time.time() - t0
        result["server_side"] = server_side(server.timing, t0, time.time())
        peak_rows = [r for r in server.rows() if r["t"] >= t0]
        result["peak"] = max(peak_rows, key=lambda r: r["rss_mb"]) if peak_rows else {}
        result["cpu_class_s"] = server.last()["cpu_s"] - result["baseline"]["cpu_s"]
        for o in outs:
            if "ctx" in o:
                with contextlib.suppress(Exception):
                    await o["ctx"].close()
        t_closed = time.time()
        result["after"] = await server.settle(60 + args.cleanup_wait, args.cleanup_wait)
        result["cleanup_s"] = time.time() - t_closed
        result["after_heap"] = await server.heap()
        await browser.close()
    t_first = server.rows()[0]["t"] if server.rows() else 0
    result["timeline"] = [{**r, "t": round(r["t"] - t_first, 1)} for r in server.rows()[::4]]
    result["sessions"] = [analyse(o, s) for o, s in zip(outs, stops)]
    result["errors"] = errors + [e for o in outs for e in o.get("page_errors", [])]
    return result


#: issue #10's targets on a quiet 2-core machine
TARGETS = {"completed": "all", "gap_p95_s": "< 2", "rss_after_vs_base": "<= 1.10",
           "run_threads_after": "0", "explorers_after": "0"}


def missed(row: dict, sessions: int) -> list[str]:
    """The targets this class missed (empty: all met), each as "measure = value"."""
    checks = {"completed": row["completed"] == sessions,
              "gap_p95_s": row["gap_p95_s"] is not None and row["gap_p95_s"] < 2.0,
              "rss_after_vs_base": row["rss_after_vs_base"] is not None
              and row["rss_after_vs_base"] <= 1.10,
              "run_threads_after": row["run_threads_after"] == 0,
              "explorers_after": row["explorers_after"] == 0}
    return [f"{k} = {row[k]}" for k, ok in checks.items() if not ok]


def _pair(r: dict, key: str) -> str | None:
    w, a = (r[h].get("malloc", {}).get(key) for h in ("warm_heap", "after_heap"))
    return f"{w} -> {a}" if w is not None and a is not None else None


def summarise(args, r: dict) -> dict:
    runs = [s for s in r["sessions"] if not s["stop_session"]]
    stops = [s for s in r["sessions"] if s["stop_session"]]
    gaps = [g for s in r["sessions"] for g in s["gaps"]]
    first = [s["start_to_first_update_s"] for s in r["sessions"]
             if "start_to_first_update_s" in s]
    plots = [s["first_plot_s"] for s in r["sessions"] if s.get("first_plot_s")]
    base, after, peak = r["baseline"], r["after"], r["peak"]
    return {
        "app": args.app, "sessions": args.sessions,
        "completed": sum(s["completed"] for s in r["sessions"]),
        "runs_finished": f"{sum(s['completed'] for s in runs)}/{len(runs)}",
        "stops_done": f"{sum(s['completed'] for s in stops)}/{len(stops)}",
        "max_queue_place": max((s["max_place"] for s in r["sessions"]), default=0),
        "start_clicks_repeated": sum(s.get("start_repeats", 0) for s in r["sessions"]),
        "gap_p50_s": pct(gaps, 0.5), "gap_p95_s": pct(gaps, 0.95),
        "gap_max_s": pct(gaps, 1.0),
        "first_plot_p50_s": pct(plots, 0.5), "first_plot_p95_s": pct(plots, 0.95),
        "start_to_update_p50_s": pct(first, 0.5), "start_to_update_p95_s": pct(first, 0.95),
        **r.get("server_side", {}),
        "stop_ack_max_s": pct([s["stop_ack_s"] for s in stops if s.get("stop_ack_s")], 1),
        "stop_latency_max_s": pct([s["stop_latency_s"] for s in stops
                                   if s.get("stop_latency_s")], 1),
        "rss_cold_mb": r["samples_cold"].get("rss_mb"), "rss_base_mb": base.get("rss_mb"),
        "rss_peak_mb": peak.get("rss_mb"), "rss_after_mb": after.get("rss_mb"),
        "rss_after_vs_base": round(after["rss_mb"] / base["rss_mb"], 3)
        if after.get("rss_mb") and base.get("rss_mb") else None,
        # glibc's in-use and free-but-kept bytes: which of the two the rise is
        "malloc_in_use_base_after_mb": _pair(r, "in_use_mb"),
        "malloc_free_base_after_mb": _pair(r, "free_mb"),
        "threads_base": base.get("threads"), "threads_after": after.get("threads"),
        "run_threads_after": after.get("run_threads"),
        "explorers_after": r["after_heap"].get("explorers"),
        # Bokeh documents alive, baseline -> after (one is import-time state)
        "documents_base_after": f'{r["warm_heap"].get("documents")} -> '
                                f'{r["after_heap"].get("documents")}',
        "look_cpu_s": round(r["look_cpu_s"], 2),
        "class_cpu_s": round(r["cpu_class_s"], 1), "class_wall_s": round(r["class_s"], 1),
        "cleanup_s": round(r["cleanup_s"], 1),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, default=20)
    p.add_argument("--app", default="neural_collapse")
    p.add_argument("--preset", default="smoke")
    p.add_argument("--steps", type=int, default=2000,
                   help="steps of each run (the smoke preset's 60 give a single update; "
                   "0: the preset's own); the Stop sessions run 100 times more")
    p.add_argument("--stop-sessions", type=int, default=3,
                   help="sessions that run a long version and press Stop")
    p.add_argument("--look-sessions", type=int, default=3,
                   help="sessions that only open the page (server CPU per page load)")
    p.add_argument("--max-runs", type=int, default=None, help="orthoviz serve --max-runs")
    p.add_argument("--port", type=int, default=5200)
    p.add_argument("--session-timeout", type=float, default=300.0)
    p.add_argument("--time-limit", type=float, default=600.0,
                   help="seconds the N sessions may take together")
    p.add_argument("--cleanup-wait", type=float, default=125.0,
                   help="the server's unused-session check + lifetime (s)")
    p.add_argument("--json", default=None, help="also write the summary here")
    p.add_argument("--check", action="store_true",
                   help="exit 1 when a target is missed (default: report only)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="orthoviz-load-") as tmp:
        server = Server(args.app, args.port, Path(tmp), args.max_runs)
        try:
            server.wait_ready()
            time.sleep(2.0)  # a few samples before any session
            raw = asyncio.run(drive(args, server))
        finally:
            server.stop()
            log = server.log.read_text(errors="replace").splitlines()
        # the server's complaints (the log goes with the temporary folder)
        raw["server_errors"] = [x[:300] for x in log
                                if any(w in x for w in ("Error", "Traceback", "WARNING"))][:40]
    from common import report

    row = summarise(args, raw)
    row["targets_missed"] = missed(row, len(raw["sessions"])) or "none"
    rows = [{"measure": k, "value": v, "target": TARGETS.get(k, "")} for k, v in row.items()]
    path = report("load", rows, {"summary": row,"sessions_detail": raw["sessions"],
                                  "errors": raw["errors"][:20],
                                  "server_errors": raw["server_errors"],
                                  "warm_heap": raw["warm_heap"],
                                  "after_heap": raw["after_heap"],
                                  "timeline": raw["timeline"],
                                  "note": "pessimistic when the machine is shared"})
    if args.json:
        Path(args.json).write_text(path.read_text())
    print("targets: " + ("all met" if row["targets_missed"] == "none"
                         else "missed " + "; ".join(row["targets_missed"])))
    return 1 if args.check and row["targets_missed"] != "none" else 0


if __name__ == "__main__":
    sys.exit(main())
