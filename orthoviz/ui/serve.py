"""``orthoviz serve``: the ``apps/*.py`` dashboards on a Panel server in this process.

The server runs in-process (no child to orphan): SIGTERM or SIGINT stops it, and after
a short grace period the process ends whatever is still running. Safe by default:

- it listens on 127.0.0.1 unless ``--address`` says otherwise, and prints the address
  it really listens on;
- websockets are accepted only from the origins it serves (``localhost:PORT``,
  ``127.0.0.1:PORT``) plus each ``--allow-origin HOST[:PORT]``; a non-local address
  needs at least one, and ``*`` is refused;
- ``data_dir`` values are confined to the data root (``--data-root``, else
  ``$ORTHOVIZ_DATA_ROOT``, else ``./data``), and run-folder references (``weights``,
  ``compare_with``) to ``./runs``;
- ``--basic-auth`` puts Panel's login page in front of every app;
- at most ``--max-runs`` runs compute at once (default: the cores; one per GPU on
  CUDA); later Starts wait in a queue and show their place
  (:mod:`orthoviz.runtime.capacity`);
- ``--autosave`` writes every run into ``./runs`` as it goes, so a killed server
  leaves folders that reopen as "interrupted" (without it a run is on disk only after
  "Save run").

``/`` is orthoviz's index of the apps (:mod:`orthoviz.ui.index`), with thumbnails
from ``apps/thumbnails`` at ``/thumbnails/``.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

from orthoviz.runtime.loopwatch import BEAT_S, WATCH
from orthoviz.runtime.runner import stop_all

#: drop sessions whose page is gone: check every 5 s, drop those unused for 120 s. Not
#: shorter: a session is created when its page is served and counts as unused until
#: the browser opens its websocket, which a class loading pages at once on a 2-core
#: server can take over 30 s to do (measured: with 30 s, a third of the page builds of
#: a 12-session class were second builds for websockets that came late). A closed
#: tab's run does not wait for this: it stops once the page has been gone for
#: CLOSED_TAB_S (orthoviz.ui.stream).
SESSION_FLAGS = ["--check-unused-sessions", "5000", "--unused-session-lifetime", "120000"]
SESSION_OPTS = {"check_unused_sessions_milliseconds": 5000,
                "unused_session_lifetime_milliseconds": 120000}
#: seconds a signalled server gets to stop before the process ends regardless
GRACE_S = 5.0
#: seconds of the grace the runs left get to end after their record in progress
STOP_RUNS_S = 3.0
DEFAULT_ADDRESS = "127.0.0.1"


class ServeError(Exception):
    """A serving option the user must change; the message is one line."""


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


def is_local(address: str) -> bool:
    """True for loopback addresses only (not ``0.0.0.0``, ``::`` or a LAN address)."""
    return address in ("localhost", "::1") or address.startswith("127.")


def origin(text: str, port: int) -> str:
    """``HOST[:PORT]`` (or a URL) as a Bokeh websocket origin; the port defaults to
    the server's. Wildcards are refused."""
    t = text.strip()
    if "://" in t:
        t = urlparse(t).netloc
    t = t.rstrip("/").lower()
    host, _, p = t.partition(":")
    if not host or "*" in t or any(c in t for c in "/@ ,[]") or t.count(":") > 1 \
            or (p and not p.isdigit()):
        raise ServeError(f"--allow-origin {text!r}: give HOST or HOST:PORT (no wildcard)")
    return t if p else f"{host}:{port}"


def allowed_origins(address: str, port: int, allow: list[str] | tuple = ()) -> list[str]:
    """Websocket origins for a server on ``address:port``: the local ones, plus each
    ``--allow-origin``. A non-local address without any is refused."""
    extra = [origin(a, port) for a in allow]
    if not is_local(address) and not extra:
        raise ServeError(
            f"--address {address} accepts connections from other machines: name the "
            f"origin browsers will use, e.g. --allow-origin {socket.gethostname()}:{port} "
            "(repeatable; '*' is not accepted)")
    return list(dict.fromkeys([f"localhost:{port}", f"127.0.0.1:{port}", *extra]))


