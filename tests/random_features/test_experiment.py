"""Experiment-level checks: the record protocol and L1 of the checklist (spec §4.7)."""

import math

import numpy as np
import pytest

from orthoviz.random_features import RandomFeatures
from orthoviz.random_features.metrics import within_tolerance
from orthoviz.runtime import ConfigError, get_experiment


def test_registered():
    assert get_experiment("random-features") is RandomFeatures


def test_smoke_protocol_and_determinism():
    exp = RandomFeatures.from_preset("smoke")
    a = list(exp.run(seed=3, device="cpu"))
    b = list(exp.run(seed=3, device="cpu"))
    assert [r.phase for r in a][-1] == "final" and sum(r.is_final for r in a) == 1
    assert a[-1].step == exp.total_steps()
    for r in a:
        assert all(math.isfinite(v) for v in r.scalars.values())
    assert [r.scalars for r in a] == [r.scalars for r in b]
    # one record per (trial, swept value, ridge), each placed by its coordinates
    points = [r for r in a if r.phase == "point"]
    assert len(points) == exp.trials * len(exp.sweep_values) * len(exp.ridges)
    keys = {(r.coords["trial"], r.coords["k"], r.coords["ridge"]) for r in points}
    assert len(keys) == len(points)
    assert all(r.coords["n"] == exp.n for r in points)
    assert all(set(r.scalars) == {"test_risk", "train_risk"} for r in points)


def test_validation_messages():
    with pytest.raises(ConfigError, match="feature_map"):
        RandomFeatures(feature_map="relu").validate()
    with pytest.raises(ConfigError, match="data_dir"):
        RandomFeatures(spectrum="cifar10", data_dir="/nonexistent").validate()
    with pytest.raises(ConfigError, match="test_size"):
        RandomFeatures.from_preset("digits_relu", test_size=1700).validate()


def _check_l1(exp, final, rel=0.03):
    a, ctx = final.arrays, exp.theory()["context"]
    te, se, th = a["test_mean"], a["test_se"], ctx["theory_test"]
    # checklist rule: |exp - th| <= max(3%, 3 SE) at every point including the peak
    assert within_tolerance(te, se, th, rel, 3.0).all(), np.abs(te / th - 1)
    tr, th_tr = a["train_mean"], ctx["theory_train"]
    # train: 4% relative where E_tr >= 0.05, 0.002 absolute below (spec §4.7 L1)
    big = th_tr >= 0.05
    assert (np.abs(tr - th_tr)[big] <= 0.04 * th_tr[big] + 3 * a["train_se"][big]).all()
    assert (np.abs(tr - th_tr)[~big] <= 0.002 + 3 * a["train_se"][~big]).all()


def test_l1_reduced():
    """The L1 setting with fewer trials and sweep points (fast suite): same rule."""
    exp = RandomFeatures.from_preset("gaussian_L1", trials=6,
                                     sweep_values=[16, 256, 1024], test_size=1000)
    final = list(exp.run(seed=1, device="cpu"))[-1]
    _check_l1(exp, final)
    assert final.scalars["theory_optimal_monotone"] == 1.0


@pytest.mark.slow
def test_l1_full():
    exp = RandomFeatures.from_preset("gaussian_L1")
    final = list(exp.run(seed=0, device="cpu"))[-1]
    _check_l1(exp, final)
    assert final.scalars["theory_rel_error_max"] < 0.05
    assert final.scalars["optimal_curve_monotone"] == 1.0


def test_digits_relu_against_gaussian_equivalent_theory():
    """ReLU features on digits vs the finite-population eigenframework, every cell.

    Every point not used for training is a test point (test_size = N - n = 1541), and
    48 trials put the standard error near 1% at k >= 256 (2% at k = 32). Measured here
    (16 trials, seed 0) and by an independent audit: at ridge >= 0.1 with k >= 256 the
    experiment is within 3% of theory; at ridge 1e-2, or at k = 32, it sits 5-9% ABOVE
    the theory. The theory treats the ReLU features as Gaussian with the same kernel
    (spec: Gaussian universality); at few features or little regularisation the
    non-Gaussian ReLU features add variance the Gaussian ansatz misses on a 1797-point
    population. So the test asserts both facts: agreement within max(3%, 3 SE) where
    the ansatz holds, and a positive bias of at most 12% (+ 3 SE) elsewhere.
    """
    n, N = 256, 1797
    exp = RandomFeatures.from_preset("digits_relu", trials=48, n=n, test_size=N - n,
                                     sweep_values=[32, 256, 1000], ridges=[1e-2, 0.1, 1.0])
    final = list(exp.run(seed=0, device="cpu"))[-1]
    a, th = final.arrays, exp.theory()["context"]["theory_test"]
    m, se = a["test_mean"], a["test_se"]
    assert (se / m)[:, 1:].max() < 0.02  # the SE the tolerances rely on
    ridges, ks = np.array(exp.ridges)[:, None], np.array(exp.sweep_values)[None, :]
    holds = (ridges >= 0.1) & (ks >= 256)
    assert within_tolerance(m[holds], se[holds], th[holds], 0.03, 3.0).all(), m / th - 1
    rel, rel_se = m / th - 1, se / th
    assert (rel[~holds] + 3 * rel_se[~holds] > 0).all(), rel  # above theory, not below
    assert (rel[~holds] - 3 * rel_se[~holds] < 0.12).all(), rel
    assert 1.0 < final.scalars["alpha_hat"] < 3.0 and final.scalars["beta_hat"] > 1.0
