"""Class-structured data for the neural-collapse experiments.

- class sizes: balanced, or imbalanced by a ratio and a profile (step / exponential);
- labels for the unconstrained-features model (UFM: the features are free parameters);
- inputs for a real backbone: a Gaussian mixture, scikit-learn's 8x8 digits (ships
  offline), and CIFAR-10 / EMNIST-letters read from a local folder.

Every generator takes an explicit ``numpy.random.Generator``.
"""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np

DATASETS = ("gaussian", "digits", "cifar10", "emnist")


def make_class_sizes(
    n_classes: int, samples_per_class: int, imbalance_ratio: float = 1.0,
    profile: str = "step", class_sizes: list[int] | None = None,
) -> list[int]:
    """Per-class sample counts n_k (largest first).

    ``class_sizes`` wins when given. Otherwise the largest class has
    ``samples_per_class`` samples and the smallest ``samples_per_class /
    imbalance_ratio``: ``step`` gives the second half of the classes the small size,
    ``exponential`` decays geometrically (Cao et al. 2019 long-tail profile).
    """
    if class_sizes:
        return [int(n) for n in class_sizes]
    n, r, K = samples_per_class, float(imbalance_ratio), n_classes
    if r == 1.0:
        return [n] * K
    if profile == "step":
        return [n if k < (K + 1) // 2 else max(1, round(n / r)) for k in range(K)]
    return [max(1, round(n * r ** (-k / max(1, K - 1)))) for k in range(K)]


def labels_for(class_sizes: list[int], rng: np.random.Generator) -> np.ndarray:
    """Labels y (N,) with class blocks in a random order, as in the paper's scripts."""
    y = np.repeat(np.arange(len(class_sizes)), class_sizes)
    return y[rng.permutation(len(y))]


def gaussian_mixture(
    class_sizes: list[int], input_dim: int, rng: np.random.Generator, separation: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """X (N, input_dim), y (N,): class k ~ N(separation * mu_k, I) with random unit mu_k."""
    K = len(class_sizes)
    mu = rng.standard_normal((K, input_dim))
    mu /= np.linalg.norm(mu, axis=1, keepdims=True)
    y = labels_for(class_sizes, rng)
    X = separation * mu[y] + rng.standard_normal((len(y), input_dim))
    return X, y


def subsample(
    X: np.ndarray, y: np.ndarray, class_sizes: list[int], rng
) -> tuple[np.ndarray, np.ndarray]:
    """Take class_sizes[k] random samples of class k (error if a class has fewer)."""
    idx = []
    for k, n_k in enumerate(class_sizes):
        pool = np.flatnonzero(y == k)
        if n_k > len(pool):
            raise ValueError(
                f"invalid value for 'class_sizes': class {k} has {len(pool)} samples, "
                f"{n_k} requested (allowed: at most {len(pool)})"
            )
        idx.append(rng.choice(pool, n_k, replace=False))
    idx = rng.permutation(np.concatenate(idx))
    return X[idx], y[idx]


def load_digits_data() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits (1797 x 64, 10 classes), scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data.astype(np.float64) / 16.0, d.target.astype(np.int64)


def _missing(name: str, folder: str, expected: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"{name} not found in data_dir={folder!r}: expected {expected}. orthoviz never "
        f"downloads data; place the files there or choose dataset='digits'."
    )


def load_cifar10(folder: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 'python version' batches (``data_batch_1..5``; optionally inside
    ``cifar-10-batches-py/``) -> X (N, 3072) in [0, 1], y (N,)."""
    root = Path(folder)
    if (root / "cifar-10-batches-py").is_dir():
        root = root / "cifar-10-batches-py"
    files = sorted(root.glob("data_batch_*"))
    if not files:
        raise _missing("CIFAR-10", str(folder), "data_batch_1 ... data_batch_5")
    xs, ys = [], []
    for f in files:
        with open(f, "rb") as fh:
            batch = pickle.load(fh, encoding="bytes")
        xs.append(np.asarray(batch[b"data"], dtype=np.float64) / 255.0)
        ys.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_emnist_letters(folder: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """EMNIST letters idx files (``emnist-letters-train-images-idx3-ubyte[.gz]`` and
    ``...-labels-idx1-ubyte[.gz]``) -> X (N, 784) in [0, 1], y (N,) in 0..25
    (the files label letters 1..26)."""
    root = Path(folder)
    stem = "emnist-letters-train-{}-idx{}-ubyte"
    paths = []
    for kind, nd in (("images", 3), ("labels", 1)):
        cands = [root / (stem.format(kind, nd) + s) for s in ("", ".gz")]
        found = [p for p in cands if p.exists()]
        if not found:
            raise _missing("EMNIST letters", str(folder), cands[0].name + "[.gz]")
        paths.append(found[0])
    X = _read_idx(paths[0]).reshape(-1, 28 * 28).astype(np.float64) / 255.0
    y = _read_idx(paths[1]).astype(np.int64) - 1
    return X, y


def load_dataset(name: str, data_dir: str) -> tuple[np.ndarray, np.ndarray]:
    """Real data by name: ``digits`` (offline), ``cifar10`` / ``emnist`` (local folder)."""
    if name == "digits":
        return load_digits_data()
    if name == "cifar10":
        return load_cifar10(data_dir)
    if name == "emnist":
        return load_emnist_letters(data_dir)
    raise ValueError(f"invalid value for 'dataset': {name!r} (allowed: digits, cifar10, emnist)")