def check_port(address: str, port: int) -> None:
    """One-line ServeError when ``address:port`` cannot be bound (in use, or not an
    address of this machine)."""
    try:
        infos = socket.getaddrinfo(address or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise ServeError(f"--address {address}: not an address of this machine ({e})") \
            from None
    for family, kind, proto, _, addr in infos[:1]:
        with socket.socket(family, kind, proto) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(addr)
            except OSError as e:
                raise ServeError(_bind_message(address, port, e)) from None


def _bind_message(address: str, port: int, e: OSError) -> str:
    if e.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
        return (f"port {port} is already in use on {address} (another server?); stop it "
                f"or choose another with --port")
    return f"cannot listen on {address}:{port}: {e.strerror or e}"


def resolve_data_root(data_root: str | None) -> Path:
    """The folder ``data_dir`` values are confined to in the served apps."""
    from orthoviz.datasets import DATA_ROOT_ENV, DEFAULT_DATA_DIR

    text = data_root or os.environ.get(DATA_ROOT_ENV) or DEFAULT_DATA_DIR
    return Path(text).expanduser().resolve()


#: the allocator a served process uses (PYTHONMALLOC is read at interpreter start)
MALLOC_ENV = {"PYTHONMALLOC": "malloc"}


def reexec_with_system_malloc() -> None:
    """Restart this process (same pid, same command line) with Python's small-object
    allocator replaced by the system malloc, unless PYTHONMALLOC is set already.

    A class's sessions allocate and free ~80k Python objects each; with pymalloc the
    freed memory stays in partly used 1 MiB arenas (measured: +49 MB of resident memory
    after six sessions had come and gone, with no object of theirs alive), while with
    the system allocator :func:`orthoviz.runtime.memory.release` gives it all back
    (+0.6 MB). Page builds cost ~4% more CPU. ``PYTHONMALLOC=pymalloc`` keeps the
    default."""
    if os.environ.get("PYTHONMALLOC") or not getattr(sys, "orig_argv", None) \
            or not sys.platform.startswith("linux"):  # the trim that pays for it is glibc's
        return
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]],
                  {**os.environ, **MALLOC_ENV})
    except OSError:  # e.g. a frozen or embedded interpreter: serve as we are
        return


def serve_apps(apps: list[str] | None = None, port: int = 5006, address: str | None = None,
               show: bool = False, num_threads: int = 4, allow_origin: list[str] = (),
               data_root: str | None = None, basic_auth: str | None = None,
               max_runs: int | None = None, autosave: bool = False) -> int:
    """Serve the dashboards until SIGTERM or SIGINT; returns the exit code (0 after a
    requested stop, 2 for an option to change, with one line on stderr)."""
    address = address or DEFAULT_ADDRESS
    try:
        paths = app_paths(apps)
        origins = allowed_origins(address, port, allow_origin)
        root = resolve_data_root(data_root)
        check_port(address, port)
        if max_runs is not None and max_runs < 1:
            raise ServeError(f"--max-runs {max_runs}: give an integer >= 1")
    except (FileNotFoundError, ServeError) as e:
        print(f"orthoviz: {e}", file=sys.stderr)
        return 2
    from orthoviz.datasets import DATA_ROOT_ENV

    os.environ[DATA_ROOT_ENV] = str(root)
    from orthoviz.runtime.capacity import ADMISSION

    ADMISSION.configure(max_runs=max_runs)

    from orthoviz.runtime.artifacts import RUNS_ROOT_ENV

    os.environ[RUNS_ROOT_ENV] = str(Path("runs").resolve())  # weights=<run folder>
    if autosave:  # read by every explorer the sessions build
        from orthoviz.ui.runs import AUTOSAVE_ENV

        os.environ[AUTOSAVE_ENV] = "1"
    # several sessions train at once: one intra-op thread each unless the user chose
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # Bokeh lets this variable replace the allowlist below: the flags decide here
    ignored = os.environ.pop("BOKEH_ALLOW_WS_ORIGIN", None)
    server = _server(paths, port, address, origins, num_threads, basic_auth)
    if isinstance(server, str):
        print(f"orthoviz: {server}", file=sys.stderr)
        return 2
    _prepare_collector()  # before the URL is printed: it answers at once
    _report(server, paths, origins, root, basic_auth, ignored)
    _stop_on_signals(server)
    _quiet_closed_pages(server.io_loop.asyncio_loop)
    _release_memory_after_sessions(server)
    beating = _beat_for_runs()
    server.start()
    if show:
        server.io_loop.add_callback(server.show, "/")
    try:
        server.io_loop.start()  # until a signal stops it
    finally:  # no loop to give way to: the runs left (daemon threads) never nap
        beating.stop()
        WATCH.stop()
        # the runs still going end after their record in progress, their folders
        # closed; within the signal's grace (a run that does not end is left to it)
        stop_all(timeout=STOP_RUNS_S)
    return 0


