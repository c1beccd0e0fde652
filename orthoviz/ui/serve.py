"""``orthoviz serve``: ``python -m panel serve apps/*.py`` with classroom-friendly flags.

Runs Panel's CLI in a subprocess (``panel.command.main`` parses ``sys.argv`` and ignores
its arguments, so it is not called in-process). ``/`` is Panel's index of the apps.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: close abandoned sessions quickly (Bokeh's defaults keep a closed tab's training
#: thread alive for 15-30 s): check every 5 s, drop sessions unused for 10 s
SESSION_FLAGS = ["--check-unused-sessions", "5000", "--unused-session-lifetime", "10000"]


def apps_dir() -> Path:
    """``apps/`` of the repository: next to the ``orthoviz`` package folder, else in
    the current directory."""
    here = Path(__file__).resolve().parents[2] / "apps"
    return here if here.is_dir() else Path.cwd() / "apps"


def app_paths(apps: list[str] | None = None) -> list[Path]:
    """The app scripts to serve: all ``apps/*.py``, or those named (``neural_collapse``,
    ``neural-collapse`` or a path)."""
    folder = apps_dir()
    if not apps:
        found = sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))
        if not found:
            raise FileNotFoundError(f"no apps found in {folder}")
        return found
    out = []
    for a in apps:
        p = Path(a)
        if not p.suffix:
            p = folder / (a.replace("-", "_") + ".py")
        if not p.exists():
            names = ", ".join(x.stem for x in sorted(folder.glob("*.py")))
            raise FileNotFoundError(f"no app '{a}' (available: {names})")
        out.append(p)
    return out


def serve_command(apps: list[str] | None = None, port: int = 5006,
                  address: str | None = None, show: bool = False,
                  num_threads: int = 4) -> list[str]:
    """The ``python -m panel serve ...`` command line."""
    cmd = [sys.executable, "-m", "panel", "serve", *map(str, app_paths(apps)),
           "--port", str(port), "--num-threads", str(num_threads), *SESSION_FLAGS]
    if address:
        cmd += ["--address", address]
        if address not in ("localhost", "127.0.0.1"):
            cmd += ["--allow-websocket-origin", "*"]
    if show:
        cmd.append("--show")
    return cmd


def serve_apps(apps: list[str] | None = None, port: int = 5006, address: str | None = None,
               show: bool = False, num_threads: int = 4) -> int:
    """Serve the dashboards until interrupted; returns panel's exit code."""
    try:
        cmd = serve_command(apps, port, address, show, num_threads)
    except FileNotFoundError as e:
        print(f"orthoviz: {e}", file=sys.stderr)
        return 2
    env = dict(os.environ)
    # several sessions train at once: one intra-op thread each unless the user chose
    env.setdefault("OMP_NUM_THREADS", "1")
    print(f"Serving {', '.join(Path(c).stem for c in cmd if c.endswith('.py'))} at "
          f"http://{address or 'localhost'}:{port}/", file=sys.stderr)
    proc = subprocess.Popen(cmd, env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            return proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()
