"""Neural collapse in deep linear networks, balanced and imbalanced.

Reproduces Dang, Tran, Osher, Tran-The, Ho, Nguyen, "Neural Collapse in Deep Linear
Networks: From Balanced to Imbalanced Data", ICML 2023 (arXiv 2301.00437): trained with
weight decay to the terminal phase, the free features and the (product) classifier of a
deep linear head collapse to the closed-form geometry of ``theory.predicted_geometry``:
an orthogonal frame (balanced, bias-free MSE), a class-size-dependent orthogonal frame
(imbalanced MSE; small classes can collapse to zero) or a simplex ETF (bias, CE).

Experiment ``neural-collapse`` (:class:`NeuralCollapse`). Record scalars:

- ``loss`` = ``objective`` (the regularised objective), ``data_loss``, ``accuracy``;
- headline pairing (free features H_1 with the product W_M...W_1): ``nc1``,
  ``nc1_quotient``, ``nc2_features``, ``nc2_classifier``, ``nc3``, ``nc4``,
  ``equinorm_*``, ``equiangularity_*``; other layers ``nc1_layer2``, ... (H_j with
  W_M...W_j);
- against the prediction: ``objective_gap`` (F_GD - F*), ``norm_rel_error_classifier``,
  ``norm_rel_error_features``, ``gram_rel_error_*`` (relative to the predicted size;
  absolute when the prediction is the trivial point, all zero), ``bias_error`` (with bias),
  ``balancedness``, ``n_collapsed``, ``rank_classifier``;
- final record only: ``at_optimum``, ``trivial_point``, ``local_minimum`` (0/1) and
  notes that explain them.

Arrays (snapshots): ``means_3d``, ``classifier_3d``, ``gram_features``,
``gram_classifier``, ``classifier_norm_sq``, ``feature_mean_norm_sq``, ``survives``.

Checked by ``tests/neural_collapse/``.
"""

from orthoviz.neural_collapse.config import NeuralCollapse
from orthoviz.neural_collapse.theory import critical_decay, predicted_geometry

__all__ = ["NeuralCollapse", "critical_decay", "predicted_geometry"]
