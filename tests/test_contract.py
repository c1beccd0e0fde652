"""The run protocol, checked for every registered experiment (scikit-learn's common
checks idea): a new algorithm package is covered the moment it registers."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest

# torch.optim imports torch._dynamo on first use (2-12 s on a loaded 2-core machine),
# which would land in the smoke budget of whichever run happens to be first
import torch._dynamo  # noqa: F401

from orthoviz.runtime import Experiment, list_experiments
from orthoviz.runtime.registry import get_experiment

NAMES = list_experiments()

# The smoke preset exists for CI, notebooks and the UI tests: it must finish in a few
# seconds on a 2-core machine (5 s leaves room for a loaded CI box).
SMOKE_BUDGET_S = 5.0


def _smoke(name: str) -> Experiment:
    return get_experiment(name).from_preset("smoke")


def test_registry_has_the_first_algorithms():
    assert {"neural-collapse", "random-features"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_stream_ends_in_one_final_record_with_finite_scalars(name):
    t0 = time.perf_counter()
    records = list(_smoke(name).run(seed=0, device="cpu"))
    elapsed = time.perf_counter() - t0
    assert records, "no records"
    assert records[-1].phase == "final"
    assert sum(r.phase == "final" for r in records) == 1
    steps = [r.step for r in records]
    assert steps == sorted(steps), "steps must be non-decreasing"
    for r in records:
        for k, v in r.scalars.items():
            assert isinstance(v, float) and math.isfinite(v), (r.step, k, v)
    assert records[-1].step == _smoke(name).total_steps()
    assert elapsed < SMOKE_BUDGET_S, f"smoke preset took {elapsed:.1f} s"


def _untimed(records, cls):
    """Scalars without the wall-clock measurements an experiment declares in
    ``timing_metrics`` (names, or suffixes such as ``wall_s``): those are the machine's,
    not the seed's."""
    timing = tuple(getattr(cls, "timing_metrics", ()))
    return [{k: v for k, v in r.scalars.items() if not k.endswith(timing) or not timing}
            for r in records]


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_per_seed(name):
    cls = get_experiment(name)
    a = list(_smoke(name).run(seed=3, device="cpu"))
    b = list(_smoke(name).run(seed=3, device="cpu"))
    c = list(_smoke(name).run(seed=4, device="cpu"))
    assert _untimed(a, cls) == _untimed(b, cls)
    assert _untimed(a, cls) != _untimed(c, cls)


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trips_through_json(name):
    cls = get_experiment(name)
    for preset in cls.presets:
        exp = cls.from_preset(preset)
        text = json.dumps(exp.config())
        again = cls.from_config(json.loads(text))
        assert again.config() == exp.config(), preset


@pytest.mark.parametrize("name", NAMES)
def test_theory_keys_are_run_keys(name):
    """Every prediction names something the run measures: a scalar metric (a value or
    a curve over a coordinate) or an array. A measured array must not be a copy of the
    prediction (the run would then agree with theory by construction); ``context``
    holds what panes draw beside the run and predicts nothing."""
    exp = _smoke(name)
    records = list(exp.run(seed=0, device="cpu"))
    theory = exp.theory()
    scalars = {k for r in records for k in r.scalars}
    arrays = {}
    for r in records:
        arrays.update(r.arrays or {})
    coords = set(get_experiment(name).coords)
    for k, v in theory.items():
        if k == "context":
            assert isinstance(v, dict)
        elif isinstance(v, dict):  # a curve: columns of the x coordinate, by, metric
            assert k in scalars, f"theory curve {k!r} is not a run metric"
            assert k in v and set(v) - {k} <= coords, (k, sorted(v))
            lengths = {len(np.asarray(c)) for c in v.values()}
            assert len(lengths) == 1, f"theory curve {k!r} has ragged columns"
        elif isinstance(v, np.ndarray) and v.ndim > 0:
            assert k in arrays, f"theory array {k!r} has no measured counterpart"
            assert arrays[k] is not v and not (
                np.shape(arrays[k]) == v.shape and np.array_equal(arrays[k], v)
            ), f"the run's {k!r} is a copy of the theory"
        else:
            assert k in scalars, f"theory scalar {k!r} is not a run metric"


@pytest.mark.parametrize("name", NAMES)
def test_coordinates_are_declared_and_never_scalars(name):
    cls = get_experiment(name)
    records = list(_smoke(name).run(seed=0, device="cpu"))
    for r in records:
        assert set(r.coords) <= set(cls.coords), (r.step, r.coords)
        assert not set(r.coords) & set(r.scalars), (r.step, r.coords)
        for v in r.coords.values():
            assert isinstance(v, int | float | str) and not isinstance(v, bool)


@pytest.mark.parametrize("name", NAMES)
def test_theory_is_computed_once_per_config(name, monkeypatch):
    cls = get_experiment(name)
    exp = _smoke(name)
    calls = []
    original = cls._theory
    monkeypatch.setattr(cls, "_theory", lambda self: calls.append(1) or original(self))
    list(exp.run(seed=0, device="cpu"))
    exp.theory()
    assert len(calls) <= 1


@pytest.mark.parametrize("name", NAMES)
def test_presets_are_valid_configs(name):
    cls = get_experiment(name)
    assert {"smoke", "default"} <= set(cls.presets)
    for preset in cls.presets:
        cls.from_preset(preset).validate()


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_is_documented_and_bounded(name):
    import param

    cls = get_experiment(name)
    for pname, p in cls.param.objects(instance=False).items():
        if pname == "name":
            continue
        assert (p.doc or "").strip(), f"{pname} has no doc"
        if isinstance(p, param.Number):
            assert p.bounds is not None and None not in p.bounds, f"{pname} unbounded"


def test_cli_run_computes_the_theory_once(tmp_path, monkeypatch):
    """``orthoviz run random-features --preset smoke`` (stream, run folder, summary and
    the JSON line) evaluates the theory exactly once."""
    from orthoviz.cli import main

    cls = get_experiment("random-features")
    calls = []
    original = cls._theory
    monkeypatch.setattr(cls, "_theory", lambda self: calls.append(1) or original(self))
    assert main(["run", "random-features", "--preset", "smoke", "--out", str(tmp_path),
                 "--json"]) == 0
    assert len(calls) == 1
