"""`orthoviz serve` command line and a `panel serve apps/*.py` smoke test over HTTP."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("panel")
requests = pytest.importorskip("requests")

from orthoviz.runtime import list_experiments  # noqa: E402
from orthoviz.ui.serve import SESSION_FLAGS, SESSION_OPTS, app_paths  # noqa: E402

APPS = app_paths()


def test_every_experiment_has_an_app():
    stems = {p.stem for p in APPS}
    for key in list_experiments():
        assert key.replace("-", "_") in stems


def test_app_selection_and_session_lifetimes():
    assert [p.name for p in app_paths(["neural-collapse"])] == ["neural_collapse.py"]
    assert app_paths(None) == APPS
    # the in-process server and the `panel serve` flags of the fixtures agree
    assert SESSION_FLAGS == ["--check-unused-sessions",
                             str(SESSION_OPTS["check_unused_sessions_milliseconds"]),
                             "--unused-session-lifetime",
                             str(SESSION_OPTS["unused_session_lifetime_milliseconds"])]


def test_unknown_app_is_named():
    with pytest.raises(FileNotFoundError, match="no app 'nope'"):
        app_paths(["nope"])


@pytest.mark.parametrize("path", APPS, ids=[p.stem for p in APPS])
def test_apps_import_without_serving(path: Path):
    spec = importlib.util.spec_from_file_location(f"app_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # no servable(), no server, no error


@pytest.mark.timeout(240)
def test_index_and_every_app_answer(tmp_path, panel_server, wait_until):
    with panel_server(APPS, tmp_path / "serve.log") as url:
        index = wait_until(lambda: requests.get(url + "/", timeout=60), timeout=120)
        assert index.status_code == 200
        for p in APPS:
            assert p.stem in index.text
        for p in APPS:
            r = requests.get(f"{url}/{p.stem}", timeout=120)
            assert r.status_code == 200, (p.stem, r.status_code)
            assert "bokeh" in r.text.lower()
        log = (tmp_path / "serve.log").read_text()
        assert "Traceback" not in log, log[-3000:]


ROOT = Path(__file__).resolve().parents[2]


def test_jupyter_panel_proxy_serves_only_the_apps():
    yaml = pytest.importorskip("yaml")
    # jupyter-panel-proxy reads it with BaseLoader: every value is a string
    cfg = yaml.load((ROOT / "jupyter-panel-proxy.yml").read_text(), Loader=yaml.BaseLoader)
    assert cfg["apps"] == ["apps/*.py"]
    assert cfg.get("dev", "") == ""  # a non-empty string would turn autoreload on


def test_binder_files():
    env = (ROOT / "binder" / "environment.yml").read_text()
    for pkg in ("pytorch-cpu", "jupyter-panel-proxy", "jupyterlab", "panel>=1.9.3",
                "holoviews>=1.23.2"):
        assert pkg in env
    post = (ROOT / "binder" / "postBuild").read_text().splitlines()
    assert post[0] == "#!/bin/bash" and "set -e" in post
    assert "pip install --no-deps -e ." in post
    start = (ROOT / "binder" / "start").read_text()
    assert "OMP_NUM_THREADS=1" in start and start.rstrip().endswith('exec "$@"')
    assert "ORTHOVIZ_DATA_ROOT" in start and "BOKEH_ALLOW_WS_ORIGIN='*'" not in start
