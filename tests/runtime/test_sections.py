"""The controls' sections, labels and applicability are declared by each experiment
(data, not UI): every user parameter sits in exactly one section, and every ``when``
condition names real parameters and values they can take."""

from __future__ import annotations

import param
import pytest

from orthoviz.runtime import get_experiment, list_experiments
from orthoviz.runtime.params import (
    SECTIONS,
    condition_holds,
    deciding_parameters,
    param_label,
    param_sections,
    user_parameters,
)

EXPERIMENTS = list_experiments()


@pytest.mark.parametrize("key", EXPERIMENTS)
def test_every_user_parameter_is_in_exactly_one_section(key):
    cls = get_experiment(key)
    declared = [n for s in SECTIONS for n in cls.groups.get(s, ())] + list(cls.advanced)
    assert set(cls.groups) <= set(SECTIONS), "unknown section names"
    params = user_parameters(cls)
    odd = sorted(n for n in declared if declared.count(n) > 1 or n not in params)
    assert sorted(declared) == sorted(params), (
        f"missing: {sorted(set(params) - set(declared))}, unknown or repeated: {odd}")
    shown = [n for names in param_sections(cls).values() for n in names]
    assert sorted(shown) == sorted(user_parameters(cls))


@pytest.mark.parametrize("key", EXPERIMENTS)
def test_when_conditions_name_parameters_and_reachable_values(key):
    cls = get_experiment(key)
    params = user_parameters(cls)
    for name, cond in cls.when.items():
        assert name in params
        for c in cond if isinstance(cond, list) else [cond]:
            for dep, allowed in c.items():
                assert dep in params and dep != name
                p = params[dep]
                if isinstance(p, param.Selector):
                    assert set(allowed) <= set(p.objects), (name, dep, allowed)
    assert set(deciding_parameters(cls)) <= set(params)


@pytest.mark.parametrize("key", EXPERIMENTS)
def test_labels_are_words_not_identifiers(key):
    cls = get_experiment(key)
    for name in user_parameters(cls):
        text = param_label(cls, name)
        if name in cls.labels:  # written by hand (may start with a symbol: "n / d^k")
            assert text == cls.labels[name]
            continue
        assert "_" not in text, text
        assert text[0].isupper() or len(name) == 1, text


def test_applies_follows_the_deciding_value():
    nc = get_experiment("neural-collapse")()
    assert not nc.applies("mlp_width") and nc.applies("lr")
    nc.backbone = "mlp"
    assert nc.applies("mlp_width") and nc.applies("mlp_layers")
    assert not nc.applies("data_dir")  # gaussian inputs read no folder
    nc.dataset = "cifar10"
    assert nc.applies("data_dir")
    h = get_experiment("hierarchical")()
    h.models = ["three_layer", "kernel"]  # layerwise: no Adam anywhere
    assert not h.applies("lr") and h.applies("ridge1") and h.applies("kernel_ridges")
    h.training = "joint"
    assert h.applies("lr") and not h.applies("ridge1")
    assert condition_holds(h, [{"training": ("layerwise",)}, {"models": ("kernel",)}])
    assert not condition_holds(h, {"models": ("two_layer",)})
