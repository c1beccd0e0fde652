"""The registered ``hierarchical`` experiment: parameters, presets, run and theory."""

from __future__ import annotations

import math

import param

from orthoviz.hierarchical import theory as th
from orthoviz.hierarchical.data import LINKS, canonical_feature, make_target
from orthoviz.hierarchical.model import sigma1_coeffs
from orthoviz.hierarchical.train import MODELS, chunks_per_point, run_sweep
from orthoviz.runtime import ConfigError, Experiment, register

_MODELS = list(MODELS)
_QUICK_ADAM = dict(steps=100, record_every=50, batch_size=128)


@register
class Hierarchical(Experiment):
    """Three-layer networks learn ``g(p(x))`` from about d^k samples; kernels need
    d^{kq} (Wang, Nichani, Lee, ICLR 2024, arXiv 2311.13774)."""

    key = "hierarchical"
    title = "Hierarchical polynomials: three-layer networks vs kernels"
    summary = ("Test loss and feature alignment against the sample size n for a "
               "three-layer network with a width-1 bottleneck, kernel ridge regression "
               "and a two-layer network; the network's middle layer learns the degree-k "
               "feature p from about d^k samples, then its outer layer learns g.")
    coords = ("n", "trial", "model")
    groups = {
        "data": ("d", "k", "g", "p_family", "basis", "terms", "n_over_dk", "test_size",
                 "validation_size"),
        "model": ("models", "training", "sigma1", "width1", "width2", "bias_df",
                  "two_layer_width"),
        "optimisation": ("stage2_fraction", "ridge1", "ridges2", "lr", "weight_decay",
                         "steps", "schedule", "batch_size", "kernel_ridges"),
        "run": ("trials",),
    }
    advanced = ("record_every",)
    _adam = [{"training": ("joint",), "models": ("three_layer",)},
             {"models": ("two_layer",)}]
    _layerwise = {"training": ("layerwise",), "models": ("three_layer",)}
    when = {"stage2_fraction": _layerwise, "ridge1": _layerwise, "ridges2": _layerwise,
            "bias_df": _layerwise, "lr": _adam, "weight_decay": _adam, "steps": _adam,
            "schedule": _adam, "batch_size": _adam, "record_every": _adam,
            "kernel_ridges": {"models": ("kernel",)},
            "two_layer_width": {"models": ("two_layer",)}}
    labels = {"d": "Input dimension d", "k": "Degree k", "g": "Link g",
              "p_family": "Feature family p", "terms": "Terms L", "n_over_dk": "n / d^k",
              "sigma1": "First activation σ1", "width1": "Width m1", "width2": "Width m2",
              "stage2_fraction": "Stage-2 share n2/n", "ridge1": "Stage-1 ridge",
              "ridges2": "Stage-2 ridges", "bias_df": "Bias Student-t dof",
              "lr": "Learning rate (Adam)", "steps": "Adam steps",
              "schedule": "Step-size schedule"}
    finite_metrics = ("test_loss", "train_loss")
    nonfinite_hint = "lower 'lr' (joint training) or raise 'ridge1'"
    #: measured by benchmarks/preset_seconds.py --cap 240 (CPU, one torch thread,
    #: seed 0) on a quiet 2-core x86-64 VM; paper_cubic was cut at 14% of its steps and
    #: extrapolated (the earlier 150-170 s were runs cut at 25 s on a busy machine)
    preset_seconds = {"smoke": 0.3, "default": 35, "joint": 48, "paper_cubic": 1180,
                      "failure_g_even": 34, "stein_bias": 35}
    preset_machine = "a 2-core CPU"
    presets = {
        "smoke": dict(d=8, n_over_dk=[1.0, 4.0], trials=2, test_size=2048,
                      validation_size=256, width2=64, two_layer_width=64,
                      kernel_ridges=[1e-3, 1e-1], **_QUICK_ADAM),
        "default": {},
        "joint": dict(training="joint", n_over_dk=[1.0, 2.0, 4.0, 8.0], trials=2, lr=1e-2,
                      width2=256, steps=3000, batch_size=256, record_every=100),
        "paper_cubic": dict(k=3, basis="coordinate", sigma1="monomial", training="joint",
                            n_over_dk=[0.25, 0.5, 1.0, 2.0, 4.0], trials=2, width2=1000,
                            steps=4000, batch_size=1024, record_every=200,
                            test_size=2**21, validation_size=4096),
        "failure_g_even": dict(g="square"),
        "stein_bias": dict(g="linear_square"),
    }

    # -- the target -----------------------------------------------------------------
    d = param.Integer(16, bounds=(2, 512), softbounds=(4, 48), doc="input dimension d")
    k = param.Integer(2, bounds=(2, 3), doc="degree k of the feature p")
    g = param.Selector(default="cubic", objects=list(LINKS),
                       doc="link g: cubic z^3, linear_square z+z^2 (Stein bias), square "
                           "z^2-1 (E[g'] = 0: fails), he3 z^3-3z (E[g'] = 0, but a 1/d "
                           "bias along p), linear z")
    p_family = param.Selector(default="hermite", objects=["hermite", "parity"],
                              doc="p = sum lam_i h_k(<q_i,x>) (k = 2: x^T A x - tr A) or a "
                                  "sum of sparse parities z_1...z_k")
    basis = param.Selector(default="haar", objects=["haar", "coordinate"],
                           doc="directions q_i of p: Haar-random or the coordinate axes")
    terms = param.Integer(0, bounds=(0, 100_000), softbounds=(0, 64),
                          doc="number L of independent pieces of p (0: as many as fit)")
    # -- the sweep ------------------------------------------------------------------
    n_over_dk = param.List(default=[0.5, 1.0, 2.0, 4.0, 8.0, 16.0], item_type=float,
                           bounds=(1, 32), doc="sample sizes n as multiples of d^k")
    models = param.List(default=list(_MODELS), item_type=str, bounds=(1, 3),
                        doc="models to fit: three_layer, kernel, two_layer")
    trials = param.Integer(3, bounds=(1, 100), softbounds=(1, 10),
                           doc="independent draws of target, data and networks")
    test_size = param.Integer(32768, bounds=(256, 4_194_304), softbounds=(4096, 131072),
                              doc="fresh test points per trial (heavy tails: >= 2^15)")
    validation_size = param.Integer(2048, bounds=(64, 65536), softbounds=(256, 8192),
                                    doc="fresh points choosing the kernel ridge")
    # -- the three-layer network ----------------------------------------------------
    training = param.Selector(default="layerwise", objects=["layerwise", "joint"],
                              doc="layerwise: Algorithm 1 (two ridge stages); joint: Adam "
                                  "on every layer (the paper's figure)")
    sigma1 = param.Selector(default="hermite", objects=["hermite", "monomial"],
                            doc="first activation: h_k (normalised Hermite) or z^k")
    width1 = param.Integer(0, bounds=(0, 65536), softbounds=(0, 4096),
                           doc="m1 first-layer units (0: auto, covers the degree-k space)")
    width2 = param.Integer(400, bounds=(1, 16384), softbounds=(16, 2048),
                           doc="m2 ReLU units on the bottleneck")
    stage2_fraction = param.Number(0.25, bounds=(0.05, 0.95), softbounds=(0.1, 0.5),
                                   doc="share n2/n of the samples used by stage 2")
    ridge1 = param.Number(1e-6, bounds=(0.0, 10.0), softbounds=(1e-8, 1e-2),
                          doc="stage-1 ridge (1/n)||Phi u - y||^2 + ridge1 ||u||^2")
    ridges2 = param.List(default=[1e-4, 1e-3, 1e-2, 1e-1, 1.0], item_type=float,
                         bounds=(1, 16), doc="stage-2 ridges tried on validation data")
    bias_df = param.Integer(5, bounds=(1, 100), softbounds=(2, 30),
                            doc="Student-t degrees of freedom of the stage-2 biases b")
    # -- Adam (joint training and the two-layer baseline) ----------------------------
    lr = param.Number(3e-3, bounds=(1e-6, 1.0), softbounds=(1e-4, 3e-2), doc="Adam step")
    weight_decay = param.Number(1e-4, bounds=(0.0, 1.0), softbounds=(0.0, 1e-2),
                                doc="Adam weight decay")
    steps = param.Integer(1000, bounds=(1, 1_000_000), softbounds=(100, 10_000),
                          doc="Adam steps per fit")
    schedule = param.Selector(default="cosine", objects=["cosine", "constant"],
                              doc="Adam step size: decayed to 0 along a cosine, or constant")
    batch_size = param.Integer(256, bounds=(0, 1_048_576), softbounds=(0, 4096),
                               doc="minibatch size (0: full batch)")
    record_every = param.Integer(50, bounds=(1, 100_000), softbounds=(10, 1000),
                                 doc="Adam steps between progress records")
    two_layer_width = param.Integer(256, bounds=(1, 16384), softbounds=(16, 2048),
                                    doc="hidden units of the two-layer baseline")
    # -- kernel ridge ---------------------------------------------------------------
    kernel_ridges = param.List(default=[1e-4, 1e-3, 1e-2, 1e-1], item_type=float,
                               bounds=(1, 16), doc="ridges (times n) tried on validation")

    # -- derived --------------------------------------------------------------------
    def sample_sizes(self) -> list[int]:
        """The n of the sweep: ``round(r d^k)`` for r in ``n_over_dk`` (sorted, >= 4)."""
        return sorted({max(4, int(round(r * self.d**self.k))) for r in self.n_over_dk})

    def sigma1_polynomial(self):
        return sigma1_coeffs(self.sigma1, self.k)

    def resolved_width1(self) -> int:
        """m1: as set, else 2 d^2 for k = 2 (about 4x the degree-2 dimension, spec
        Preset A/B), d^2 for joint k = 3 (the paper) and 1.5x the dimension of the
        polynomials sigma1 spans for layerwise k = 3 (stage 1 must span them)."""
        if self.width1:
            return self.width1
        if self.k == 2:
            return 2 * self.d**2
        if self.training == "joint":
            return self.d**2
        degrees = th.sigma1_degrees(self.sigma1_polynomial(), self.k)
        dim = sum(math.comb(self.d + j - 1, j) for j in degrees)
        return int(math.ceil(1.5 * dim))

    def target(self):
        """The seed-free representative target (every exact constant as in a run)."""
        return make_target(canonical_feature(self.p_family, self.k, self.d, self.terms),
                           self.g)

    def stein_coefficient(self) -> float:
        return self.target().stein_coefficient()

    # -- protocol -------------------------------------------------------------------
    def validate(self) -> None:
        bad = [m for m in self.models if m not in MODELS]
        if bad or len(set(self.models)) != len(self.models):
            raise ConfigError("models", self.models, "distinct names among " + ", ".join(MODELS))
        if any(r <= 0 for r in self.n_over_dk):
            raise ConfigError("n_over_dk", self.n_over_dk, "positive numbers")
        s = 1 if self.p_family == "hermite" else self.k
        if (self.terms or self.d // s) * s > self.d or self.d < s:
            raise ConfigError("terms", self.terms, f"0 or at most d // {s} = {self.d // s}")
        for name in ("kernel_ridges", "ridges2"):
            if any(r <= 0 for r in getattr(self, name)):
                raise ConfigError(name, getattr(self, name), "positive numbers")
        if self.record_every > self.steps:
            raise ConfigError("record_every", self.record_every, f"at most steps = {self.steps}")

    def total_steps(self) -> int:
        per_point = sum(chunks_per_point(self, m) for m in self.models)
        return len(self.sample_sizes()) * self.trials * per_point + 1

    def problem_size(self) -> int:
        """Elements of the largest operand: the kernel matrix, else the first-layer
        activations (each fit then leases the threads its own size wants)."""
        n = self.sample_sizes()[-1]
        size = n * max(self.resolved_width1(), self.two_layer_width)
        return max(size, n * n if "kernel" in self.models else 0)

    def estimate_memory(self, device: str) -> tuple[int, str]:
        n, m1 = self.sample_sizes()[-1], self.resolved_width1()
        rows = min(self.test_size, 8192)
        kernel = 8 * (3 * n * n + rows * n) if "kernel" in self.models else 0
        # float64 layerwise: units of n rows, the m1 x m1 system twice; Adam: activations
        net = 8 * (n * m1 + 2 * m1 * m1 + rows * m1) if self.training == "layerwise" \
            else 4 * 6 * n * (m1 + self.width2)
        data = 8 * (self.test_size + self.validation_size + n) * (self.d + 2) * self.trials
        return kernel + net + data, ("n_over_dk" if kernel >= net else "width1")

    def _theory(self) -> dict:
        """Layerwise large-n limits (``feature_corr``, ``hermite_corr``, ``stein_error``,
        ``stage1_test_loss``), the ``test_loss`` curve (kernel plateau, d^k and d^{kq}
        marks) and exact constants under ``context``."""
        target = self.target()
        plateau = th.kernel_plateau(target)
        out = {}
        if self.training == "layerwise":
            out.update(th.layerwise_limits(target, self.sigma1_polynomial()))
        out["test_loss"] = th.theory_curves(self.sample_sizes(), self.d, self.k, target.q,
                                            plateau)
        sc = th.scales(self.d, self.k, target.q)
        out["context"] = {
            "stein_coefficient": target.stein_coefficient(), "kernel_plateau": plateau,
            "scale_dk": sc["three_layer"], "scale_dkq": sc["kernel"], "q": target.q,
            "link": target.name, "fourth_moment": th.fourth_moment(target),
            "test_mse_relative_se": th.test_mse_relative_se(target, self.test_size),
            "energies": th.degree_energies(target)["energy"],
        }
        return out

    def _run(self, seed: int, device: str):
        yield from run_sweep(self, seed, device)
