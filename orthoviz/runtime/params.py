"""Helpers over ``param`` parameters: allowed-range text, string parsing, JSON round-trip.

One place turns a parameter's declaration (type, bounds, objects) into the words a
user sees in a CLI error, a widget tooltip or ``orthoviz list``.
"""

from __future__ import annotations

import json
from typing import Any

import param

from orthoviz.runtime.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def user_parameters(obj) -> dict[str, param.Parameter]:
    """The configurable parameters of a Parameterized class or instance (not ``name``)."""
    objs = obj.param.objects(instance=False) if isinstance(obj, type) else obj.param.objects()
    return {k: p for k, p in objs.items() if k != "name" and not p.constant}


def allowed_text(p: param.Parameter) -> str:
    """Human-readable allowed range of a parameter, e.g. ``1 <= depth <= 12``."""
    if isinstance(p, param.Boolean):
        return "true or false"
    if isinstance(p, param.Selector):
        return "one of " + ", ".join(str(o) for o in p.objects)
    if isinstance(p, param.Number):
        kind = "integer" if isinstance(p, param.Integer) else "number"
        lo, hi = p.bounds if p.bounds else (None, None)
        inc_lo, inc_hi = getattr(p, "inclusive_bounds", (True, True))
        if lo is None and hi is None:
            return f"any {kind}"
        parts = []
        if lo is not None:
            parts.append(f"{lo:g} {'<=' if inc_lo else '<'} ")
        parts.append(p.name)
        if hi is not None:
            parts.append(f" {'<=' if inc_hi else '<'} {hi:g}")
        return f"{kind}, " + "".join(parts)
    if isinstance(p, param.List):
        item = getattr(p, "item_type", None) or getattr(p, "class_", None)
        lo, hi = p.bounds if p.bounds else (0, None)
        n = f"{lo or 0}..{hi if hi is not None else 'any'} items"
        return f"a list of {item.__name__ if item else 'values'} ({n})"
    if isinstance(p, param.String):
        return "text"
    return type(p).__name__


def parse_value(p: param.Parameter, text: str) -> Any:
    """Convert CLI/URL text to the parameter's type; raise ConfigError if impossible."""
    name = p.name
    s = text.strip()
    try:
        if isinstance(p, param.Boolean):
            if s.lower() in _TRUE:
                return True
            if s.lower() in _FALSE:
                return False
            raise ValueError
        if isinstance(p, param.Integer):
            v = float(s)
            if v != int(v):
                raise ValueError
            return int(v)
        if isinstance(p, param.Number):
            return float(s)
        if isinstance(p, param.Selector):
            for o in p.objects:
                if str(o) == s:
                    return o
            raise ValueError
        if isinstance(p, param.List):
            if s.startswith("["):
                items = json.loads(s)
            else:
                items = [x for x in s.replace(";", ",").split(",") if x.strip()]
            item = getattr(p, "item_type", None) or getattr(p, "class_", None)
            if item is int:
                out = []
                for x in items:
                    fx = float(x)
                    if fx != int(fx):
                        raise ValueError
                    out.append(int(fx))
                return out
            if item is float:
                return [float(x) for x in items]
            return list(items)
    except (ValueError, TypeError, json.JSONDecodeError):
        raise ConfigError(name, text, allowed_text(p)) from None
    return s


def set_checked(obj, name: str, value: Any) -> None:
    """Assign ``obj.name = value``; unknown names and param's own validation errors
    become a ConfigError that names the parameter, the value and the allowed range."""
    params = user_parameters(obj)
    if name not in params:
        raise ConfigError(name, value, "one of the parameters " + ", ".join(sorted(params)),
                          "unknown parameter")
    p = params[name]
    if isinstance(value, str) and not isinstance(p, param.String | param.Selector):
        value = parse_value(p, value)
    if isinstance(p, param.Number) and isinstance(value, int) and not isinstance(
        value, bool
    ) and not isinstance(p, param.Integer):
        value = float(value)
    try:
        setattr(obj, name, value)
    except (ValueError, TypeError) as e:
        raise ConfigError(name, value, allowed_text(p)) from e


def to_jsonable(value: Any) -> Any:
    """Arrays and numpy scalars to plain JSON types (recursively)."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    return value
