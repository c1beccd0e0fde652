"""Parameter parsing and validation messages name the parameter, value and range."""

import pytest

from orthoviz.runtime import ConfigError
from orthoviz.runtime.registry import get_experiment
from orthoviz.runtime.resources import memory_budget

NC = get_experiment("neural-collapse")


@pytest.mark.parametrize("key, text, expected", [
    ("depth", "3", 3), ("depth", "3.0", 3), ("lr", "0.05", 0.05), ("loss", "ce", "ce"),
    ("class_sizes", "200,100,50,50", [200, 100, 50, 50]),
    ("class_sizes", "[5, 4]", [5, 4]), ("layer_decays", "1e-3,2e-3", [1e-3, 2e-3]),
])
def test_strings_parse_to_the_parameter_type(key, text, expected):
    exp = NC().set(**{key: text})
    assert getattr(exp, key) == expected


@pytest.mark.parametrize("key, value, allowed", [
    ("depth", 0, "1 <= depth <= 12"),
    ("depth", "2.5", "integer"),
    ("lr", -1.0, "1e-07 <= lr <= 10"),
    ("loss", "hinge", "one of mse, mse_bias, ce"),
    ("class_sizes", "a,b", "a list of int"),
    ("nonsense", 1, "one of the parameters"),
])
def test_errors_name_parameter_value_and_range(key, value, allowed):
    with pytest.raises(ConfigError) as e:
        NC().set(**{key: value})
    msg = str(e.value)
    assert f"'{key}'" in msg and allowed in msg and repr(value) in msg


def test_cross_parameter_validation():
    with pytest.raises(ConfigError, match="class_sizes"):
        NC(n_classes=3, class_sizes=[10, 10]).validate()
    with pytest.raises(ConfigError, match="layer_decays"):
        NC(depth=3, layer_decays=[1e-3]).validate()
    with pytest.raises(ConfigError, match="loss"):
        NC(class_sizes=[20, 10, 5, 5], loss="mse_bias").validate()


def test_unknown_preset_is_a_config_error():
    with pytest.raises(ConfigError, match="smoke"):
        NC.from_preset("nope")


def test_budget_from_environment(monkeypatch):
    monkeypatch.setenv("ORTHOVIZ_MEMORY_BUDGET_GB", "0.5")
    assert memory_budget("cpu") == 2**29
    monkeypatch.delenv("ORTHOVIZ_MEMORY_BUDGET_GB")
    assert memory_budget("cpu", budget=123) == 123
    assert memory_budget("cpu") > 0


def test_guard_refuses_before_running(monkeypatch):
    from orthoviz.runtime import ResourceError

    monkeypatch.setenv("ORTHOVIZ_MEMORY_BUDGET_GB", "0.001")  # 1 MiB
    exp = NC.from_preset("default")
    with pytest.raises(ResourceError) as e:
        exp.run(seed=0, device="cpu")
    assert "samples_per_class" in str(e.value) or "feature_dim" in str(e.value)


def test_cuda_request_without_cuda_is_a_config_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(ConfigError, match="device"):
        NC.from_preset("smoke").run(seed=0, device="cuda")
