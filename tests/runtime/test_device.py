"""Device resolution and the TF32 lease, on any machine: ``torch.cuda`` is monkeypatched
to pretend GPUs exist (the real checks on CUDA are ``tests/test_gpu.py``)."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from orthoviz.neural_collapse import NeuralCollapse
from orthoviz.runtime import ConfigError
from orthoviz.runtime.device import (
    GPU_MIN_ELEMENTS,
    _cublas_tf32,
    matmul_precision,
    resolve_device,
)


@pytest.fixture
def gpus(monkeypatch):
    """Pretend ``n`` CUDA devices with 80 GiB free each; returns the setter."""
    monkeypatch.delenv("ORTHOVIZ_DEVICE", raising=False)

    def set_count(n: int):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: n)
        monkeypatch.setattr(torch.cuda, "mem_get_info", lambda dev=None: (80 << 30, 80 << 30))

    return set_count


def test_auto_keeps_small_problems_on_the_cpu(gpus):
    gpus(1)
    assert resolve_device("auto", GPU_MIN_ELEMENTS) == "cuda"
    assert resolve_device("auto", GPU_MIN_ELEMENTS - 1) == "cpu"
    assert resolve_device("auto", 0) == "cuda"  # unknown size: the GPU
    # the experiments' own sizes: the paper's E1 (N=400, d=64, M=3) is launch-bound on a
    # GPU, gpu_large (N=5000, d=512, M=3: 7.7M elements) is not
    assert NeuralCollapse.from_preset("balanced_E1").check(device="auto") == "cpu"
    assert NeuralCollapse.from_preset("gpu_large").check(device="auto") == "cuda"
    gpus(0)
    assert NeuralCollapse.from_preset("gpu_large").check(device="auto") == "cpu"


def test_environment_overrides_auto(gpus, monkeypatch):
    gpus(1)
    monkeypatch.setenv("ORTHOVIZ_DEVICE", "cpu")
    assert resolve_device("auto", 10 * GPU_MIN_ELEMENTS) == "cpu"


def test_cuda_index_is_checked_against_the_devices_present(gpus):
    gpus(2)
    assert resolve_device("cuda:1") == "cuda:1" and resolve_device("cuda") == "cuda"
    for bad in ("cuda:2", "cuda:17", "cuda:x", "cuda:-1"):
        with pytest.raises(ConfigError, match=f"'{bad}'") as err:
            resolve_device(bad)
        assert err.value.parameter == "device" and "cuda:0, cuda:1" in str(err.value)
    with pytest.raises(ConfigError, match="'cuda:2'"):
        NeuralCollapse.from_preset("smoke").check(device="cuda:2")
    gpus(0)
    with pytest.raises(ConfigError, match="no CUDA device"):
        resolve_device("cuda:0")
    with pytest.raises(ConfigError, match="'tpu'"):
        resolve_device("tpu")


def test_tf32_needs_float32():
    with pytest.raises(ConfigError, match="tf32"):
        NeuralCollapse.from_preset("gpu_large", dtype="float64").validate()
    NeuralCollapse.from_preset("gpu_large").validate()


def _tf32_on() -> bool:
    name, value = _cublas_tf32()
    return value == "tf32" if name == "fp32_precision" else bool(value)


def test_tf32_lease_is_held_per_block_and_restored():
    before = _cublas_tf32()
    with matmul_precision("cuda", torch.float32, tf32=True):
        assert _tf32_on()
        with matmul_precision("cuda:0", torch.float32, tf32=True):  # same mode: shared
            assert _tf32_on()
        assert _tf32_on()
    assert _cublas_tf32() == before
    with matmul_precision("cuda", torch.float32, tf32=False):
        assert not _tf32_on()
    assert _cublas_tf32() == before
    for device, dtype in (("cpu", torch.float32), ("cuda", torch.float64)):
        with matmul_precision(device, dtype, tf32=True):  # nothing to change
            assert _cublas_tf32() == before


def test_a_block_wanting_the_other_mode_waits():
    before, seen = _cublas_tf32(), []

    def ieee_block():
        with matmul_precision("cuda", torch.float32, tf32=False):
            seen.append(("ieee", _tf32_on()))

    with matmul_precision("cuda", torch.float32, tf32=True):
        t = threading.Thread(target=ieee_block)
        t.start()
        time.sleep(0.2)  # the other thread is waiting, not running under TF32
        assert seen == [] and t.is_alive()
        seen.append(("tf32", _tf32_on()))
    t.join(5)
    assert not t.is_alive()
    assert seen == [("tf32", True), ("ieee", False)]
    assert _cublas_tf32() == before
