"""GPU checks (marker ``gpu``; skipped without CUDA): ``auto`` places runs by size, a
missing ``cuda:N`` is refused, CUDA agrees with the CPU for the same seed, training
steps never wait for the device, and TF32 is held only where a run asked for it.

The CPU-side logic of the same rules is tested everywhere by ``tests/runtime/
test_device.py`` (``torch.cuda`` monkeypatched) and ``tests/neural_collapse/
test_transfer.py`` (what a record reads back).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from orthoviz.neural_collapse import NeuralCollapse
from orthoviz.neural_collapse.train import Problem
from orthoviz.runtime import ConfigError
from orthoviz.runtime.device import _cublas_tf32, resolve_device
from orthoviz.runtime.registry import get_experiment, list_experiments

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]


def test_auto_picks_cuda_for_a_large_problem_and_the_cpu_for_a_small_one():
    large = NeuralCollapse.from_preset("gpu_large", steps=2, record_every=1)
    assert large.check(device="auto") == "cuda"
    assert NeuralCollapse.from_preset("balanced_E1").check(device="auto") == "cpu"
    torch.cuda.reset_peak_memory_stats()
    final = list(large.run(seed=0, device="auto"))[-1]
    assert final.phase == "final"
    N, d = sum(large.sizes()), large.feature_dim
    assert torch.cuda.max_memory_allocated() >= N * d * 4  # the features lived there


def test_cuda_index_beyond_the_count_is_refused():
    n = torch.cuda.device_count()
    assert resolve_device(f"cuda:{n - 1}") == f"cuda:{n - 1}"
    with pytest.raises(ConfigError, match=f"'cuda:{n}'") as err:
        NeuralCollapse.from_preset("smoke").run(seed=0, device=f"cuda:{n}")
    assert err.value.parameter == "device"


@pytest.mark.parametrize("name", list_experiments())
def test_smoke_preset_runs_on_cuda(name):
    final = list(get_experiment(name).from_preset("smoke").run(seed=0, device="cuda"))[-1]
    assert final.phase == "final"


def _close(a: float, b: float, rel: float, floor: float) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b)) + floor


def _assert_records_agree(cpu, gpu, rel: float, floor: float):
    assert [r.step for r in cpu] == [r.step for r in gpu]
    for a, b in zip(cpu, gpu):
        assert a.coords == b.coords and set(a.scalars) == set(b.scalars)
        bad = {k: (a.scalars[k], b.scalars[k]) for k in a.scalars
               if not _close(a.scalars[k], b.scalars[k], rel, floor)}
        assert not bad, (a.step, bad)
        for k, v in (a.arrays or {}).items():
            np.testing.assert_allclose(b.arrays[k], v, rtol=rel, atol=floor, err_msg=k)


def test_neural_collapse_cuda_matches_cpu_in_float64():
    # The paper's E1 (K=4, n=100, d=64, M=3) for 600 steps, float64 on both devices:
    # same CPU-drawn init, same updates; only the order of floating-point reductions
    # differs, ~1e-16 relative per operation. Model of that on the CPU
    # (benchmarks/nc_gpu.py, agreement_rows): relative noise 1e-15 injected into every
    # parameter after every step moves the records linearly (100x the noise, 100x the
    # change: no chaotic growth), by at most 1e-13 relative, except the frame distances
    # nc3 ~ 4.5e-5, differences of unit-norm Grams, which move by 5e-16 absolute
    # (1e-11 relative). Hence: relative 1e-10, or absolute 1e-12 for quantities that
    # are themselves differences of O(1) numbers; the model uses at most 0.4% of that
    # (its ``share_of_test_tol``; gpu_check.py prints it next to the CUDA run's own).
    exp = NeuralCollapse.from_preset("balanced_E1", steps=600, record_every=200,
                                     snapshot_every=600)
    cpu = list(exp.run(seed=0, device="cpu"))
    gpu = list(exp.run(seed=0, device="cuda"))
    _assert_records_agree(cpu, gpu, rel=1e-10, floor=1e-12)


def test_random_features_cuda_matches_cpu():
    # float64 on both, data drawn from the same CPU generator; the CPU solves its Gram
    # eigenproblems with LAPACK through numpy, CUDA with cuSOLVER. Swapping numpy's
    # eigh for torch's (another LAPACK driver) on the CPU moves every record scalar by
    # at most 4e-12 relative (measured on this preset); the risks divide by mu + ridge
    # with ridge >= 1e-3, so eigensolver rounding cannot be amplified beyond ~1e4 *
    # 1e-16. 1e-8 relative (1e-12 absolute near 0) leaves three orders of margin.
    exp = get_experiment("random-features").from_preset("smoke")
    cpu = list(exp.run(seed=0, device="cpu"))
    gpu = list(exp.run(seed=0, device="cuda"))
    _assert_records_agree(cpu, gpu, rel=1e-8, floor=1e-12)


@pytest.mark.parametrize("kw", [
    dict(),  # the paper's E1: UFM, SGD with momentum, float64
    dict(loss="ce", depth=1),
    dict(backbone="mlp", dataset="gaussian", optimizer="adam", lr=1e-3, dtype="float32"),
])
def test_training_steps_never_synchronise(kw):
    """torch's own detector raises on any host <-> device synchronisation."""
    prob = Problem(NeuralCollapse.from_preset("balanced_E1", **kw), 0, "cuda")
    prob.step()  # first step: optimiser state is created (allocation only)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(20):
            prob.step()
    finally:
        torch.cuda.set_sync_debug_mode(0)
    torch.cuda.synchronize()


def test_tf32_is_used_where_asked_and_restored():
    # float32, K=10, n=50, d=256, M=2 for 20 steps. IEEE float32 on CUDA differs from
    # the CPU by rounding (~1e-7 relative); TF32 rounds matmul inputs to 10 mantissa
    # bits (~1e-3 relative products), so it lands measurably further away.
    before = _cublas_tf32()
    kw = dict(n_classes=10, samples_per_class=50, feature_dim=256, depth=2, steps=20,
              record_every=20, dtype="float32", lr=0.05, init_std=0.05)

    def objective(device, tf32):
        final = list(NeuralCollapse(tf32=tf32, **kw).run(seed=0, device=device))[-1]
        return final.scalars["objective"]

    ref = objective("cpu", False)
    ieee, tf32 = abs(objective("cuda", False) - ref), abs(objective("cuda", True) - ref)
    assert _cublas_tf32() == before
    assert ieee < 1e-5 * abs(ref), ieee
    assert tf32 > 10 * ieee and math.isfinite(tf32), (tf32, ieee)
