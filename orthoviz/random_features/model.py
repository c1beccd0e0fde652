"""Random-feature maps and the limiting kernels they approximate (spec §1.1, §4.2-4.3).

With ``k`` weights ``w_j``, the feature matrix is ``Phi[a, j] = g(w_j, x_a) / sqrt(k)`` and
the RF kernel ``K_hat = Phi Phi^T`` tends to ``K(x, x') = E_w[g(w, x) g(w, x')]``.
Features are *nested*: one draw of ``k_max`` weights per trial, and the first ``k``
columns give the k-feature model ("growing width"; the theory is unchanged).
"""

from __future__ import annotations

import numpy as np
import torch

from orthoviz.random_features.data import Spectrum, cpu_randn, make_spectrum


def linear_gaussian_features(Z, k_max: int, generator):
    """Linear Gaussian RF (spec §1.2): ``g(w, x) = sum_i sqrt(lambda_i) w_i x_i``.

    ``Z = X Lambda^{1/2}`` has shape (rows, P); returns the unscaled features
    ``Z W`` (rows, k_max) with ``W`` (P, k_max) i.i.d. N(0, 1). Divide the first ``k``
    columns by ``sqrt(k)`` to get ``Phi``.
    """
    W = cpu_randn((Z.shape[1], k_max), generator, Z.device, Z.dtype)
    return Z @ W


def relu_features(X, k_max: int, generator):
    """ReLU RF: ``g(w, x) = relu(w . x)`` with ``w ~ N(0, (2/d) I)``; ``X`` (rows, d)
    to unscaled features (rows, k_max). Its kernel is :func:`arccos_kernel`."""
    d = X.shape[1]
    W = cpu_randn((d, k_max), generator, X.device, X.dtype)
    return torch.relu(X @ W) * float(np.sqrt(2.0 / d))


def arccos_kernel(X: np.ndarray, Y: np.ndarray | None = None) -> np.ndarray:
    """Limiting kernel of :func:`relu_features` (1-hidden-layer ReLU NNGP, spec §4.3):
    ``K(x, x') = |x||x'|/(pi d) [sin t + (pi - t) cos t]``, ``t`` the angle. float64."""
    Y = X if Y is None else Y
    nx, ny = np.linalg.norm(X, axis=1), np.linalg.norm(Y, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.clip((X @ Y.T) / np.outer(nx, ny), -1.0, 1.0)
    cos = np.nan_to_num(cos)
    t = np.arccos(cos)
    return np.outer(nx, ny) / (np.pi * X.shape[1]) * (np.sin(t) + (np.pi - t) * cos)


def empirical_spectrum(K: np.ndarray, y: np.ndarray) -> Spectrum:
    """Finite-population spectrum of an N-point Gram matrix (spec §4.3, pitfall 1):
    ``lambda = eig(K)/N``, ``v = U^T y / sqrt(N)`` (eigenvectors scaled by sqrt(N), then
    ``v = (1/N) U_hat^T y``), so ``sum_i v_i^2 = mean(y^2)``."""
    N = K.shape[0]
    evals, U = np.linalg.eigh(K)
    v = U.T @ y / np.sqrt(N)
    v2 = v**2 if v.ndim == 1 else (v**2).sum(axis=1)  # multi-output: squared norm
    return make_spectrum(evals / N, v2)
