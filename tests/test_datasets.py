"""The shared data-set readers (orthoviz.datasets): CIFAR-10 and EMNIST files written
here, a planted pickle that would run code, damaged files, and the data root."""

from __future__ import annotations

import gzip
import os
import pickle

import numpy as np
import pytest

from orthoviz import datasets
from orthoviz.datasets import DATA_ROOT_ENV, data_folder, load_cifar10, load_emnist_letters
from orthoviz.runtime import ConfigError, get_experiment


def write_cifar(folder, n=5, batches=(1, 2), numpy_labels=False):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in batches:
        labels = rng.integers(0, 10, n)
        batch = {b"batch_label": b"training batch", b"filenames": [b"a.png"] * n,
                 b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 b"labels": list(labels) if numpy_labels else [int(x) for x in labels]}
        with open(folder / f"data_batch_{i}", "wb") as f:
            pickle.dump(batch, f, protocol=2)  # the release's protocol


@pytest.mark.parametrize("numpy_labels", [False, True])
def test_cifar10_reads_python_batches(tmp_path, numpy_labels):
    write_cifar(tmp_path / "cifar-10-batches-py", numpy_labels=numpy_labels)
    X, y = load_cifar10(tmp_path)
    assert X.shape == (10, 3072) and y.shape == (10,) and y.dtype == np.int64
    assert 0.0 <= X.min() and X.max() <= 1.0
    X3, _ = load_cifar10(tmp_path, max_points=3)
    np.testing.assert_array_equal(X3, X[:3])


def _idx(path, arr):
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_emnist_reads_idx_files_and_shifts_labels(tmp_path):
    imgs = np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256
    _idx(tmp_path / "emnist-letters-train-images-idx3-ubyte.gz", imgs)
    _idx(tmp_path / "emnist-letters-train-labels-idx1-ubyte.gz", np.array([1, 26, 5]))
    X, y = load_emnist_letters(tmp_path)
    assert X.shape == (3, 784) and list(y) == [0, 25, 4]
    np.testing.assert_allclose(X[0, :3], np.array([0, 1, 2]) / 255.0)


@pytest.mark.parametrize("loader", [load_cifar10, load_emnist_letters])
def test_a_missing_folder_names_the_parameter(tmp_path, loader):
    with pytest.raises(ConfigError, match="'data_dir'.*never downloads"):
        loader(tmp_path / "nowhere")


class Payload:
    """Unpickling this would run a shell command that creates ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("where", ["top", "labels", "key"])
def test_a_planted_pickle_is_refused_and_runs_nothing(tmp_path, where):
    marker = tmp_path / "pwned"
    folder = tmp_path / "data"
    folder.mkdir()
    evil = Payload(marker)
    batch = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}
    if where == "top":
        batch = evil
    elif where == "labels":
        batch[b"labels"] = [0, evil]
    else:
        batch[b"extra"] = {b"x": evil}
    (folder / "data_batch_1").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(ConfigError, match=r"data_batch_1: not a CIFAR-10 batch \(refused "
                                          r"global (posix|os)\.system\)"):
        load_cifar10(folder)
    assert not marker.exists(), "the pickle ran code"


def test_the_experiments_refuse_the_planted_pickle(tmp_path):
    marker = tmp_path / "pwned"
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(pickle.dumps(Payload(marker), protocol=2))
    nc = get_experiment("neural-collapse").from_preset(
        "digits_mlp", dataset="cifar10", data_dir=str(folder), steps=10)
    with pytest.raises(ConfigError, match="data_batch_1"):
        list(nc.run(seed=0, device="cpu"))
    rf = get_experiment("random-features").from_preset(
        "smoke", spectrum="cifar10", data_dir=str(folder), population=100)
    rf.validate()  # validation only looks for the file; it never reads it
    with pytest.raises(ConfigError, match="data_batch_1"):
        list(rf.run(seed=0, device="cpu"))
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "wrong shape"])
def test_damaged_cifar_batches_give_one_clear_error(tmp_path, damage):
    write_cifar(tmp_path, batches=(1,))
    path = tmp_path / "data_batch_1"
    raw = path.read_bytes()
    path.write_bytes({"truncated": raw[: len(raw) // 2], "garbage": b"\x80\x02garbage" * 9,
                      "empty": b"",
                      "wrong shape": pickle.dumps({b"data": np.zeros((2, 7), np.uint8),
                                                   b"labels": [0, 1]})}[damage])
    with pytest.raises(ConfigError, match="data_batch_1") as e:
        load_cifar10(tmp_path)
    assert "\n" not in str(e.value)


def test_a_truncated_idx_file_is_named(tmp_path):
    imgs = np.zeros((4, 28, 28))
    _idx(tmp_path / "emnist-letters-train-images-idx3-ubyte.gz", imgs)
    _idx(tmp_path / "emnist-letters-train-labels-idx1-ubyte.gz", np.array([1, 2, 3, 4]))
    p = tmp_path / "emnist-letters-train-images-idx3-ubyte.gz"
    raw = gzip.decompress(p.read_bytes())
    p.write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(ConfigError, match="images-idx3-ubyte.gz.*truncated"):
        load_emnist_letters(tmp_path)


def test_the_data_root_confines_data_dir(tmp_path, monkeypatch):
    root, outside = tmp_path / "root", tmp_path / "outside"
    write_cifar(root / "cifar")
    write_cifar(outside)
    (root / "escape").symlink_to(outside, target_is_directory=True)
    monkeypatch.setenv(DATA_ROOT_ENV, str(root))
    assert data_folder("") == root.resolve()
    assert data_folder("cifar") == (root / "cifar").resolve()  # relative: from the root
    assert load_cifar10("cifar")[0].shape == (10, 3072)
    assert load_cifar10(str(root / "cifar"))[0].shape == (10, 3072)
    for bad in (str(outside), "../outside", "escape", "cifar/../../outside", "/etc"):
        with pytest.raises(ConfigError, match="'data_dir'.*inside the data root"):
            load_cifar10(bad)
    nc = get_experiment("neural-collapse").from_preset(
        "digits_mlp", dataset="cifar10", data_dir=str(outside))
    with pytest.raises(ConfigError, match="'data_dir'.*data root"):
        nc.validate()
    monkeypatch.delenv(DATA_ROOT_ENV)
    assert load_cifar10(str(outside))[0].shape == (10, 3072)  # library use: any folder


def test_digits_are_shared():
    X, y = datasets.load_digits()
    assert X.shape == (1797, 64) and 0 <= X.min() and X.max() == 1.0
    assert set(np.unique(y)) == set(range(10))
