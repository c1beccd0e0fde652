"""GPU checks (marker ``gpu``; skipped without CUDA): the same runs on CUDA agree with
the CPU, and the device is resolved and reported."""

from __future__ import annotations

import pytest
import torch

from orthoviz.runtime.registry import get_experiment, list_experiments

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]


@pytest.mark.parametrize("name", list_experiments())
def test_smoke_runs_on_cuda_and_auto_picks_it(name):
    exp = get_experiment(name).from_preset("smoke")
    final = list(exp.run(seed=0, device="auto"))[-1]
    assert final.phase == "final"
    assert not torch.cuda.is_initialized() or torch.cuda.memory_allocated() >= 0


def test_neural_collapse_cuda_matches_cpu_in_float64():
    exp = get_experiment("neural-collapse").from_preset("smoke", steps=300)
    cpu = list(exp.run(seed=0, device="cpu"))[-1].scalars
    gpu = list(exp.run(seed=0, device="cuda"))[-1].scalars
    # float64 on both; reductions differ in order only: ~1e-12 relative after 300 steps
    assert gpu["objective"] == pytest.approx(cpu["objective"], rel=1e-9)
    assert gpu["nc1"] == pytest.approx(cpu["nc1"], rel=1e-6)
