"""Spectra and data for random-feature regression (Simon et al., arXiv 2311.14646).

Three kinds of input feed the eigenframework and the experiments:

- :class:`Spectrum`: kernel eigenvalue levels ``lambda_j`` with multiplicities ``m_j``
  and per-mode target power ``v_j^2`` (the paper's ``lambda_i``, ``v_i``), plus analytic
  remainders for an infinite powerlaw tail (spec §2.3 step 9).
- Synthetic Gaussian data for the linear Gaussian RF model (spec §1.2, §4.2):
  ``x ~ N(0, I_P)``, ``y = sum_i v_i x_i + eps``.
- Real data that ships offline (scikit-learn's digits) and CIFAR-10 read from a local
  folder, turned into a finite-population spectrum by eigendecomposing the limiting
  kernel's Gram matrix (spec §4.3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import zeta

from orthoviz import datasets
from orthoviz.runtime.errors import ConfigError

#: where the powerlaw tail's log-binned levels end (spec §2.3 step 9)
TAIL_END = 1e16


@dataclass(frozen=True)
class Spectrum:
    """Eigenstructure of a kernel regression task, stored as levels.

    Parameters
    ----------
    eigenvalues : ndarray, shape (J,)
        Level eigenvalues ``lambda_j > 0``, population-normalised (Gram / N).
    target_coeffs_sq : ndarray, shape (J,)
        Target power per mode ``v_j^2`` at level ``j`` (summed over outputs).
    multiplicity : ndarray, shape (J,)
        Number of modes ``m_j`` at level ``j`` (float; may be huge in a tail bin).
    tail_z : float
        ``sum_{i > i_max} lambda_i``: modes beyond the last level add ``tail_z / gamma``
        to ``z`` (valid because ``lambda_i << gamma`` there).
    tail_v2 : float
        ``sum_{i > i_max} v_i^2``: target power no finite problem can learn; it acts as
        extra noise in the bias.
    """

    eigenvalues: np.ndarray
    target_coeffs_sq: np.ndarray
    multiplicity: np.ndarray
    tail_z: float = 0.0
    tail_v2: float = 0.0

    @property
    def n_modes(self) -> float:
        """Total number of modes ``P`` (``inf`` with an analytic tail)."""
        return math.inf if self.tail_z > 0 else float(self.multiplicity.sum())

    @property
    def target_power(self) -> float:
        """``sum_i v_i^2``: the risk of predicting zero, less the noise."""
        return float(self.multiplicity @ self.target_coeffs_sq + self.tail_v2)



def make_spectrum(eigenvalues, target_coeffs_sq, multiplicity=None) -> Spectrum:
    """A :class:`Spectrum` from explicit arrays, sorted by decreasing eigenvalue.

    Zero or negative eigenvalues (numerical noise from an eigendecomposition) are
    dropped; their target power is kept as ``tail_v2`` since no finite ridge learns it.
    """
    lam = np.atleast_1d(np.asarray(eigenvalues, dtype=np.float64))
    v2 = np.broadcast_to(np.asarray(target_coeffs_sq, dtype=np.float64), lam.shape)
    m = np.ones_like(lam) if multiplicity is None else np.broadcast_to(
        np.asarray(multiplicity, dtype=np.float64), lam.shape)
    keep = lam > 0
    lost = float(m[~keep] @ v2[~keep]) if (~keep).any() else 0.0
    order = np.argsort(-lam[keep], kind="stable")
    return Spectrum(lam[keep][order].copy(), v2[keep][order].copy(), m[keep][order].copy(),
                    0.0, lost)


def powerlaw_spectrum(alpha: float, beta: float, n_modes: int, tail: bool = False,
                      bins_per_decade: int = 100) -> Spectrum:
    """``lambda_i = i^-alpha``, ``v_i^2 = i^-beta`` for ``i = 1..n_modes`` (spec §1.3).

    With ``tail=True`` the modes ``i > n_modes`` are kept too: log-binned levels with
    multiplicities out to ``i = 1e16`` (each level carries the bin's mean eigenvalue and
    mean target power, exact sums from the Hurwitz zeta function) and analytic
    remainders beyond. Needed for beta near 1, where truncation changes R* by 2x.
    """
    i = np.arange(1, n_modes + 1, dtype=np.float64)
    lam, v2, m = i**-alpha, i**-beta, np.ones_like(i)
    if not tail:
        return Spectrum(lam, v2, m)
    decades = np.log10(TAIL_END / (n_modes + 1))
    edges = np.unique(np.round(np.logspace(np.log10(n_modes + 1), np.log10(TAIL_END),
                                           int(decades * bins_per_decade) + 1)))
    a, b = edges[:-1], edges[1:]  # bin [a, b) holds modes a..b-1
    mb = b - a
    lam_b = (zeta(alpha, a) - zeta(alpha, b)) / mb
    v2_b = (zeta(beta, a) - zeta(beta, b)) / mb
    return Spectrum(np.concatenate([lam, lam_b]), np.concatenate([v2, v2_b]),
                    np.concatenate([m, mb]), float(zeta(alpha, edges[-1])),
                    float(zeta(beta, edges[-1])))


# -- synthetic Gaussian data (the linear Gaussian RF model) -----------------------------
def cpu_randn(shape, generator, device, dtype):
    """N(0, 1) draws from a CPU ``torch.Generator``, moved to ``device``: the same seed
    gives the same numbers on the CPU and on CUDA (a CUDA generator has a stream of its
    own). One host-to-device copy per trial pool, small next to the eigendecompositions
    it feeds."""
    return torch.randn(shape, generator=generator, dtype=dtype).to(device)


def gaussian_data(spectrum: Spectrum, n_rows: int, noise_var: float, generator, device,
                  dtype):
    """Draw ``X`` (n_rows, P) with i.i.d. N(0, 1) entries and ``y = X v + eps``.

    Returns ``(Z, y)`` where ``Z = X Lambda^{1/2}`` (rows are the feature-space inputs
    whose Gram matrix averages to the kernel) and ``y`` (n_rows,). ``generator`` is a
    CPU ``torch.Generator`` (draws are moved to ``device``, so CPU and CUDA agree).
    """
    lam = torch.as_tensor(np.repeat(spectrum.eigenvalues, spectrum.multiplicity.astype(int)),
                          dtype=dtype, device=device)
    v = torch.as_tensor(np.repeat(np.sqrt(spectrum.target_coeffs_sq),
                                  spectrum.multiplicity.astype(int)), dtype=dtype,
                        device=device)
    X = cpu_randn((n_rows, lam.numel()), generator, device, dtype)
    eps = cpu_randn((n_rows,), generator, device, dtype)
    y = X @ v + eps * float(np.sqrt(noise_var))
    return X * lam.sqrt(), y


# -- real data --------------------------------------------------------------------------
CIFAR_POSITIVE = (0, 1, 7, 8, 9)  # airplane, automobile, horse, ship, truck -> +1
DIGITS_POSITIVE = (0, 1, 2, 3, 4)


def load_dataset(name: str, data_dir: str = "", max_points: int | None = None):
    """``(X, y)`` for ``name`` in {"digits", "cifar10"} from the shared readers
    (:mod:`orthoviz.datasets`): inputs standardised with one global mean and std (as
    the paper does for CIFAR-10), labels binarised to +-1 (digits 0-4, and airplane,
    automobile, horse, ship, truck: +1; spec §4.3). Raises ConfigError when missing."""
    if name not in ("digits", "cifar10"):
        raise ConfigError("spectrum", name, "digits or cifar10")
    X, t = datasets.load_dataset(name, data_dir, max_points)
    X = (X - X.mean()) / X.std()
    positive = DIGITS_POSITIVE if name == "digits" else CIFAR_POSITIVE
    return X, np.where(np.isin(t, positive), 1.0, -1.0)
