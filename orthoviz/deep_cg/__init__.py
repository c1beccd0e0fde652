"""The deep conjugate-direction method (Kaneda, Akar, Chen, Kala, Hyde, Teran, "A Deep
Conjugate Direction Method for Iteratively Solving Linear Systems", ICML 2023,
arXiv 2205.10763) on pressure-Poisson systems of flagged 2-D and 3-D grids.

Public API
----------
- :class:`DeepCGTrain` (``deep-cg-train``) and :class:`DeepCG` (``deep-cg``): the
  registered experiments (train a network; race the solvers on one system).
- :func:`poisson_system`, :func:`from_flags`, :class:`PoissonSystem`, :func:`make_flags`:
  the systems (``A``, ``flags``, ``index``, ``rhs(kind, seed)``).
- :func:`solve`, :func:`iterate`: the solvers ``cg``, ``jacobi``, ``ic``, ``amg``,
  ``dcdm`` (SciPy-style, and as per-iteration streams); :func:`dcdm` itself.
- :func:`lanczos`, :func:`ritz_pairs`, :func:`ritz_rhs`: the Ritz training data.
- :class:`DCDMNet`, :class:`MultilevelNet`, :func:`load_network`: the networks.

Record scalars
--------------
``deep-cg-train``: phase ``lanczos`` (coords ``domain``): ``ritz_min``, ``ritz_max``,
``ritz_count``, array ``ritz_values``; phase ``train``: ``loss``, ``val_loss`` (every
``val_every`` steps), ``seconds``; phase ``eval`` (coords ``network``, ``iteration``):
``residual``, ``wall_s``; final: ``loss``, ``val_loss``, ``train_seconds``,
``train_cpu_seconds``, ``parameters``, ``eval_iterations``, ``eval_residual``,
``packaged_iterations``, and the ``weights`` artifact.

``deep-cg``: see :mod:`orthoviz.deep_cg.race`.
"""

from orthoviz.deep_cg.config import DeepCG, DeepCGTrain
from orthoviz.deep_cg.dcdm import NetworkDirection, dcdm, identity_direction
from orthoviz.deep_cg.flags import AIR, DOMAINS, FLUID, SOLID, make_flags
from orthoviz.deep_cg.model import DCDMNet, MultilevelNet
from orthoviz.deep_cg.solvers import iterate, solve
from orthoviz.deep_cg.spectral import lanczos, ritz_pairs, ritz_rhs
from orthoviz.deep_cg.systems import PoissonSystem, from_flags, poisson_system
from orthoviz.deep_cg.weights import load_network

__all__ = [
    "AIR",
    "DCDMNet",
    "DOMAINS",
    "DeepCG",
    "DeepCGTrain",
    "FLUID",
    "MultilevelNet",
    "NetworkDirection",
    "PoissonSystem",
    "SOLID",
    "dcdm",
    "from_flags",
    "identity_direction",
    "iterate",
    "lanczos",
    "load_network",
    "make_flags",
    "poisson_system",
    "ritz_pairs",
    "ritz_rhs",
    "solve",
]
