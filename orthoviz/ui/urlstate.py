"""The explorer's state in the URL (``?depth=2&lr=0.05&seed=3``), read as the command
line's ``--set`` reads its values.

Panel's ``Location.sync`` applies all query values in one update: one bad value drops
the good ones with it, some bad ones pass (``[NaN]`` parses to a list), and a value
its own parser cannot read (a 5000-digit number) raises in the session's constructor.
So the query is read here, item by item, with :func:`set_each` (each time the page
sends it, also at connection): values refused are reported by parameter name and
removed from the URL; changed parameters are written back into it.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable

from panel.util import parse_query

from orthoviz.runtime.errors import ConfigError, shown
from orthoviz.runtime.params import allowed_text, set_each, user_parameters


def read_query(search: str, targets: list[tuple[object, list[str]]]
               ) -> tuple[list[ConfigError], str]:
    """Apply the values of ``search`` (``"?a=1&b=2"``) to the parameters named in
    ``targets`` ((object, names) pairs); returns (the values refused, the query to keep:
    ``search`` without them and without items Panel's parser cannot read)."""
    items = urllib.parse.parse_qsl(search.lstrip("?"), keep_blank_values=True)
    errors: list[ConfigError] = []
    keep = []
    for key, text in items:
        owner = next((obj for obj, names in targets if key in names), None)
        try:
            parse_query("?" + urllib.parse.urlencode({key: text}))
        except Exception:  # noqa: BLE001 - Panel's parser would raise it at sync
            allowed = allowed_text(owner.param[key]) if owner is not None else "no such parameter"
            errors.append(ConfigError(key, text, allowed, "the URL parser cannot read it"))
            continue
        if owner is not None:
            bad = set_each(owner, {key: text})
            if bad:
                errors += bad
                continue
        keep.append((key, text))
    return errors, "?" + urllib.parse.urlencode(keep) if keep else ""


def sync_url(location, targets: list[tuple[object, list[str]]],
             report: Callable[[list[ConfigError]], None]) -> None:
    """Keep ``targets``' parameters and ``location``'s query in step, both ways.

    Every query the page sends (at connection, the browser sends the URL it was opened
    with) is read with :func:`read_query`; refused values go to ``report`` and out of
    the URL. A parameter that changes is written into the query (as Panel's
    ``Location.sync`` does; that one is not used, since it applies a query in one
    update and accepts ``[NaN]``)."""
    busy = [False]

    def read(*_):
        if busy[0]:
            return
        busy[0] = True
        try:
            errors, kept = read_query(location.search or "", targets)
            if errors:
                location.search = kept
                report(errors)
        finally:
            busy[0] = False

    def write(*events, everything=False):
        if busy[0]:
            return
        pairs = [(obj, n) for obj, names in targets for n in names] if everything else \
            [(e.obj, e.name) for e in events]
        query = {n: _serialized(obj, n) for obj, n in pairs}
        busy[0] = True
        try:
            location.update_query(**query)
        finally:
            busy[0] = False

    read()
    write(everything=True)  # the whole config in the URL: a link that reproduces it
    for obj, names in targets:
        obj.param.watch(write, names)
    location.param.watch(read, ["search"])


def _serialized(obj, name: str) -> str:
    value = obj.param[name].serialize(getattr(obj, name))
    return value if isinstance(value, str) else json.dumps(value)


def url_message(errors: list[ConfigError]) -> str:
    """One line for the status: each refused value with its parameter."""
    return "ignored from the URL: " + "; ".join(
        f"'{e.parameter}' = {shown(e.value)} (allowed: {e.allowed})" for e in errors)


class UrlStateMixin:
    """The explorer's ``_sync_url`` (seed and config from the URL and back)."""

    def _sync_url(self, location) -> None:
        names = list(user_parameters(self.config))
        sync_url(location, [(self, ["seed"]), (self.config, names)], self._url_error)

    def _url_error(self, errors: list[ConfigError]) -> None:
        if errors:
            self._set_status("idle", url_message(errors))
