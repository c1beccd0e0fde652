"""Theories are shared across instances (sessions) of the same config, process-wide."""

from __future__ import annotations

from orthoviz.runtime import experiment
from orthoviz.runtime.registry import get_experiment


def test_equal_configs_share_one_evaluation_and_edits_do_not(monkeypatch):
    cls = get_experiment("neural-collapse")
    calls = []
    original = cls._theory
    monkeypatch.setattr(cls, "_theory", lambda self: calls.append(1) or original(self))
    a, b = cls.from_preset("smoke"), cls.from_preset("smoke")
    assert not b.theory_ready()
    ta = a.theory()
    assert b.theory_ready() and b.theory() is ta and len(calls) == 1
    c = cls.from_preset("smoke", depth=3)  # another config: its own evaluation
    assert c.theory() is not ta and len(calls) == 2


def test_the_shared_table_is_bounded(monkeypatch):
    cls = get_experiment("neural-collapse")
    monkeypatch.setattr(experiment, "SHARED_THEORIES", 2)
    monkeypatch.setattr(cls, "_theory", lambda self: {"depth": self.depth})
    for depth in (1, 2, 3):
        cls.from_preset("smoke", depth=depth).theory()
    keys = [k for k in experiment._SHARED if k[0] is cls and k[1] is cls._theory]
    assert len(experiment._SHARED) <= 2 and len(keys) == 2
    assert not cls.from_preset("smoke", depth=1).theory_ready()  # the oldest left
    assert cls.from_preset("smoke", depth=3).theory_ready()
