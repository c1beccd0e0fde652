"""`orthoviz serve` as a user starts it: loopback by default, foreign websocket origins
refused in every serving mode (default, --allow-origin with a login, Binder), and
SIGTERM / SIGINT leave no process and a free port within 10 s."""

from __future__ import annotations

import asyncio
import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("panel")
tornado_ws = pytest.importorskip("tornado.websocket")

from orthoviz.ui.serve import ServeError, allowed_origins, origin  # noqa: E402

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[2]
#: for tests about the server itself: loads in a fraction of a second
MINIMAL = Path(__file__).resolve().parent / "apps" / "minimal.py"


def listening_addresses(port: int) -> set[str]:
    """Local addresses in LISTEN state on ``port`` (Linux /proc/net/tcp{,6})."""
    found = set()
    for name in ("tcp", "tcp6"):
        path = Path("/proc/net") / name
        if not path.exists():
            pytest.skip("no /proc/net/tcp")
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, p = local.rsplit(":", 1)
            if state == "0A" and int(p, 16) == port:
                found.add(addr)
    return found


def session_token(port: int, opener=None, app="neural_collapse") -> str:
    """Load the app page once (a session, as a browser would) and return its token."""
    opener = opener or urllib.request.build_opener()
    html = opener.open(f"http://127.0.0.1:{port}/{app}", timeout=60).read().decode()
    return re.search(r'"token":"([^"]+)"', html).group(1)


def ws_answer(port: int, token: str, page_origin: str, jar=(), app="neural_collapse"):
    """Open the session's websocket with ``Origin: page_origin``: "accepted" (the
    server's first message arrived) or the HTTP status of the refusal."""
    cookies = "; ".join(f"{c.name}={c.value}" for c in jar)

    async def connect():
        from tornado.httpclient import HTTPClientError, HTTPRequest

        headers = {"Origin": page_origin, **({"Cookie": cookies} if cookies else {})}
        req = HTTPRequest(f"ws://127.0.0.1:{port}/{app}/ws", headers=headers)
        try:
            conn = await tornado_ws.websocket_connect(req, subprotocols=["bokeh", token])
        except HTTPClientError as e:
            return e.code
        msg = await asyncio.wait_for(conn.read_message(), 30)
        conn.close()
        return "accepted" if msg and "ACK" in msg else f"unexpected {msg!r}"

    return asyncio.run(connect())


def stops_cleanly(proc, port: int, sig: int, wait_until) -> None:
    """``sig`` to the server: within 10 s no process of its group and the port free."""
    t0 = time.monotonic()
    proc.send_signal(sig)
    rc = proc.wait(timeout=10)

    def group_gone():
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_until(group_gone, timeout=max(0.1, t0 + 10 - time.monotonic()))
    with socket.socket() as s:  # as the next server would bind it
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert rc == 0 and time.monotonic() - t0 < 10


def test_default_is_loopback_only_refuses_foreign_origins_and_stops_on_sigterm(
        tmp_path, orthoviz_server, wait_until):
    with orthoviz_server(tmp_path) as (proc, port, log):
        assert listening_addresses(port) == {"0100007F"}, "only 127.0.0.1 (ss -ltn)"
        text = log.read_text()
        assert f"at http://127.0.0.1:{port}/" in text and f"listening on 127.0.0.1:{port}" in text
        token = session_token(port)
        assert ws_answer(port, token, "http://evil.example") == 403
        assert ws_answer(port, token, f"http://evil.example:{port}") == 403
        assert ws_answer(port, token, f"http://localhost:{port}") == "accepted"
        assert ws_answer(port, token, f"http://127.0.0.1:{port}") == "accepted"
        stops_cleanly(proc, port, signal.SIGTERM, wait_until)


def test_allow_origin_with_a_login_and_sigint(tmp_path, orthoviz_server, wait_until):
    with orthoviz_server(tmp_path, "--allow-origin", "classroom.example", "--basic-auth",
                         "s3cret-pass", apps=[MINIMAL]) as (proc, port, log):
        assert f"classroom.example:{port}" in log.read_text()
        anonymous = urllib.request.urlopen(f"http://127.0.0.1:{port}/minimal", timeout=60)
        assert "/login" in anonymous.url  # the app itself needs a login
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        form = {"username": "teacher", "password": "s3cret-pass"}
        opener.open(f"http://127.0.0.1:{port}/login",
                    data=urllib.parse.urlencode(form).encode(), timeout=60)
        token = session_token(port, opener, app="minimal")
        assert ws_answer(port, token, f"http://evil.example:{port}", jar, "minimal") == 403
        assert ws_answer(port, token, f"http://classroom.example:{port}", jar,
                         "minimal") == "accepted"
        stops_cleanly(proc, port, signal.SIGINT, wait_until)


def test_binder_start_allows_the_proxy_origin_only(tmp_path, free_port, wait_until):
    """binder/start's variable under jupyter-panel-proxy's own command line, which
    passes --allow-websocket-origin '*'."""
    env = dict(os.environ, JUPYTERHUB_PUBLIC_HUB_URL="https://hub.binder.example/hub/",
               HOME=str(tmp_path))
    env.pop("BINDER_LAUNCH_HOST", None)
    env.pop("ORTHOVIZ_ALLOW_ORIGIN", None)
    shown = subprocess.run(["bash", str(ROOT / "binder" / "start"), "env"], env=env,
                           capture_output=True, text=True, check=True).stdout
    value = re.search(r"^BOKEH_ALLOW_WS_ORIGIN=(.*)$", shown, re.M).group(1)
    assert "*" not in value and "hub.binder.example" in value.split(",")
    port = free_port()
    with open(tmp_path / "binder.log", "w") as f:
        proc = subprocess.Popen(
            ["bash", str(ROOT / "binder" / "start"), sys.executable, "-m", "panel", "serve",
             str(MINIMAL), "--allow-websocket-origin", "*",
             "--port", str(port)], env=env, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        wait_until(lambda: _accepting(port, proc), timeout=90, interval=0.25)
        token = session_token(port, app="minimal")
        assert ws_answer(port, token, "https://evil.example", app="minimal") == 403
        assert ws_answer(port, token, "https://hub.binder.example", app="minimal") == "accepted"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _accepting(port, proc):
    assert proc.poll() is None
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def test_a_port_in_use_is_one_line_naming_it(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        p = subprocess.run([sys.executable, "-m", "orthoviz.cli", "serve", "--port",
                            str(port)], capture_output=True, text=True, timeout=60,
                           cwd=tmp_path)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and f"port {port} is already in use" in lines[0], p.stderr


def test_origins_never_include_a_wildcard():
    assert allowed_origins("127.0.0.1", 5006) == ["localhost:5006", "127.0.0.1:5006"]
    assert allowed_origins("0.0.0.0", 80, ["lab.example", "http://x.example:8080/"])[2:] \
        == ["lab.example:80", "x.example:8080"]
    with pytest.raises(ServeError, match="--allow-origin"):
        allowed_origins("0.0.0.0", 5006)  # non-local needs an origin
    for bad in ("*", "*.example.org", "host:*", "a:b:c", "", "user@host"):
        with pytest.raises(ServeError, match="no wildcard"):
            origin(bad, 5006)
