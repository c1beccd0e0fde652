"""Shared fixtures: free ports, waiting, a `panel serve` subprocess, headless Chromium.

Browser tests drive the OS Chromium (``$ORTHOVIZ_CHROMIUM`` or ``/usr/bin/chromium``)
through plain ``playwright.sync_api`` with ``executable_path``; ``playwright install``
is never run. Without Chromium or playwright the ``ui`` tests skip with the reason.
The helpers are a vendored equivalent of Panel's internal ``serve_component`` /
``wait_until`` (``panel/tests/util.py``), so Panel upgrades cannot break them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(fn, timeout: float = 30.0, interval: float = 0.1):
    """Poll ``fn`` (a bool or an assert-raising callable) until true; return its value."""
    deadline, err = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            value = fn()
            if value or value is None:
                return value
        except AssertionError as e:
            err = e
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s" + (f": {err}" if err else ""))


@contextlib.contextmanager
def panel_server(app_files: list[Path], log: Path, timeout: float = 120.0):
    """``python -m panel serve`` the apps (with ``orthoviz serve``'s flags and index, as
    Binder's jupyter-panel-proxy serves them) on a free port; yields the base URL once
    the port accepts connections; always killed."""
    from orthoviz.ui.index import INDEX_TEMPLATE
    from orthoviz.ui.serve import SESSION_FLAGS

    port = free_port()
    cmd = [sys.executable, "-m", "panel", "serve", *map(str, app_files), "--port", str(port),
           "--num-threads", "2", *SESSION_FLAGS, "--index", INDEX_TEMPLATE,
           "--static-dirs", f"thumbnails={ROOT / 'apps' / 'thumbnails'}"]
    env = dict(os.environ, OMP_NUM_THREADS="1", ORTHOVIZ_DEVICE="cpu")
    with open(log, "w") as out:  # a file, not a pipe: a full pipe would block the server
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        def accepting():
            assert proc.poll() is None, f"panel serve exited:\n{log.read_text()[-3000:]}"
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True

        wait_until(_swallow(accepting), timeout=timeout, interval=0.25)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def orthoviz_server(cwd: Path, *args: str, apps=("neural_collapse",), timeout: float = 90.0):
    """``orthoviz serve APPS --port P ARGS`` in its own process group (cwd ``cwd``, log
    ``cwd/serve.log``); yields (process, port, log path) once it reports its address;
    the whole group is killed at the end."""
    import signal

    port, log = free_port(), cwd / "serve.log"
    env = dict(os.environ, ORTHOVIZ_DEVICE="cpu")
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "orthoviz.cli", "serve",
                                 *map(str, apps), "--port", str(port), *args], cwd=cwd,
                                env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        def ready():
            assert proc.poll() is None, f"orthoviz serve exited:\n{log.read_text()}"
            return "websocket origins" in log.read_text()

        wait_until(ready, timeout=timeout, interval=0.2)
        yield proc, port, log
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _swallow(fn):
    def inner():
        try:
            return fn()
        except OSError:
            return False

    return inner


def chromium_executable() -> str | None:
    for cand in (os.environ.get("ORTHOVIZ_CHROMIUM"), "/usr/bin/chromium",
                 shutil.which("chromium")):
        if cand and os.path.exists(cand):
            return cand
    return None


@pytest.fixture(scope="session")
def browser_type_launch_args():
    """Launch arguments for the OS Chromium (same name as pytest-playwright's fixture)."""
    exe = chromium_executable()
    if exe is None:
        pytest.skip("no Chromium: install Debian's 'chromium' or set ORTHOVIZ_CHROMIUM")
    return {"executable_path": exe, "headless": True, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="module")
def chromium(browser_type_launch_args):
    """A headless Chromium browser driven by plain playwright.sync_api. Module-scoped:
    Playwright's sync API keeps an event loop on the main thread while it lives, which
    breaks later in-process HoloViews/Panel tests (hv.extension then registers nothing)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(**browser_type_launch_args)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture(name="wait_until")
def _wait_until_fixture():
    return wait_until


@pytest.fixture(name="free_port")
def _free_port_fixture():
    return free_port


@pytest.fixture(name="orthoviz_server")
def _orthoviz_server_fixture():
    return orthoviz_server


@pytest.fixture(name="panel_server")
def _panel_server_fixture():
    return panel_server
