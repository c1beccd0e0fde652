"""The Experiment base class: a ``param`` config with ``run()`` and ``theory()``.

Every algorithm subclasses :class:`Experiment` once. The class *is* the config: its
parameters (typed, bounded, documented) give the widgets, CLI flags, URL state and the
saved ``config.json``. Variants are presets (data), never copied code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, ClassVar

import param

from orthoviz.runtime.device import resolve_device
from orthoviz.runtime.errors import ConfigError, NonFiniteError
from orthoviz.runtime.params import allowed_text, set_checked, user_parameters
from orthoviz.runtime.record import Record
from orthoviz.runtime.resources import check_memory


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

    def run(
        self, seed: int = 0, device: str = "auto", memory_budget: int | None = None
    ) -> Iterator[Record]:
        """Validate now, then return the stream of records.

        Raises ``ConfigError`` / ``ResourceError`` *before* anything runs. During the
        run a non-finite value of a ``finite_metrics`` scalar raises
        :class:`NonFiniteError` and ends the stream.
        """
        if not isinstance(seed, int) or seed < 0:
            raise ConfigError("seed", seed, "an integer >= 0")
        dev = resolve_device(device)
        self.validate()
        check_memory(self, dev, memory_budget)
        return self._checked(seed, dev)

    def _checked(self, seed: int, device: str) -> Iterator[Record]:
        for rec in self._run(seed, device):
            bad = rec.nonfinite(self.finite_metrics)
            if bad is not None:
                raise NonFiniteError(bad, rec.step, self.nonfinite_hint)
            yield rec

    def _run(self, seed: int, device: str) -> Iterator[Record]:
        raise NotImplementedError

    def theory(self) -> dict[str, Any]:
        """Pure prediction for this config, keyed by the run's metric names."""
        return {}
