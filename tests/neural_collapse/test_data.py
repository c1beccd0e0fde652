"""Data: class sizes, offline datasets and local-folder loaders (on files written here)."""

from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest

from orthoviz.neural_collapse.data import (
    load_cifar10,
    load_emnist_letters,
    make_class_sizes,
    subsample,
)


def test_class_size_profiles():
    assert make_class_sizes(4, 100) == [100] * 4
    assert make_class_sizes(4, 200, 4.0, "step") == [200, 200, 50, 50]
    assert make_class_sizes(3, 100, 10.0, "exponential") == [100, 32, 10]
    assert make_class_sizes(4, 1, 1.0, class_sizes=[5, 4, 3, 2]) == [5, 4, 3, 2]


def test_cifar10_loader_reads_python_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in (1, 2):
        batch = {b"data": rng.integers(0, 256, (5, 3072), dtype=np.uint8),
                 b"labels": list(rng.integers(0, 10, 5))}
        with open(folder / f"data_batch_{i}", "wb") as f:
            pickle.dump(batch, f)
    X, y = load_cifar10(tmp_path)
    assert X.shape == (10, 3072) and y.shape == (10,)
    assert 0.0 <= X.min() and X.max() <= 1.0


def _idx(path, arr):
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_emnist_loader_reads_idx_files_and_shifts_labels(tmp_path):
    imgs = np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256
    _idx(tmp_path / "emnist-letters-train-images-idx3-ubyte.gz", imgs)
    _idx(tmp_path / "emnist-letters-train-labels-idx1-ubyte.gz", np.array([1, 26, 5]))
    X, y = load_emnist_letters(tmp_path)
    assert X.shape == (3, 784) and list(y) == [0, 25, 4]
    np.testing.assert_allclose(X[0, :3], np.array([0, 1, 2]) / 255.0)


@pytest.mark.parametrize("loader", [load_cifar10, load_emnist_letters])
def test_missing_folder_names_the_folder(tmp_path, loader):
    with pytest.raises(FileNotFoundError, match="data_dir"):
        loader(tmp_path / "nowhere")


def test_subsample_exact_sizes_and_too_many():
    X, y = np.arange(20)[:, None], np.repeat([0, 1], 10)
    Xs, ys = subsample(X, y, [6, 2], np.random.default_rng(0))
    assert np.bincount(ys).tolist() == [6, 2]
    with pytest.raises(ValueError, match="class_sizes"):
        subsample(X, y, [11, 2], np.random.default_rng(0))
