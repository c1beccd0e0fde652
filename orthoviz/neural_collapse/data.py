"""Class-structured data for the neural-collapse experiments.

- class sizes: balanced, or imbalanced by a ratio and a profile (step / exponential);
- labels for the unconstrained-features model (UFM: the features are free parameters);
- inputs for a real backbone: a Gaussian mixture here; scikit-learn's 8x8 digits
  (ships offline) and CIFAR-10 / EMNIST-letters from a local folder come from the
  shared readers of :mod:`orthoviz.datasets`.

Every generator takes an explicit ``numpy.random.Generator``.
"""

from __future__ import annotations

import numpy as np

from orthoviz import datasets

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


def load_dataset(name: str, data_dir: str) -> tuple[np.ndarray, np.ndarray]:
    """Real inputs by name (``digits``, ``cifar10``, ``emnist``): X in [0, 1], y.
    One reader per data set, shared with the other packages (:mod:`orthoviz.datasets`)."""
    return datasets.load_dataset(name, data_dir)
