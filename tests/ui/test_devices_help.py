"""The device choice lists only what exists here; ``orthoviz serve --help`` explains
every option."""

from __future__ import annotations

import pytest

pn = pytest.importorskip("panel")

from orthoviz.cli import _parser  # noqa: E402
from orthoviz.runtime.device import available_devices  # noqa: E402
from orthoviz.ui import Explorer  # noqa: E402


def test_device_selector_lists_only_available_devices():
    e = Explorer("neural-collapse", preset="smoke")
    assert e.param.device.objects == available_devices()
    assert list(e.controls.device.options) == available_devices()
    if "cuda" not in available_devices():  # a GPU asked for by name where there is none
        assert "cuda" not in list(e.controls.device.options)
        named = Explorer("neural-collapse", preset="smoke", device="cuda")
        assert named.device == "cuda" and named.start() is False and "device" in named.message


def test_serve_help_explains_port_address_and_threads():
    serve = _parser()._subparsers._group_actions[0].choices["serve"]
    helps = {a.dest: a.help for a in serve._actions}
    for dest in ("port", "address", "num_threads", "allow_origin", "data_root"):
        assert helps[dest] and len(helps[dest]) > 20, dest
    text = serve.format_help()
    assert "--num-threads" in text and "5006" in text and "127.0.0.1" in text
