"""Registry of experiments by name.

Algorithm packages register their :class:`Experiment` subclass with ``@register``.
Discovery imports every subpackage of ``orthoviz`` except the platform ones, so a new
algorithm package plugs in by existing; packages outside orthoviz can use the
``orthoviz.experiments`` entry-point group.
"""

from __future__ import annotations

import importlib
import pkgutil

from orthoviz.runtime.errors import ConfigError

_PLATFORM = {"runtime", "ui", "viz", "cli"}
_REGISTRY: dict[str, type] = {}  # name -> Experiment subclass; filled by imports only
_discovered = False


def register(cls: type) -> type:
    """Class decorator: make ``cls`` available as ``get_experiment(cls.key)``."""
    if not cls.key:
        raise ValueError(f"{cls.__name__} has no 'key'")
    for p in ("smoke", "default"):
        if p not in cls.presets:
            raise ValueError(f"{cls.__name__} lacks the '{p}' preset")
    _REGISTRY[cls.key] = cls
    return cls


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    import orthoviz

    for mod in pkgutil.iter_modules(orthoviz.__path__):
        if mod.ispkg and mod.name not in _PLATFORM:
            importlib.import_module(f"orthoviz.{mod.name}")
    try:
        from importlib.metadata import entry_points

        for ep in entry_points(group="orthoviz.experiments"):
            ep.load()
    except Exception:  # a broken third-party plug-in must not break orthoviz
        pass
    _discovered = True


def list_experiments() -> list[str]:
    """Registered experiment names, sorted."""
    _discover()
    return sorted(_REGISTRY)


def get_experiment(name: str) -> type:
    """The Experiment subclass registered as ``name``."""
    _discover()
    if name not in _REGISTRY:
        raise ConfigError("experiment", name, "one of " + ", ".join(sorted(_REGISTRY)))
    return _REGISTRY[name]
