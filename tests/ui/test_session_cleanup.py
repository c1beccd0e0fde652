"""A closed session leaves nothing behind: its run stops, its worker thread ends, its
slot in the run limit is given back and its explorer (with the document, plots and
records it holds) becomes unreachable.

The session is a real one on an in-process Panel server: a page request creates it,
its explorer starts a long run, and since no browser ever connects, the server's
unused-session check destroys it (the abandoned-tab case)."""

from __future__ import annotations

import gc
import threading
import urllib.request
import weakref

import pytest

pn = pytest.importorskip("panel")

from orthoviz.runtime.capacity import ADMISSION  # noqa: E402
from orthoviz.ui import Explorer  # noqa: E402

pytestmark = pytest.mark.ui


def run_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("orthoviz-neural")]


@pytest.mark.timeout(180)
def test_a_closed_session_frees_its_explorer_run_and_slot(wait_until):
    from tests.conftest import free_port

    refs, started = [], threading.Event()

    def app():
        ex = Explorer("neural-collapse", preset="smoke",
                      config={"steps": 1_000_000, "record_every": 1})
        refs.append(weakref.ref(ex))
        assert ex._served_doc() is not None
        ex.start()
        refs.append(weakref.ref(ex.runner))
        started.set()
        return ex.template()

    port = free_port()
    server = pn.serve({"app": app}, port=port, address="127.0.0.1", threaded=True,
                      show=False, websocket_origin=[f"127.0.0.1:{port}"],
                      check_unused_sessions_milliseconds=200,
                      unused_session_lifetime_milliseconds=500)
    try:
        wait_until(lambda: _get(f"http://127.0.0.1:{port}/app"), timeout=60)
        assert started.wait(60)
        explorer_ref, runner_ref = refs
        # the run computes (or waits for a slot) while the session lives ...
        wait_until(lambda: runner_ref() is None or runner_ref().step > 0
                   or runner_ref().status == "queued", timeout=60)

        def gone():
            gc.collect()
            return explorer_ref() is None and runner_ref() is None

        # ... and once the server drops the unused session, nothing of it remains
        wait_until(gone, timeout=60, interval=0.5)
        wait_until(lambda: not run_threads(), timeout=30)
        assert ADMISSION.counts()["running"] == 0 and ADMISSION.counts()["waiting"] == 0
    finally:
        server.stop()


def _get(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status == 200
    except OSError:
        return False
