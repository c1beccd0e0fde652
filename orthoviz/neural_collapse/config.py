"""The neural-collapse experiment: its config (param), presets, run and theory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import param

from orthoviz.datasets import check_data
from orthoviz.neural_collapse.data import DATASETS, make_class_sizes
from orthoviz.neural_collapse.snapshot import predicted_frame_3d
from orthoviz.neural_collapse.theory import norms_vs_class_size
from orthoviz.neural_collapse.train import train
from orthoviz.runtime import ConfigError, Experiment, Record, register

_E = dict(n_classes=4, feature_dim=64, weight_decay=5e-4, feature_decay=5e-4,
          optimizer="sgd", lr=0.1, momentum=0.9, init_std=0.1, backbone="ufm",
          dtype="float64")


@register
class NeuralCollapse(Experiment):
    """Deep linear unconstrained-features model (and an MLP backbone) trained to the
    terminal phase; NC metrics per layer against the closed-form predicted geometry.

    Dang, Tran, Osher, Tran-The, Ho, Nguyen, "Neural Collapse in Deep Linear
    Networks: From Balanced to Imbalanced Data", ICML 2023 (arXiv 2301.00437).
    """

    key = "neural-collapse"
    title = "Neural collapse in deep linear networks"
    summary = ("Free features + M linear layers trained with weight decay collapse to an "
               "orthogonal frame (balanced), a class-size-dependent frame (imbalanced) or "
               "a simplex ETF (bias / CE); minority classes can collapse to zero.")
    finite_metrics = ("loss",)
    nonfinite_hint = ("lower the learning rate 'lr' (or 'init_std' for deep or wide "
                      "heads: the product of M layers explodes)")

    n_classes = param.Integer(4, bounds=(2, 1000), softbounds=(2, 10),
                              doc="K, number of classes")
    samples_per_class = param.Integer(100, bounds=(1, 100_000), softbounds=(2, 400),
                                      doc="n, samples of the largest class")
    imbalance_ratio = param.Number(1.0, bounds=(1.0, 1000.0), softbounds=(1.0, 20.0),
                                   doc="largest / smallest class size (1 = balanced)")
    imbalance_profile = param.Selector(
        default="step", objects=["step", "exponential"],
        doc="step: second half of the classes small; exponential: geometric decay")
    class_sizes = param.List(default=[], item_type=int, bounds=(0, 1000),
                             doc="explicit per-class sizes n_k (overrides the three above; "
                             "empty: not set)")
    feature_dim = param.Integer(64, bounds=(1, 8192), softbounds=(4, 256),
                                doc="d, width of the features and every hidden layer of the head")
    depth = param.Integer(3, bounds=(1, 12), softbounds=(1, 9),
                          doc="M, number of linear layers in the head (classifier last)")
    loss = param.Selector(default="mse", objects=["mse", "mse_bias", "ce"],
                          doc="mse (bias-free), mse_bias (unregularised last-layer bias) or ce")
    weight_decay = param.Number(5e-4, bounds=(0.0, 1.0), softbounds=(1e-5, 0.05),
                                doc="lambda_W, weight decay of every head layer")
    layer_decays = param.List(
        default=[], item_type=float, bounds=(0, 12),
        doc="per-layer lambda_W1..lambda_WM (overrides weight_decay; length = depth; "
        "empty: not set)")
    feature_decay = param.Number(5e-4, bounds=(0.0, 1.0), softbounds=(1e-5, 0.05),
                                 doc="lambda_H, decay of the features H_1")
    optimizer = param.Selector(default="sgd", objects=["sgd", "adam"], doc="full-batch optimiser")
    lr = param.Number(0.1, bounds=(1e-7, 10.0), softbounds=(1e-4, 0.5), doc="learning rate")
    momentum = param.Number(0.9, bounds=(0.0, 0.999), softbounds=(0.0, 0.99),
                            doc="SGD momentum (Adam beta1)")
    steps = param.Integer(4000, bounds=(1, 10_000_000), softbounds=(100, 30_000),
                          doc="full-batch iterations")
    init_std = param.Number(0.1, bounds=(1e-8, 10.0), softbounds=(1e-3, 1.0),
                            doc="std of the N(0, std^2) init of H_1 and every W_j")
    backbone = param.Selector(default="ufm", objects=["ufm", "mlp"],
                              doc="ufm: free features; mlp: a ReLU MLP computes H_1 from data")
    dataset = param.Selector(default="gaussian", objects=list(DATASETS),
                             doc="inputs of the mlp backbone (cifar10/emnist read data_dir)")
    data_dir = param.String(default="", doc="local folder with CIFAR-10 / EMNIST files "
                            "(empty: ./data, or the server's data root)")
    mlp_width = param.Integer(128, bounds=(1, 8192), softbounds=(16, 1024), doc="MLP hidden width")
    mlp_layers = param.Integer(2, bounds=(1, 12), softbounds=(1, 6), doc="MLP hidden layers")
    dtype = param.Selector(default="float64", objects=["float64", "float32"],
                           doc="training precision (float64 reaches the theory to 1e-6)")
    tf32 = param.Boolean(False, doc="float32 on CUDA: allow TF32 matmuls while training "
                         "(~1e-3 relative products, several times faster); metrics stay "
                         "float64")
    record_every = param.Integer(20, bounds=(1, 100_000), softbounds=(1, 500),
                                 doc="compute the NC metrics every this many steps")
    snapshot_every = param.Integer(200, bounds=(1, 1_000_000), softbounds=(10, 2000),
                                   doc="send geometry snapshots every this many steps")

    groups = {
        "data": ("n_classes", "samples_per_class", "imbalance_ratio", "imbalance_profile",
                 "class_sizes", "dataset", "data_dir"),
        "model": ("backbone", "feature_dim", "depth", "loss", "mlp_width", "mlp_layers",
                  "init_std"),
        "optimisation": ("optimizer", "lr", "momentum", "weight_decay", "layer_decays",
                         "feature_decay"),
        "run": ("steps",),
    }
    advanced = ("dtype", "tf32", "record_every", "snapshot_every")
    when = {"dataset": {"backbone": ("mlp",)}, "mlp_width": {"backbone": ("mlp",)},
            "mlp_layers": {"backbone": ("mlp",)},
            "data_dir": {"backbone": ("mlp",), "dataset": ("cifar10", "emnist")},
            "tf32": {"dtype": ("float32",)}}
    labels = {"n_classes": "Classes K", "samples_per_class": "Samples per class n",
              "feature_dim": "Feature width d", "depth": "Depth M (linear layers)",
              "weight_decay": "Weight decay λ_W", "feature_decay": "Feature decay λ_H",
              "layer_decays": "Per-layer decays", "momentum": "Momentum (Adam β1)",
              "init_std": "Init std", "mlp_layers": "MLP layers",
              "class_sizes": "Class sizes (override)"}

    #: measured by benchmarks/preset_seconds.py (CPU, seed 0; a run cut at 25 s
    #: extrapolated from its share of steps) on a 2-core x86-64 VM shared with
    #: other jobs: pessimistic
    preset_seconds = {"smoke": 11, "default": 58, "teach_imbalanced": 25, "balanced_E1": 200,
                      "imbalanced_E2": 370, "minority_collapse": 21, "digits_mlp": 37}
    preset_machine = "a 2-core CPU"
    presets = {
        "smoke": dict(n_classes=3, samples_per_class=10, feature_dim=8, depth=2, steps=60,
                      record_every=10, snapshot_every=30),
        "default": {},
        # the notebook's default: the E2 imbalance at width 16 and decay 2e-3 (init gain
        # ~1 per layer), float64; reaches the predicted optimum in ~10 s on a laptop CPU
        "teach_imbalanced": dict(class_sizes=[50, 25, 12, 12], feature_dim=16, depth=3,
                                 weight_decay=2e-3, feature_decay=2e-3, init_std=0.25,
                                 steps=5000, record_every=50, snapshot_every=500,
                                 dtype="float64"),
        "balanced_E1": dict(_E, samples_per_class=100, depth=3, steps=30_000,
                            record_every=100, snapshot_every=500),
        "imbalanced_E2": dict(_E, class_sizes=[200, 100, 50, 50], depth=3, steps=30_000,
                              record_every=100, snapshot_every=500),
        "minority_collapse": dict(_E, class_sizes=[200, 100, 50, 50], depth=1,
                                  weight_decay=0.02, feature_decay=0.02, steps=6000),
        "digits_mlp": dict(backbone="mlp", dataset="digits", n_classes=10,
                           samples_per_class=170, feature_dim=32, depth=3, loss="mse",
                           optimizer="adam", lr=2e-3, momentum=0.9, weight_decay=1e-4,
                           feature_decay=1e-4, init_std=0.15, dtype="float32", steps=1500,
                           mlp_width=128, mlp_layers=2, record_every=25, snapshot_every=250),
        "gpu_large": dict(n_classes=100, samples_per_class=50, feature_dim=512, depth=3,
                          lr=0.05, init_std=0.05, dtype="float32", tf32=True, steps=5000,
                          record_every=250, snapshot_every=1000),
    }

    # -- derived config -------------------------------------------------------
    def sizes(self) -> list[int]:
        """Per-class sample counts n_k."""
        return make_class_sizes(self.n_classes, self.samples_per_class, self.imbalance_ratio,
                                self.imbalance_profile, self.class_sizes)

    def decays(self) -> list[float]:
        """[lambda_W1, ..., lambda_WM]."""
        return list(self.layer_decays) if self.layer_decays else [self.weight_decay] * self.depth

    def validate(self) -> None:
        sizes = self.sizes()
        if self.class_sizes and len(self.class_sizes) != self.n_classes:
            raise ConfigError("class_sizes", self.class_sizes,
                              f"a list of n_classes={self.n_classes} positive integers")
        if any(n < 1 for n in sizes):
            raise ConfigError("class_sizes", sizes, "positive integers")
        if self.layer_decays and len(self.layer_decays) != self.depth:
            raise ConfigError("layer_decays", self.layer_decays,
                              f"empty or exactly depth={self.depth} values")
        if any(lam <= 0 for lam in self.decays()) or self.feature_decay <= 0:
            raise ConfigError("weight_decay", self.weight_decay,
                              "> 0 (with feature_decay > 0): without decay there is no "
                              "finite minimiser to predict")
        if self.loss != "mse" and len(set(sizes)) > 1:
            raise ConfigError("loss", self.loss, "mse for imbalanced classes (the bias "
                              "and CE cases are predicted for balanced data only)")
        if self.tf32 and self.dtype != "float32":
            raise ConfigError("tf32", self.tf32, "False unless dtype='float32' (TF32 "
                              "rounds float32 matmul inputs; float64 has no such mode)")
        if self.backbone == "mlp" and self.dataset == "digits" and self.n_classes > 10:
            raise ConfigError("n_classes", self.n_classes, "2..10 for dataset='digits'")
        if self.backbone == "mlp":  # a local folder: allowed and present, read at run
            check_data(self.dataset, self.data_dir)

    def total_steps(self) -> int:
        return self.steps

    def estimate_memory(self, device: str) -> tuple[int, str]:
        N, d, M = sum(self.sizes()), self.feature_dim, self.depth
        item = 8 if self.dtype == "float64" else 4
        # features, their gradient and optimiser state, per-layer activations, head;
        # at a record the float64 metric work arrays (features, residuals and their
        # projections, N x d; d x d balancedness products)
        feats = N * d * (M + 4) * item + 3 * N * d * 8
        head = M * d * d * 4 * item + 6 * d * d * 8
        backbone = 0
        if self.backbone == "mlp":
            backbone = N * self.mlp_width * (self.mlp_layers + 2) * 3 * item
        total = feats + head + backbone
        return total, ("samples_per_class" if feats >= head else "feature_dim")

    # -- protocol ---------------------------------------------------------------
    def problem_size(self) -> int:
        return sum(self.sizes()) * self.feature_dim * self.depth

    def _run(self, seed: int, device: str) -> Iterator[Record]:
        return train(self, seed, device)

    def geometry(self) -> dict[str, Any]:
        """The full closed-form prediction (:func:`theory.predicted_geometry`)."""
        from orthoviz.neural_collapse.theory import predicted_geometry

        return predicted_geometry(self.sizes(), self.depth, self.decays(),
                                  self.feature_decay, self.loss)

    def _theory(self) -> dict[str, Any]:
        """Predictions under the run's metric names (UFM; a backbone is UFM-like only
        when it can fit any features, so the values are a reference there)."""
        g = self.geometry()
        sizes = np.asarray(self.sizes(), float)
        grid = np.geomspace(max(1.0, sizes.min() / 4), sizes.max() * 2, 200)
        curve = norms_vs_class_size(grid, int(sizes.sum()), self.depth, self.decays(),
                                    self.feature_decay)
        means_3d, classifier_3d = predicted_frame_3d(g)
        return {
            "nc1": 0.0, "nc2_features": 0.0, "nc2_classifier": 0.0, "nc3": 0.0,
            "objective": float(g["objective"]), "objective_gap": 0.0,
            "n_collapsed": float(np.sum(~np.asarray(g["survives"]))),
            "classifier_norm_sq": np.asarray(g["classifier_norm_sq"]),
            "feature_mean_norm_sq": np.asarray(g["feature_mean_norm_sq"]),
            "gram_features": np.asarray(g["gram_features"]),
            "gram_classifier": np.asarray(g["gram_classifier"]),
            "means_3d": means_3d, "classifier_3d": classifier_3d,
            # what the minority-collapse pane draws beside the run (not a run metric)
            "context": {"norm_curve_sizes": grid,
                        **{f"norm_curve_{k}": np.asarray(v) for k, v in curve.items()}},
        }


__all__ = ["NeuralCollapse"]
