"""Data: class sizes and subsampling (the folder readers: tests/test_datasets.py)."""

from __future__ import annotations

import numpy as np
import pytest

from orthoviz.neural_collapse.data import make_class_sizes, subsample


def test_class_size_profiles():
    assert make_class_sizes(4, 100) == [100] * 4
    assert make_class_sizes(4, 200, 4.0, "step") == [200, 200, 50, 50]
    assert make_class_sizes(3, 100, 10.0, "exponential") == [100, 32, 10]
    assert make_class_sizes(4, 1, 1.0, class_sizes=[5, 4, 3, 2]) == [5, 4, 3, 2]


def test_subsample_exact_sizes_and_too_many():
    X, y = np.arange(20)[:, None], np.repeat([0, 1], 10)
    Xs, ys = subsample(X, y, [6, 2], np.random.default_rng(0))
    assert np.bincount(ys).tolist() == [6, 2]
    with pytest.raises(ValueError, match="class_sizes"):
        subsample(X, y, [11, 2], np.random.default_rng(0))
