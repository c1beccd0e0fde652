"""Experiment-level checks: the record protocol and L1 of the checklist (spec §4.7)."""

import math

import numpy as np
import pytest

from orthoviz.random_features import RandomFeatures
from orthoviz.random_features.metrics import within_tolerance
from orthoviz.runtime import ConfigError, get_experiment
from orthoviz.runtime.collect import collect


def test_registered():
    assert get_experiment("random-features") is RandomFeatures


def test_smoke_protocol_and_determinism():
    exp = RandomFeatures.from_preset("smoke")
    a = collect(exp.run(seed=3, device="cpu"))
    b = collect(exp.run(seed=3, device="cpu"))
    assert [r.phase for r in a][-1] == "final" and sum(r.is_final for r in a) == 1
    assert a[-1].step == exp.total_steps()
    for r in a:
        assert all(math.isfinite(v) for v in r.scalars.values())
    assert [r.scalars for r in a] == [r.scalars for r in b]
    th = exp.theory()
    assert set(th) <= set(a[-1].arrays) | set(a[-1].scalars)
    # running SE is 0 after one trial and positive afterwards
    assert a[0].scalars["test_risk_se"] == 0 and a[-2].scalars["test_risk_se"] > 0


def test_validation_messages():
    with pytest.raises(ConfigError, match="feature_map"):
        RandomFeatures(feature_map="relu").validate()
    with pytest.raises(ConfigError, match="data_dir"):
        RandomFeatures(spectrum="cifar10", data_dir="/nonexistent").validate()
    with pytest.raises(ConfigError, match="test_size"):
        RandomFeatures.from_preset("digits_relu", test_size=1700).validate()


def _check_l1(final, rel=0.03):
    a = final.arrays
    te, se, th = a["test_mean"], a["test_se"], a["theory_test"]
    # checklist rule: |exp - th| <= max(3%, 3 SE) at every point including the peak
    assert within_tolerance(te, se, th, rel, 3.0).all(), np.abs(te / th - 1)
    tr, th_tr = a["train_mean"], a["theory_train"]
    # train: 4% relative where E_tr >= 0.05, 0.002 absolute below (spec §4.7 L1)
    big = th_tr >= 0.05
    assert (np.abs(tr - th_tr)[big] <= 0.04 * th_tr[big] + 3 * a["train_se"][big]).all()
    assert (np.abs(tr - th_tr)[~big] <= 0.002 + 3 * a["train_se"][~big]).all()


def test_l1_reduced():
    """The L1 setting with fewer trials and sweep points (fast suite): same rule."""
    exp = RandomFeatures.from_preset("gaussian_L1", trials=6,
                                     sweep_values=[16, 256, 1024], test_size=1000)
    final = collect(exp.run(seed=1, device="cpu"))[-1]
    _check_l1(final)
    assert final.scalars["theory_optimal_monotone"] == 1.0


@pytest.mark.slow
def test_l1_full():
    exp = RandomFeatures.from_preset("gaussian_L1")
    final = collect(exp.run(seed=0, device="cpu"))[-1]
    _check_l1(final)
    assert final.scalars["theory_rel_error_max"] < 0.05
    assert final.scalars["optimal_curve_monotone"] == 1.0


def test_digits_relu_small():
    """ReLU features on digits vs the finite-population theory (sanity level).

    Measured: at ridge 1 and k >= 256 theory and experiment agree within ~3%; at
    ridge 1e-2, and at k = 32, the experiment sits 10-25% above theory on this
    1797-point population (the Gaussian ansatz is weakest there; an open question),
    so only the well-regularised, wide points are checked, at 10%.
    """
    exp = RandomFeatures.from_preset("digits_relu", trials=2, sweep_values=[32, 256, 1000],
                                     ridges=[1e-2, 1.0])
    final = collect(exp.run(seed=0, device="cpu"))[-1]
    a = final.arrays
    np.testing.assert_allclose(a["test_mean"][1, 1:], a["theory_test"][1, 1:], rtol=0.10)
    assert 1.0 < final.scalars["alpha_hat"] < 3.0 and final.scalars["beta_hat"] > 1.0