def _server(paths, port, address, origins, num_threads, basic_auth):
    """A started-not-yet Panel server, or the one-line reason it cannot listen."""
    import panel as pn
    from panel.io.server import get_server

    pn.config.nthreads = num_threads
    auth = {}
    if basic_auth:  # a password, or a JSON file of user: password
        auth = {"basic_auth": basic_auth,
                "cookie_secret": os.environ.get("PANEL_COOKIE_SECRET")
                or secrets.token_urlsafe(32)}
    from orthoviz.ui.index import INDEX_TEMPLATE

    thumbs = apps_dir() / "thumbnails"
    static = {"thumbnails": str(thumbs)} if thumbs.is_dir() else {}
    try:
        return get_server({p.stem: str(p) for p in paths}, port=port, address=address,
                          websocket_origin=origins, start=False, show=False,
                          index=INDEX_TEMPLATE, static_dirs=static, **auth, **SESSION_OPTS)
    except OSError as e:
        return _bind_message(address, port, e)


def _report(server, paths, origins, root, basic_auth, ignored) -> None:
    """What is served where: the URL to open (for a non-local address, the first
    ``--allow-origin``), the sockets really bound, the origins and the data root."""
    sockets = getattr(getattr(server, "_http", None), "_sockets", {}).values()
    bound = sorted({_fmt(s.getsockname()) for s in sockets
                    if s.family in (socket.AF_INET, socket.AF_INET6)})
    host, port = server.address, server.port
    where = _fmt((host, port)) if is_local(host) else origins[2]
    lines = [f"Serving {', '.join(p.stem for p in paths)} at http://{where}/",
             f"  listening on {', '.join(bound) or _fmt((host, port))}"
             + ("" if is_local(host) else "  (reachable from other machines)"),
             f"  websocket origins: {', '.join(origins)}",
             f"  data folders: only under {root}",
             f"  runs computed at once: {_limits()[0]} (later Starts wait in a queue)"]
    if basic_auth:
        lines.append("  login required (basic auth)")
    runs = Path("runs").resolve()
    lines.append(f"  run folders: only under {runs}"
                 + (" (runs saved there as they go)"
                    if os.environ.get("ORTHOVIZ_AUTOSAVE") == "1" else ""))
    if ignored:
        lines.append(f"  note: BOKEH_ALLOW_WS_ORIGIN={ignored!r} ignored; use --allow-origin")
    print("\n".join(lines), file=sys.stderr, flush=True)


def _limits() -> tuple[int, int]:
    from orthoviz.runtime.capacity import ADMISSION

    return ADMISSION.limits()


def _release_memory_after_sessions(server, every_ms: int = 2000) -> None:
    """Poll :data:`~orthoviz.runtime.memory.RELEASER` on the server's loop: once the
    sessions that ended are gone (none ended for a few seconds), collect and trim."""
    from tornado.ioloop import PeriodicCallback

    from orthoviz.runtime.memory import RELEASER

    PeriodicCallback(RELEASER.poll, every_ms).start()  # on the loop server.start() runs


