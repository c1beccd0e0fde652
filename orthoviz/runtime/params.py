"""Helpers over ``param`` parameters: allowed-range text, string parsing, JSON round-trip.

One place turns a parameter's declaration (type, bounds, objects) into the words a
user sees in a CLI error, a widget tooltip or ``orthoviz list``.
"""

from __future__ import annotations

import json
import math
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


def nonfinite(value: Any) -> bool:
    """True when ``value`` holds a NaN or an infinity anywhere (numbers, lists, tuples,
    dicts and arrays, nested)."""
    if isinstance(value, bool | int | str):
        return False
    if isinstance(value, float):
        return not math.isfinite(value)
    if hasattr(value, "dtype"):  # numpy arrays and scalars
        import numpy as np

        arr = np.asarray(value)
        return arr.dtype.kind in "fc" and not np.isfinite(arr).all()
    if isinstance(value, dict):
        return any(nonfinite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(nonfinite(v) for v in value)
    return False


def check_finite(obj) -> None:
    """Raise ConfigError for the first user parameter of ``obj`` that holds a NaN or an
    infinity (inside lists too). Values reach a config from the URL and the widgets
    without :func:`set_checked`; this catches them before a run."""
    for name, p in user_parameters(obj).items():
        value = getattr(obj, name)
        if nonfinite(value):
            raise ConfigError(name, value, allowed_text(p), "values must be finite numbers")


def _as_int(x: Any) -> int:
    """One integer from CLI/URL text or a JSON item: ``12``, ``1e3``; never a bool,
    a fraction, NaN or an infinity (``1e400``)."""
    if isinstance(x, bool) or x is None:
        raise ValueError
    if isinstance(x, int):
        return x
    s = str(x).strip()
    try:
        return int(s)  # exact, also beyond 2**53
    except ValueError:
        pass
    f = float(s)
    if not math.isfinite(f) or f != int(f):
        raise ValueError
    return int(f)


def _as_float(x: Any) -> float:
    if isinstance(x, bool) or x is None or isinstance(x, list | dict):
        raise ValueError
    return float(x)


def parse_value(p: param.Parameter, text: str) -> Any:
    """Convert CLI/URL text to the parameter's type; raise ConfigError if impossible
    (including NaN, infinities and malformed lists).

    A list is JSON (``[1, 2]``) or items separated by commas or semicolons (``1,2``);
    an empty item (``1,,2``, ``1,2,``) is refused, and empty text is the empty list,
    which a list parameter allows only when its bounds do (an empty ``class_sizes``
    or ``layer_decays`` means "not set": the scalar parameters decide)."""
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
            return _as_int(s)
        if isinstance(p, param.Number):
            return _finite(float(s))
        if isinstance(p, param.Selector):
            for o in p.objects:
                if str(o) == s:
                    return o
            raise ValueError
        if isinstance(p, param.List):
            if s.startswith("["):
                items = json.loads(s)
                if not isinstance(items, list):
                    raise ValueError
            elif s:
                items = [x.strip() for x in s.replace(";", ",").split(",")]
                if "" in items:  # "1,,2" or "1,2,": an item is missing
                    raise ValueError
            else:  # "" is the empty list (for class_sizes, layer_decays: "unset")
                items = []
            item = getattr(p, "item_type", None) or getattr(p, "class_", None)
            if item is int:
                return [_as_int(x) for x in items]
            if item is float:
                return [_finite(_as_float(x)) for x in items]
            if nonfinite(items):
                raise ValueError
            return list(items)
    except (ValueError, TypeError, OverflowError, RecursionError, json.JSONDecodeError):
        raise ConfigError(name, text, allowed_text(p)) from None
    return s


def _finite(f: float) -> float:
    if not math.isfinite(f):
        raise ValueError
    return f


def checked_value(obj, name: str, value: Any) -> Any:
    """``value`` as ``obj.name`` would take it (text parsed, ints of float parameters
    made floats), without assigning it; unknown names, NaN or infinite values (in
    lists too) and param's own validation errors raise a ConfigError that names the
    parameter, the value and the allowed range."""
    params = user_parameters(obj)
    if name not in params:
        raise ConfigError(name, value, "one of the parameters " + ", ".join(sorted(params)),
                          "unknown parameter")
    p = params[name]
    if isinstance(value, str) and not isinstance(p, param.String | param.Selector):
        value = parse_value(p, value)
    if nonfinite(value):
        raise ConfigError(name, value, allowed_text(p), "values must be finite numbers")
    if isinstance(p, param.Number) and isinstance(value, int) and not isinstance(
        value, bool
    ) and not isinstance(p, param.Integer):
        value = float(value)
    try:
        p._validate(value)  # param's own checks (type, bounds, list items)
    except (ValueError, TypeError, OverflowError) as e:
        raise ConfigError(name, value, allowed_text(p)) from e
    return value


def set_checked(obj, name: str, value: Any) -> None:
    """Assign ``obj.name = value`` after :func:`checked_value`; errors raised while
    assigning (a watcher's own check) become a ConfigError too."""
    value = checked_value(obj, name, value)
    try:
        setattr(obj, name, value)
    except (ValueError, TypeError, OverflowError) as e:
        raise ConfigError(name, value, allowed_text(user_parameters(obj)[name])) from e


def set_each(obj, values: dict[str, Any]) -> list[ConfigError]:
    """:func:`set_checked` every item (text is parsed as on the command line); a value
    refused leaves its parameter as it was and is returned, the others are applied.
    For values from outside (a URL), where one bad value must not drop the rest."""
    errors = []
    for name, value in values.items():
        try:
            set_checked(obj, name, value)
        except ConfigError as e:
            errors.append(e)
    return errors


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


#: sections of the controls, in order; ``advanced`` is the folded one
SECTIONS = ("data", "model", "optimisation", "run")
#: words spelled out or capitalised in labels
_WORDS = {"lr": "learning rate", "mlp": "MLP", "tf32": "TF32", "dtype": "precision",
          "dcdm": "DCDM", "cg": "CG", "rhs": "right-hand side", "std": "std",
          "init": "init", "dk": "d^k", "val": "validation", "maxiter": "max iterations",
          "tol": "tolerance", "ufm": "UFM", "nc": "NC"}


def param_sections(cls) -> dict[str, list[str]]:
    """Section -> parameter names of an experiment (class or instance): its declared
    :data:`SECTIONS` (empty ones left out), then ``advanced``. A user parameter that no
    section names is put under ``advanced``, so the controls never lose one."""
    params = user_parameters(cls)
    out, seen = {}, set()
    for s in SECTIONS:
        names = [n for n in getattr(cls, "groups", {}).get(s, ()) if n in params]
        if names:
            out[s] = names
            seen.update(names)
    adv = [n for n in getattr(cls, "advanced", ()) if n in params and n not in seen]
    adv += [n for n in params if n not in seen and n not in adv]
    if adv:
        out["advanced"] = adv
    return out


def param_label(cls, name: str) -> str:
    """Readable label of a parameter: the class's ``labels`` entry, else its words
    with abbreviations spelled out (``mlp_width`` -> "MLP width", ``lr`` ->
    "Learning rate"); one-letter names (``d``, ``k``, ``n``) stay symbols."""
    given = getattr(cls, "labels", {}).get(name)
    if given:
        return given
    if len(name) == 1:
        return name
    words = [_WORDS.get(w, w) for w in name.split("_")]
    text = " ".join(words)
    return text[0].upper() + text[1:]


def condition_holds(obj, cond) -> bool:
    """Whether ``obj``'s values meet an ``Experiment.when`` condition: a dict
    {parameter: allowed values} (every entry holds) or a list of dicts (any holds)."""
    if isinstance(cond, list):
        return any(condition_holds(obj, c) for c in cond)
    for dep, allowed in cond.items():
        value = getattr(obj, dep)
        if isinstance(value, list | tuple):
            if not any(v in allowed for v in value):
                return False
        elif value not in allowed:
            return False
    return True


def deciding_parameters(cls) -> list[str]:
    """The parameters that some ``when`` condition reads (their changes re-decide
    which controls apply)."""
    out: list[str] = []
    for cond in getattr(cls, "when", {}).values():
        for c in cond if isinstance(cond, list) else [cond]:
            out += [d for d in c if d not in out]
    return out
