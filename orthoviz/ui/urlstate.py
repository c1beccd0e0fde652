"""The explorer's state in the page's URL: ``?preset=...&seed=...&device=...`` and every
config value that differs from the preset's, so that a shared link restores the preset
and the changed values exactly.

Not Panel's ``location.sync``: it applies a URL's values in one all-or-nothing update
(one bad value drops every value, and its ``on_error`` receives all of them), skips a
malformed list with only a server-log warning, and writes every parameter back. Here
the preset applies first, then each value on its own through the same validation as
the CLI (:func:`~orthoviz.runtime.params.set_checked`); each refused value is reported
by name, value and allowed range.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlencode

from orthoviz.runtime import ConfigError
from orthoviz.runtime.params import set_checked, user_parameters

#: explorer parameters kept in the URL, in the order they apply (the preset first: it
#: resets the config that the values after it change)
EXPLORER_KEYS = ("preset", "device", "seed")
PRESENT = "present"  # ?present=true: the page at room size (orthoviz.ui.present)


def apply_query(explorer, search: str) -> list[str]:
    """Apply a URL query (``?a=1&b=x``) to ``explorer``; returns one message per value
    that was refused (unknown keys are left to other owners of the URL)."""
    query = dict(parse_qsl(search.lstrip("?"), keep_blank_values=True))
    errors = []
    for key in EXPLORER_KEYS:
        if key in query:
            errors += _try(set_checked, explorer, key, query[key])
    if PRESENT in query and getattr(explorer, "presentation", None) is not None:
        explorer.presentation.switch.value = query[PRESENT].lower() in ("true", "1", "yes")
    return errors + apply_config_query(explorer.config, query)


def apply_config_query(config, query: dict[str, str]) -> list[str]:
    """Each of ``query``'s values that names a parameter of ``config``, on its own
    (one refused value leaves the others applied); one message per refused value."""
    names = user_parameters(config)
    errors = []
    for key, text in query.items():
        if key in names:
            errors += _try(set_checked, config, key, text)
    return errors


def _try(fn, *args) -> list[str]:
    try:
        fn(*args)
    except ConfigError as e:
        return [str(e)]
    return []


def query_values(explorer) -> dict[str, str]:
    """What the URL should hold: the explorer's preset, device and seed, then every
    config value that differs from the preset's (JSON text; strings as they are)."""
    out = {"preset": explorer.preset, "device": explorer.device, "seed": str(explorer.seed)}
    presentation = getattr(explorer, "presentation", None)
    if presentation is not None and presentation.switch.value:
        out[PRESENT] = "true"
    base = explorer.experiment_cls.from_preset(explorer.preset).config()
    for key, value in explorer.config.config().items():
        if base.get(key) != value:
            out[key] = value if isinstance(value, str) else json.dumps(value)
    return out


def sync_url(explorer, location) -> list[str]:
    """Apply ``location``'s query to ``explorer``, then keep the URL up to date with
    its state; returns the messages of the refused values."""
    errors = apply_query(explorer, location.search or "")

    owned = {*EXPLORER_KEYS, PRESENT, *user_parameters(explorer.config)}

    def write(*events):
        # keys of other owners of the URL are kept as they are
        others = [(k, v) for k, v in parse_qsl((location.search or "").lstrip("?"),
                                               keep_blank_values=True) if k not in owned]
        search = "?" + urlencode([*query_values(explorer).items(), *others])
        if location.search != search:
            location.search = search

    explorer.param.watch(write, list(EXPLORER_KEYS))
    if getattr(explorer, "presentation", None) is not None:
        explorer.presentation.switch.param.watch(write, "value")
    explorer.config.param.watch(write, list(user_parameters(explorer.config)))
    write()
    return errors
