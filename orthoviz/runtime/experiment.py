"""The Experiment base class: a ``param`` config with ``run()`` and ``theory()``.

Every algorithm subclasses :class:`Experiment` once. The class *is* the config: its
parameters (typed, bounded, documented) give the widgets, CLI flags, URL state and the
saved ``config.json``. Variants are presets (data), never copied code.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, ClassVar

import param

from orthoviz.runtime.device import resolve_device
from orthoviz.runtime.errors import ConfigError, NonFiniteError, RunOutOfMemory, out_of_memory
from orthoviz.runtime.params import allowed_text, check_finite, set_checked, user_parameters
from orthoviz.runtime.record import FAILED, Record
from orthoviz.runtime.resources import check_memory
from orthoviz.runtime.threads import thread_budget

_THEORY_LOCK = threading.Lock()
#: theories shared by every instance in the process, most recent last: a theory is a
#: pure function of the config, so thirty sessions of a class opening the same preset
#: compute it once. Small: a theory is at most a few arrays of the views' size.
_SHARED: OrderedDict[tuple, dict] = OrderedDict()
SHARED_THEORIES = 32


class Experiment(param.Parameterized):
    """Base class of every registered experiment.

    Subclasses set ``key`` (registry name), ``title``, ``presets`` (must contain
    ``smoke`` and ``default``) and implement :meth:`_run` (a generator of
    :class:`Record` ending in one ``phase="final"`` record) and :meth:`theory`.
    """

    key: ClassVar[str] = ""
    title: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    presets: ClassVar[dict[str, dict[str, Any]]] = {"smoke": {}, "default": {}}
    #: scalars that must stay finite; a NaN/inf stops the run with ``nonfinite_hint``
    finite_metrics: ClassVar[tuple[str, ...]] = ("loss",)
    nonfinite_hint: ClassVar[str] = "lower the learning rate"
    #: every coordinate name the records may carry (``n``, ``trial``, ``solver``, ...)
    coords: ClassVar[tuple[str, ...]] = ()
    #: sections of the controls (data, not UI): section -> parameter names, in order;
    #: every user parameter is in exactly one section or in ``advanced`` (a contract test)
    groups: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: internals (precision, recording cadence): shown under a collapsed fold
    advanced: ClassVar[tuple[str, ...]] = ()
    #: parameters that apply only under some settings: name -> {deciding parameter:
    #: values} (all must hold; a list-valued deciding parameter holds when it contains
    #: one of the values), or a list of such dicts (any may hold). See :meth:`applies`.
    when: ClassVar[dict[str, Any]] = {}
    #: labels where the parameter's name reads badly ("lr" -> "Learning rate")
    labels: ClassVar[dict[str, str]] = {}
    #: preset -> measured seconds of a full run on the CPU of ``preset_machine``
    preset_seconds: ClassVar[dict[str, float]] = {}
    preset_machine: ClassVar[str] = ""

    # -- construction -----------------------------------------------------------
    @classmethod
    def from_preset(cls, preset: str = "default", **overrides: Any) -> Experiment:
        """An instance with a named preset's values, then ``overrides``, applied."""
        if preset not in cls.presets:
            raise ConfigError("preset", preset, "one of " + ", ".join(cls.presets))
        exp = cls()
        for k, v in {**cls.presets[preset], **overrides}.items():
            set_checked(exp, k, v)
        return exp

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Experiment:
        """Inverse of :meth:`config`; unknown or invalid keys raise ConfigError."""
        exp = cls()
        text = json.dumps({k: v for k, v in config.items() if k != "name"})
        known = user_parameters(cls)
        unknown = sorted(set(json.loads(text)) - set(known))
        if unknown:
            set_checked(exp, unknown[0], config[unknown[0]])  # raises with the message
        values = cls.param.deserialize_parameters(text)
        for k, v in values.items():
            set_checked(exp, k, v)
        return exp

    def config(self) -> dict[str, Any]:
        """JSON-ready parameter values (``param.serialize_parameters``)."""
        names = list(user_parameters(self))
        return json.loads(self.param.serialize_parameters(subset=names))

    def set(self, **values: Any) -> Experiment:
        """Assign several parameters with validation (strings are parsed); returns self."""
        for k, v in values.items():
            set_checked(self, k, v)
        return self

    @classmethod
    def describe(cls) -> list[dict[str, Any]]:
        """Parameters with default, allowed range and doc (for ``orthoviz list``)."""
        out = []
        for name, p in user_parameters(cls).items():
            out.append(
                {"name": name, "default": p.default, "allowed": allowed_text(p),
                 "doc": (p.doc or "").strip()}
            )
        return out

    def applies(self, name: str) -> bool:
        """Whether parameter ``name`` has an effect under the current values (the MLP
        settings do not under the UFM backbone); :attr:`when` declares it."""
        from orthoviz.runtime.params import condition_holds

        cond = self.when.get(name)
        return cond is None or condition_holds(self, cond)

    # -- the protocol -------------------------------------------------------------
    def validate(self) -> None:
        """Cross-parameter checks; raise :class:`ConfigError`. Single-parameter
        invariants are the parameters' bounds and are enforced by param."""

    def total_steps(self) -> int:
        """The ``step`` value of the final record, for progress bars."""
        return 1

    def estimate_memory(self, device: str) -> tuple[int, str]:
        """(bytes the run needs on ``device``, the parameter that drives it)."""
        return 0, ""

    def check(self, seed: int = 0, device: str = "auto",
              memory_budget: int | None = None) -> str:
        """Validate the config, the seed, the device and the memory estimate without
        starting anything; returns the concrete device. Raises ``ConfigError`` /
        ``ResourceError`` with a message that says what to change."""
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ConfigError("seed", seed, "an integer >= 0")
        dev = resolve_device(device, self.problem_size())
        check_finite(self)  # values from a URL or a widget bypass set_checked
        self.validate()
        check_memory(self, dev, memory_budget)
        return dev

    def problem_size(self) -> int:
        """Elements of the largest operand (for ``auto``: small problems stay on the
        CPU, where a GPU would be launch-bound). 0 means unknown."""
        return 0

    def run(
        self, seed: int = 0, device: str = "auto", memory_budget: int | None = None
    ) -> Iterator[Record]:
        """Validate now, then return the stream of records.

        Raises ``ConfigError`` / ``ResourceError`` *before* anything runs. During the
        run a non-finite value of a ``finite_metrics`` scalar in a record that belongs
        to no failed stream raises :class:`NonFiniteError`, and running out of device
        memory :class:`RunOutOfMemory` naming the parameter to lower; both end the run.
        """
        dev = self.check(seed, device, memory_budget)
        return self._checked(seed, dev)

    def _checked(self, seed: int, device: str) -> Iterator[Record]:
        # the thread lease is held while the stream lives (paused runs included)
        step = 0
        with thread_budget(self.problem_size(), device):
            try:
                for rec in self._run(seed, device):
                    step = rec.step
                    bad = rec.nonfinite(self.finite_metrics)
                    if bad is not None and rec.phase != FAILED:
                        raise NonFiniteError(bad, rec.step, self.nonfinite_hint)
                    yield rec
            except Exception as e:
                if not out_of_memory(e):
                    raise
                needed, parameter = self.estimate_memory(device)
                raise RunOutOfMemory(device, step, parameter, needed) from e

    def _run(self, seed: int, device: str) -> Iterator[Record]:
        raise NotImplementedError

    # -- theory, computed once per config ---------------------------------------------
    def theory(self) -> dict[str, Any]:
        """Pure prediction for this config, keyed by the run's metric names.

        Computed by :meth:`_theory` once per config and cached on the instance (a run,
        its views and its summary all share one evaluation) and in a small process-wide
        table (sessions opening the same config share it; treat it as read-only). The
        cache key is the serialized config, so editing a parameter invalidates it.
        """
        key = json.dumps(self.config(), sort_keys=True)
        shared_key = self._shared_key(key)
        with _THEORY_LOCK:
            cached = self.__dict__.get("_theory_cache")
            if cached is not None and cached[0] == key:
                return cached[1]
            value = _SHARED.get(shared_key)
            if value is not None:
                _SHARED.move_to_end(shared_key)
                self.__dict__["_theory_cache"] = (key, value)
                return value
        value = self._theory()
        with _THEORY_LOCK:
            self.__dict__["_theory_cache"] = (key, value)
            _SHARED[shared_key] = value
            while len(_SHARED) > SHARED_THEORIES:
                _SHARED.popitem(last=False)
        return value

    def theory_ready(self) -> bool:
        """True when :meth:`theory` would return at once (cached for this config)."""
        key = json.dumps(self.config(), sort_keys=True)
        cached = self.__dict__.get("_theory_cache")
        if cached is not None and cached[0] == key:
            return True
        with _THEORY_LOCK:
            return self._shared_key(key) in _SHARED

    def _shared_key(self, config_key: str) -> tuple:
        """The process-wide table's key: the class, its ``_theory`` implementation
        (a replaced one computes afresh) and the serialized config."""
        return type(self), type(self)._theory, config_key

    def share_theory(self, other: Experiment) -> bool:
        """Take ``other``'s cached theory when both configs are equal (a run's snapshot
        of the explorer's config need not compute it again). True when taken."""
        cached = other.__dict__.get("_theory_cache")
        key = json.dumps(self.config(), sort_keys=True)
        if type(other) is type(self) and cached is not None and cached[0] == key:
            self.__dict__["_theory_cache"] = cached
            return True
        return False

    def _theory(self) -> dict[str, Any]:
        """The prediction itself; subclasses override this, not :meth:`theory`."""
        return {}