def _quiet_closed_pages(loop) -> None:
    """Drop asyncio's "Task exception was never retrieved" report of a
    ``WebSocketClosedError``: a page closed while Panel was writing to it, and Panel
    leaves some of those writes' tasks unawaited (cancelled with their session, or
    behind a write that failed first). Each closed tab printed a 15-line traceback on
    the teacher's console for nothing anyone can act on (Bokeh's own one-line
    "connection was closed" warning stays). Every other report goes to the handler
    the loop had."""
    from tornado.websocket import WebSocketClosedError

    previous = loop.get_exception_handler()

    def handler(loop, context) -> None:
        if isinstance(context.get("exception"), WebSocketClosedError):
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


def _beat_for_runs():
    """Stamp the loop's heartbeat every BEAT_S on the loop server.start() runs: the
    runs nap while it lags (:mod:`orthoviz.runtime.loopwatch`), so clicks and draws
    go first on a server whose cores the runs share. Returns the callback."""
    from tornado.ioloop import PeriodicCallback

    WATCH.beat()
    beating = PeriodicCallback(WATCH.beat, BEAT_S * 1000)
    beating.start()
    return beating


#: the collector's thresholds in a served process (Python's default: 700, 10, 10)
GC_THRESHOLD = (10_000, 10, 10)


def _prepare_collector() -> int:
    """Import what every session uses, move every object alive now (modules, classes,
    functions: ~500k) to the collector's permanent generation (``gc.freeze``) and
    space its collections out (:data:`GC_THRESHOLD`); how many objects were frozen.

    Why: a full collection walks every tracked object and blocks the event loop, so
    every page waits. Measured in 20-session classes (benchmarks/load.py,
    ORTHOVIZ_TIMING_LOG): 35-37 collections over 50 ms, up to 2.1 s each, and ticks
    that spent 2 s of CPU in one where a draw costs ~0.2 s. Python starts one when the
    objects that outlived both younger generations have grown by a quarter, checked
    every 700 x 10 x 10 = 70k allocations by default, and a session leaves ~56k
    objects: a class filling up collects at each quarter's growth. With 10000, the
    check comes every ~1M allocations; the young generations, collected every 10k and
    100k, still take each page's short-lived cycles. Frozen objects are
    skipped by every collection (the release's follow-up pass: 0.3 -> 0.1 s); the
    release after sessions end thaws them for its own collection
    (:func:`~orthoviz.runtime.memory.freeze_survivors`)."""
    import gc

    import orthoviz.ui  # noqa: F401  (Panel, HoloViews, Bokeh)
    from orthoviz.runtime import get_experiment, list_experiments
    from orthoviz.runtime.memory import freeze_survivors

    for key in list_experiments():  # torch and each experiment's modules
        get_experiment(key)
    frozen = freeze_survivors()  # and each page, once built (Explorer.servable)
    gc.set_threshold(*GC_THRESHOLD)
    if os.environ.get("ORTHOVIZ_TIMING_LOG"):
        _log_collections(os.environ["ORTHOVIZ_TIMING_LOG"])
    return frozen


def _log_collections(path: str, over_s: float = 0.05) -> None:
    """Profiling (ORTHOVIZ_TIMING_LOG): append each collection longer than ``over_s``
    to the timing log, with its generation and what it collected."""
    import gc
    import time

    started = [0.0]

    def note(phase, info):
        if phase == "start":
            started[0] = time.perf_counter()
            return
        took = time.perf_counter() - started[0]
        if took > over_s:
            with open(path, "a") as f:
                f.write(f"{time.time():.3f} gc - collect gen{info['generation']} "
                        f"{took * 1000:.1f} ms collected {info['collected']}\n")

    gc.callbacks.append(note)


def _fmt(addr) -> str:
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _stop_on_signals(server) -> None:
    """SIGTERM/SIGINT: stop listening and leave the event loop; if that takes longer
    than GRACE_S (a draw or a run holding on), end the process. A second signal ends
    it at once."""
    state = {"signalled": False}

    def stop() -> None:
        try:
            server.stop(wait=False)
        finally:
            server.io_loop.stop()

    def handler(signum, frame) -> None:
        if state["signalled"]:
            os._exit(128 + signum)
        state["signalled"] = True
        timer = threading.Timer(GRACE_S, os._exit, args=(0,))
        timer.daemon = True
        timer.start()
        server.io_loop.asyncio_loop.call_soon_threadsafe(stop)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)
