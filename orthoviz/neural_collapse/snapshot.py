"""Small geometry snapshots for the live views: class means and classifier rows in 3-D.

Rule (measured and predicted alike): for K <= 3 the uncentred vectors are drawn, which is
exact; for K >= 4 the centred ones (an orthogonal frame centred is a simplex ETF), exact
for K = 4 and the top-3 principal directions otherwise. The measured basis is aligned
with the previous snapshot's (orthogonal Procrustes) so the picture does not spin.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.linalg import orthogonal_procrustes


def _vectors(V: np.ndarray) -> np.ndarray:
    """(K, d) -> the vectors drawn: centred when K >= 4."""
    return V - V.mean(axis=0) if V.shape[0] >= 4 else V


def _pad3(X: np.ndarray) -> np.ndarray:
    out = np.zeros((X.shape[0], 3))
    out[:, : min(3, X.shape[1])] = X[:, :3]
    return out


def project_3d(
    means: np.ndarray, classifier: np.ndarray, prev_basis: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Project class means (K, d) and classifier rows (K, d) onto a 3-D basis.

    Returns (means_3d (K, 3), classifier_3d (K, 3), basis (d, <=3)).
    """
    A, B = _vectors(np.asarray(means, float)), _vectors(np.asarray(classifier, float))
    src = A if np.linalg.norm(A) > 1e-12 * max(1.0, np.linalg.norm(B)) else B
    if np.linalg.norm(src) == 0.0 and prev_basis is not None:
        basis = prev_basis
    else:
        _, _, Vt = np.linalg.svd(src, full_matrices=False)
        basis = Vt[: min(3, Vt.shape[0])].T  # (d, r)
        if prev_basis is not None and prev_basis.shape == basis.shape:
            basis = basis @ orthogonal_procrustes(basis, prev_basis)[0]
    return _pad3(A @ basis), _pad3(B @ basis), basis


def predicted_frame_3d(geometry: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Predicted class means and classifier rows drawn with the same rule.

    Class k points along e_k (OF/GOF) or the centred e_k - 1/K (ETF), with the
    predicted norm.
    """
    fm = np.sqrt(np.maximum(np.asarray(geometry["feature_mean_norm_sq"], float), 0))
    cn = np.sqrt(np.maximum(np.asarray(geometry["classifier_norm_sq"], float), 0))
    K = len(fm)
    E = np.eye(K)
    if geometry.get("frame") == "ETF":
        E = E - 1.0 / K
        E /= np.linalg.norm(E, axis=1, keepdims=True)
    means, classifier = fm[:, None] * E, cn[:, None] * E
    m3, c3, _ = project_3d(means, classifier)
    return m3, c3


def align_to(means_3d: np.ndarray, classifier_3d: np.ndarray, target: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """Rotate (or reflect) the measured 3-D picture onto the predicted class means.

    Orthogonal Procrustes on the class means, each set scaled to unit largest norm: the
    measured and predicted frames live in unrelated bases, and this puts them in the
    same orientation so they can be compared side by side. Norms and angles are kept.
    """
    def unit(X):
        return X / max(float(np.linalg.norm(X, axis=1).max()), 1e-300)

    A, B = unit(np.asarray(means_3d, float)), unit(np.asarray(target, float))
    if not np.any(A) or not np.any(B):
        return means_3d, classifier_3d
    R = orthogonal_procrustes(A, B)[0]  # (3, 3) orthogonal: argmin ||A R - B||_F
    return means_3d @ R, classifier_3d @ R
