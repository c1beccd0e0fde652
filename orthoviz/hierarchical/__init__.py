"""Hierarchical polynomials ``h = g(p(x))`` learned by three-layer networks (Wang,
Nichani, Lee, "Learning Hierarchical Polynomials with Three-Layer Neural Networks",
ICLR 2024, arXiv 2311.13774).

Claim reproduced: a three-layer network with a width-1 bottleneck learns a degree-kq
target ``g(p)`` from about ``d^k`` samples, because its middle layer first learns the
degree-k feature p (the degree-k Hermite part of h is about ``E[g'(Z)] p``, an
approximate Stein lemma) and its outer layer then fits g; kernel methods need about
``d^{kq}``.

Public API
----------
- :class:`Hierarchical` (registered as ``hierarchical``): the experiment and its config.
- Targets: :func:`make_feature`, :func:`make_target`, :class:`Feature`, :class:`Target`,
  :data:`LINKS` (exact normalisation ``E[p] = 0``, ``E[p^2] = 1``, ``E[h^2] = 1``).
- Theory (exact Hermite algebra): :func:`degree_energies`, :func:`layerwise_limits`,
  :func:`kernel_plateau`, :func:`scales`.
- Metrics: :func:`feature_correlation`, :func:`degree_k_projection`,
  :func:`stein_alignment`, :func:`relative_mse`.

Records
-------
Coordinates ``n`` (samples), ``trial``, ``model`` (``three_layer``, ``kernel``,
``two_layer``). Per point (``phase="point"``): ``test_loss`` (test MSE / ``E[h^2]``);
for the three-layer network ``feature_corr`` (``|corr(f, p)|`` on the test points),
``hermite_corr`` (``|corr(P_k f, p)|``, exact from the weights) and, layerwise,
``stein_error`` (``||P_k f - E[g'(Z)] p||``) and ``stage1_test_loss`` (the feature alone
as predictor); for the kernel the chosen ``ridge``. Progress (``phase="train"``):
``train_loss`` and ``probe_loss`` every ``record_every`` Adam steps, ``val_loss`` per
kernel ridge. Arrays: ``curve_*`` (the current fit's training curve), ``scatter_*`` and
``link_*`` (learned feature against p; the fitted link).

Final record (coordinate ``n`` = the largest n): ``three_layer_test_loss``,
``kernel_test_loss``, ``two_layer_test_loss`` (means over trials, with ``*_se``) and
``feature_corr``, ``hermite_corr``, ``stein_error``, ``stage1_test_loss``; arrays
``sweep_n``, ``<model>_test_loss_mean``/``_se``, ``feature_corr_mean``.

Test points: how many follows from the exact fourth moment. The null predictor's test
MSE has relative standard error ``sqrt((E[h^4] - 1)/N)`` (``context`` of the theory):
the default target (d = 16, k = 2, E[h^4] = 194) gets 2^15 points, 7.7%; the paper's
cubic target (d = 16, k = 3, E[h^4] = 21392) gets 2^21, 10% (with the spec's 2*10^4
points the error would be 100% and the typical estimate far below the truth: the
sample variance of h came out at 0.67). Each point also reports ``test_loss_se``, the
SE of its own estimate; losses are divided by the exact ``E[h^2] = 1``, never by a
sample variance that heavy tails bias low.
"""

from orthoviz.hierarchical.config import Hierarchical
from orthoviz.hierarchical.data import LINKS, Feature, Target, make_feature, make_target
from orthoviz.hierarchical.metrics import (
    degree_k_projection,
    feature_correlation,
    relative_mse,
    stein_alignment,
)
from orthoviz.hierarchical.theory import (
    degree_energies,
    kernel_plateau,
    layerwise_limits,
    scales,
)

__all__ = [
    "LINKS",
    "Feature",
    "Hierarchical",
    "Target",
    "degree_energies",
    "degree_k_projection",
    "feature_correlation",
    "kernel_plateau",
    "layerwise_limits",
    "make_feature",
    "make_target",
    "relative_mse",
    "scales",
    "stein_alignment",
]
