"""Errors against a prediction of the trivial point (every predicted norm 0) are
absolute: a relative error would divide by ~0 and report 1e292 (issue #10)."""

from __future__ import annotations

import numpy as np

from orthoviz.runtime import get_experiment


def test_errors_against_the_zero_prediction_are_the_measured_sizes():
    # lambda = [1, 2] is far above the critical decay: the only minimiser is W = H = 0
    exp = get_experiment("neural-collapse").from_preset("smoke", depth=2, layer_decays="[1,2]")
    geom = exp.theory()
    assert not np.any(geom["classifier_norm_sq"]) and not np.any(geom["feature_mean_norm_sq"])
    final = [r for r in exp.run(device="cpu") if r.arrays][-1]
    s, a = final.scalars, final.arrays
    # |m - 0| / 1: the error is the largest measured squared norm itself (same float64
    # numbers, one division by 1.0: equal to rounding)
    for name, key in (("classifier", "classifier_norm_sq"), ("features",
                                                           "feature_mean_norm_sq")):
        assert np.isclose(s[f"norm_rel_error_{name}"], np.max(a[key]), rtol=1e-12, atol=0)
        assert np.isclose(s[f"gram_rel_error_{name}"],
                          np.linalg.norm(a[f"gram_{name}"]), rtol=1e-12, atol=0)
    # the run heads for zero from init_std 0.1: the sizes are small, not 1e292
    assert all(0 <= s[k] < 1 for k in s if "rel_error" in k)
