"""Random-feature regression and "more is better" (Simon, Karkada, Ghosh, Belkin,
"More is Better in Modern Machine Learning: when Infinite Overparameterization is Optimal
and Overfitting is Obligatory", ICLR 2024, arXiv 2311.14646).

Public API
----------
- :class:`RandomFeatures` (registered as ``random-features``): the experiment/config.
- :func:`rf_risk`, :func:`spectrum_risk`: float64 RF eigenframework (k = inf is KRR).
- :func:`optimal_ridge`: test risk minimised over the ridge (with the ridge-0 boundary).
- Powerlaw continuum: :func:`powerlaw_test_risk`, :func:`optimal_fitting_ratio`,
  :func:`zero_ridge_threshold`, :func:`ridge_from_s`.
- :class:`Spectrum`, :func:`powerlaw_spectrum`, :func:`make_spectrum`.
- :func:`estimate_exponents`: alpha and beta of a kernel task.

Record scalars
--------------
Per (trial, sweep point), ``phase="trial"``: ``trial``, ``point``, ``n``, ``k``,
``ridge`` (the config ridge with the lowest theory risk at that point), ``test_risk`` and
``train_risk`` (this trial at that ridge), ``test_risk_min`` (over ridges),
``test_risk_mean``/``test_risk_se`` and ``train_risk_mean``/``train_risk_se`` (over the
trials so far), ``theory_test_risk``/``theory_train_risk``. Arrays: running grids
``test_mean``, ``test_se``, ``train_mean``, ``train_se`` (ridges x sweep values).

Final record: ``theory_rel_error_median``, ``theory_rel_error_max``,
``theory_within_tolerance`` (fraction of points with |exp - th| <= max(3%, 3 SE)),
``optimal_curve_monotone`` and ``theory_optimal_monotone`` (0/1), ``test_risk_best``,
``noise_var``, ``trials``; ``alpha_hat``/``beta_hat`` for a data set. Its arrays add the
theory grids of :meth:`RandomFeatures.theory`.
"""

from orthoviz.random_features.config import RandomFeatures
from orthoviz.random_features.data import Spectrum, make_spectrum, powerlaw_spectrum
from orthoviz.random_features.metrics import estimate_exponents
from orthoviz.random_features.theory import (
                                             optimal_fitting_ratio,
                                             optimal_ridge,
                                             powerlaw_test_risk,
                                             rf_risk,
                                             ridge_from_s,
                                             spectrum_risk,
                                             zero_ridge_threshold,
)

__all__ = [
    "RandomFeatures",
    "Spectrum",
    "estimate_exponents",
    "make_spectrum",
    "optimal_fitting_ratio",
    "optimal_ridge",
    "powerlaw_spectrum",
    "powerlaw_test_risk",
    "rf_risk",
    "ridge_from_s",
    "spectrum_risk",
    "zero_ridge_threshold",
]
