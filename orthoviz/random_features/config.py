"""The registered ``random-features`` experiment: parameters, presets, run, theory."""

from __future__ import annotations

import numpy as np
import param

from orthoviz.datasets import check_data
from orthoviz.random_features import theory as th
from orthoviz.random_features import train
from orthoviz.runtime import ConfigError, Experiment, register

_K_SWEEP = [8, 16, 32, 64, 128, 256, 512, 1000]
_L2_SWEEP = sorted({int(round(x)) for x in np.geomspace(10, 10_000, 31)})


@register
class RandomFeatures(Experiment):
    """Random-feature ridge regression vs the eigenframework (Simon et al., ICLR 2024)."""

    key = "random-features"
    title = "Random features: more is better"
    summary = ("Test risk of random-feature ridge regression against the number of "
               "features and samples, with the eigenframework's prediction; at the "
               "optimal ridge more features and more data never hurt.")
    presets = {
        "smoke": {"n_modes": 200, "n": 32, "sweep_values": [8, 32, 128], "trials": 2,
                  "test_size": 200, "theory_points": 12},
        "default": {},
        # the notebook's default: enough trials for a median theory error of a few %
        "teach": {"n_modes": 1000, "n": 128, "sweep_values": [8, 16, 32, 64, 128, 256, 512, 1000],
                  "ridges": [1e-3, 0.1, 1.0], "trials": 20, "test_size": 500},
        "gaussian_L1": {"n_modes": 2000, "n": 256,
                        "sweep_values": [16, 64, 128, 256, 512, 1024, 2000],
                        "ridges": [1e-3, 0.1, 1.0], "trials": 20, "test_size": 1000},
        "paper_gaussian": {"n_modes": 10_000, "n": 256, "sweep_values": _L2_SWEEP,
                           "ridges": [float(x) for x in np.logspace(-3, 2, 31)],
                           "trials": 10, "test_size": 1000},
        "digits_relu": {"spectrum": "digits", "feature_map": "relu", "noise_var": 0.0,
                        "n": 256, "sweep_values": [10, 32, 100, 256, 1000, 4000],
                        "ridges": [1e-3, 1e-2, 1e-1, 1.0], "trials": 8, "test_size": 500},
    }
    groups = {
        "data": ("spectrum", "alpha", "beta", "n_modes", "population", "data_dir",
                 "noise_var", "noise_rel", "test_size"),
        "model": ("feature_map", "k"),
        "optimisation": ("ridges",),
        "run": ("sweep", "sweep_values", "n", "trials"),
    }
    advanced = ("theory_points",)
    when = {"alpha": {"spectrum": ("powerlaw",)}, "beta": {"spectrum": ("powerlaw",)},
            "n_modes": {"spectrum": ("powerlaw",)},
            "population": {"spectrum": ("digits", "cifar10")},
            "data_dir": {"spectrum": ("cifar10",)},
            "n": {"sweep": ("k",)}, "k": {"sweep": ("n",)}}
    labels = {"alpha": "Eigenvalue decay α", "beta": "Target decay β",
              "n_modes": "Modes P", "noise_var": "Noise variance σ²",
              "noise_rel": "Relative extra noise", "n": "Samples n (fixed)",
              "k": "Features k (fixed)", "ridges": "Ridges δ",
              "sweep_values": "Swept values", "sweep": "Swept axis",
              "feature_map": "Random features"}
    #: measured by benchmarks/preset_seconds.py (CPU, seed 0; a run cut at 25 s
    #: extrapolated from its share of steps) on a 2-core x86-64 VM shared with
    #: other jobs: pessimistic
    preset_seconds = {"smoke": 0.6, "default": 3.9, "teach": 6.8, "gaussian_L1": 150}
    preset_machine = "a 2-core CPU"
    finite_metrics = ("test_risk", "train_risk")
    coords = ("trial", "n", "k", "ridge")
    nonfinite_hint = "raise the smallest ridge or move k away from n"

    spectrum = param.Selector(default="powerlaw", objects=["powerlaw", "digits", "cifar10"],
                              doc="Task eigenstructure: a powerlaw, or a data set's kernel")
    alpha = param.Number(default=1.5, bounds=(1.0, 8.0), inclusive_bounds=(False, True),
                         softbounds=(1.05, 4.0), doc="Eigenvalue decay: lambda_i = i^-alpha")
    beta = param.Number(default=1.5, bounds=(1.0, 17.0), inclusive_bounds=(False, True),
                        softbounds=(1.05, 4.0), doc="Target decay: v_i^2 = i^-beta")
    n_modes = param.Integer(default=1000, bounds=(10, 20_000), softbounds=(100, 10_000),
                            doc="Number of modes P of the powerlaw task")
    noise_var = param.Number(default=0.5, bounds=(0.0, 100.0), softbounds=(0.0, 2.0),
                             doc="Label-noise variance sigma^2 (absolute)")
    noise_rel = param.Number(default=0.0, bounds=(0.0, 1000.0), softbounds=(0.0, 50.0),
                             doc="Extra noise in units of the ridgeless noiseless KRR risk at n")
    sweep = param.Selector(default="k", objects=["k", "n"],
                           doc="Swept axis: number of features k or samples n")
    sweep_values = param.List(default=_K_SWEEP, item_type=int, bounds=(1, 64),
                              doc="Values of the swept axis (k or n)")
    n = param.Integer(default=128, bounds=(2, 20_000), softbounds=(16, 2048),
                      doc="Training samples n (fixed when sweeping k)")
    k = param.Integer(default=128, bounds=(1, 20_000), softbounds=(16, 2048),
                      doc="Random features k (fixed when sweeping n)")
    ridges = param.List(default=[1e-3, 0.1, 1.0], item_type=float, bounds=(1, 64),
                        doc="Ridges delta (unnormalised: K + delta I)")
    trials = param.Integer(default=4, bounds=(1, 500), softbounds=(1, 50),
                           doc="Independent draws of data and features")
    test_size = param.Integer(default=500, bounds=(10, 50_000), softbounds=(100, 2000),
                              doc="Test points per trial")
    feature_map = param.Selector(default="linear_gaussian",
                                 objects=["linear_gaussian", "relu"],
                                 doc="Random features: linear Gaussian or ReLU")
    population = param.Integer(default=1797, bounds=(100, 50_000), softbounds=(500, 10_000),
                               doc="Data-set points whose kernel defines the spectrum")
    data_dir = param.String(default="", doc="Folder holding CIFAR-10 (python release; "
                            "empty: ./data, or the server's data root)")
    theory_points = param.Integer(default=32, bounds=(4, 512), softbounds=(8, 128),
                                  doc="Points on the dense theory curves")

    # -- protocol --------------------------------------------------------------------
    def validate(self) -> None:
        if any(v < 1 for v in self.sweep_values):
            raise ConfigError("sweep_values", self.sweep_values, "positive integers")
        if any(r < 0 for r in self.ridges):
            raise ConfigError("ridges", self.ridges, "non-negative numbers")
        if self.feature_map == "relu" and self.spectrum == "powerlaw":
            raise ConfigError("feature_map", "relu", "linear_gaussian for a powerlaw",
                              "ReLU features need a data set (spectrum=digits)")
        if self.spectrum != "powerlaw":
            if self.spectrum == "digits" and self.population > 1797:
                raise ConfigError("population", self.population, "at most 1797 for digits")
            n_max = self.n if self.sweep == "k" else max(self.sweep_values)
            if self.feature_map == "relu" and n_max + self.test_size > self.population:
                raise ConfigError("test_size", self.test_size,
                                  f"at most population - n = {self.population - n_max}",
                                  "train and test points are drawn without replacement")
            check_data(self.spectrum, self.data_dir)  # allowed and present (not read)

    def _sizes(self) -> tuple[int, int, int]:
        n_max = self.n if self.sweep == "k" else max(self.sweep_values)
        k_max = self.k if self.sweep == "n" else max(self.sweep_values)
        return n_max + self.test_size, k_max, self.n_modes

    def total_steps(self) -> int:
        return self.trials * len(self.sweep_values) + 1

    def estimate_memory(self, device: str) -> tuple[int, str]:
        rows, k_max, P = self._sizes()
        P = P if self.spectrum == "powerlaw" else self.population
        # float64: data (rows x P), weights (P x k_max), features (rows x k_max), SVD
        need = 8 * (rows * P + P * k_max + 3 * rows * k_max)
        if self.spectrum != "powerlaw":
            need += 8 * 4 * self.population**2  # Gram matrix and eigenvectors
        return need, "sweep_values" if self.sweep == "k" else "n_modes"

    def _task(self):
        return train.build_task(self)

    def problem_size(self) -> int:
        rows, k_max, _ = self._sizes()
        return rows * k_max

    def _theory(self) -> dict:
        """Predicted test and train risk as curves over the swept axis (one per ridge,
        plus the optimal-ridge envelope labelled ``ridge = "optimal"``); the grids at
        the swept values, the phase diagram and the fitting-ratio curve under
        ``context`` (inputs of the panes, not run metrics)."""
        task = self._task()
        fixed = self.n if self.sweep == "k" else self.k
        g = th.sweep_theory(task.spec, task.noise_var, self.sweep, self.sweep_values,
                            fixed, self.ridges, self.theory_points,
                            task.population if self.feature_map == "relu" else None)
        fine, ridges = g["theory_sweep_fine"], g["ridges"]
        x = self.sweep

        def curve(metric: str, per_ridge: np.ndarray, optimal: np.ndarray | None) -> dict:
            xs = [fine] * len(ridges) + ([fine] if optimal is not None else [])
            by = [np.full(fine.size, r, dtype=object) for r in ridges]
            ys = list(per_ridge)
            if optimal is not None:
                by.append(np.full(fine.size, "optimal", dtype=object))
                ys.append(optimal)
            return {x: np.concatenate(xs), "ridge": np.concatenate(by),
                    metric: np.concatenate(ys)}

        context = {"theory_test": g["theory_test"], "theory_train": g["theory_train"],
                   "sweep_values": g["sweep_values"], "ridges": ridges,
                   "optimal_ridge_fine": g["theory_opt_ridge_fine"], "fine": fine,
                   "theory_opt_fine": g["theory_opt_fine"]}
        a, b = self.alpha, self.beta
        if task.exponents is not None:  # a data set: its measured exponents
            ex = task.exponents
            a, b = float(ex["alpha"]), float(ex["beta"])
            context.update(spectrum_eigenvalues=task.spec.eigenvalues,
                           spectrum_target=task.spec.target_coeffs_sq,
                           alpha_hat=a, beta_hat=b,
                           exponent_fit_range=np.asarray(ex["fit_range"], dtype=float))
        context.update(_continuum(a, b, self.noise_rel))
        return {"test_risk": curve("test_risk", g["theory_test_fine"], g["theory_opt_fine"]),
                "train_risk": curve("train_risk", g["theory_train_fine"], None),
                "context": context}

    def _run(self, seed: int, device: str):
        yield from train.run_sweep(self, self.theory()["context"], self._task(), seed,
                                   device)


def _continuum(alpha: float, beta: float, noise_rel: float) -> dict:
    """Powerlaw continuum: R* over an (alpha, beta) grid, the zero-ridge boundary, and
    the test risk against the fitting ratio at (alpha, beta) with its optimum."""
    a = np.linspace(1.05, 3.0, 60)
    b = np.linspace(1.02, 3.0, 60)
    R = np.linspace(0, 0.98, 200)
    r_star = float(th.optimal_fitting_ratio(alpha, beta, noise_rel))
    return {"phase_alpha": a, "phase_beta": b,
            "phase_r_star": th.optimal_fitting_ratio(a[None, :], b[:, None], noise_rel),
            "phase_boundary": a * (1 + (a - 1) * noise_rel),
            "continuum_alpha": alpha, "continuum_beta": beta,
            "fitting_ratio": R, "fitting_risk": th.powerlaw_test_risk(R, alpha, beta,
                                                                      noise_rel),
            "r_star": r_star,
            "risk_at_r_star": float(th.powerlaw_test_risk(r_star, alpha, beta, noise_rel))}
