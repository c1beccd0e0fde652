"""``make lab``: JupyterLab from the project's environment answers, and its notebook
kernel is the environment's python and imports orthoviz.

Starts ``jupyter lab`` (the venv's, beside ``sys.executable``) on 127.0.0.1 with a
random token, checks ``GET /api`` returns JSON, starts a ``python3`` kernel through the
REST API, runs one cell over the kernel's websocket and stops the server.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytest.importorskip("jupyterlab")
requests = pytest.importorskip("requests")
ROOT = Path(__file__).resolve().parents[1]
CODE = "import sys, orthoviz; print('KERNEL', sys.executable, orthoviz.__file__)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _jupyter() -> str:
    exe = Path(sys.executable).with_name("jupyter")
    return str(exe) if exe.exists() else shutil.which("jupyter") or "jupyter"


@pytest.fixture()
def lab(tmp_path):
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"),
               JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"))
    proc = subprocess.Popen(
        [_jupyter(), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--ServerApp.token={token}", "--ServerApp.port_retries=0",
         f"--ServerApp.root_dir={ROOT / 'notebooks'}"]
        + (["--allow-root"] if os.geteuid() == 0 else []),
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = requests.get(f"{base}/api", timeout=2)
                break
            except requests.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not start: {proc.stderr.read()[-2000:]!r}")
                time.sleep(0.5)
        yield base, token, r
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (it and its kernels), SIGKILL if it hangs."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=15)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def _execute(base: str, token: str, kernel_id: str, code: str, timeout: float = 60) -> str:
    """Run ``code`` on the kernel through its websocket; its stdout."""
    from tornado.httpclient import HTTPRequest
    from tornado.ioloop import IOLoop
    from tornado.websocket import websocket_connect

    msg_id = uuid.uuid4().hex
    msg = {"header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test",
                      "session": uuid.uuid4().hex, "version": "5.3", "date": ""},
           "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
           "content": {"code": code, "silent": False, "store_history": False,
                       "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}
    url = base.replace("http", "ws", 1) + f"/api/kernels/{kernel_id}/channels"

    async def run() -> str:
        req = HTTPRequest(url, headers={"Authorization": f"token {token}"})
        ws = await websocket_connect(req)
        await ws.write_message(json.dumps(msg))
        out = []
        while True:
            raw = await ws.read_message()
            if raw is None:
                break
            m = json.loads(raw)
            if m.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = m["header"]["msg_type"]
            if kind == "stream":
                out.append(m["content"]["text"])
            elif kind == "error":
                out.append("ERROR " + m["content"]["evalue"])
            elif kind == "status" and m["content"]["execution_state"] == "idle":
                break
        ws.close()
        return "".join(out)

    return IOLoop.current().run_sync(run, timeout=timeout)


@pytest.mark.timeout(180)
def test_make_lab_serves_jupyterlab_with_the_project_kernel(lab):
    base, token, r = lab
    assert r.status_code == 200 and "version" in r.json()  # GET /api: JSON
    auth = {"Authorization": f"token {token}"}
    assert requests.get(f"{base}/api/contents", timeout=5).status_code == 403  # token needed
    names = {c["name"] for c in requests.get(f"{base}/api/contents", headers=auth,
                                             timeout=5).json()["content"]}
    assert {"01_neural_collapse.ipynb", "02_random_features.ipynb"} <= names
    specs = requests.get(f"{base}/api/kernelspecs", headers=auth, timeout=5).json()
    assert "python3" in specs["kernelspecs"]
    kernel = requests.post(f"{base}/api/kernels", headers=auth, json={"name": "python3"},
                           timeout=30).json()
    try:
        out = _execute(base, token, kernel["id"], CODE)
    finally:
        requests.delete(f"{base}/api/kernels/{kernel['id']}", headers=auth, timeout=10)
    line = next((x for x in out.splitlines() if x.startswith("KERNEL ")), out)
    assert line.startswith("KERNEL "), out
    _, exe, module = line.split(" ", 2)
    assert Path(os.path.abspath(exe)).parent == Path(os.path.abspath(sys.executable)).parent, exe
    assert Path(module).resolve().is_relative_to(ROOT), module
