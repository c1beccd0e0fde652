"""The two registered experiments: ``deep-cg-train`` (train a direction network) and
``deep-cg`` (race the solvers on one system). Parameters, presets, validation, theory;
the runs themselves are :func:`orthoviz.deep_cg.train.run_training` and
:func:`orthoviz.deep_cg.race.run_race`."""

from __future__ import annotations

import json

import numpy as np
import param

from orthoviz.deep_cg import theory as th
from orthoviz.deep_cg.flags import DOMAINS, FREE_SURFACE
from orthoviz.deep_cg.metrics import flags_image
from orthoviz.deep_cg.systems import RHS_KINDS, PoissonSystem, poisson_system
from orthoviz.runtime import ConfigError, Experiment, register

#: the race's solver names: the classical PCGs, DCDM with the chosen network and depth,
#: DCDM keeping every direction, the packaged variants, and q = r (CG in disguise)
SOLVERS = ("cg", "jacobi", "ic", "amg", "dcdm", "dcdm_all", "dcdm_geometry", "identity")
PACKAGED_VARIANTS = {"dcdm_geometry": "packaged:dcdm2d_geometry"}


@register
class DeepCGTrain(Experiment):
    """Train the DCDM network (Kaneda et al., ICML 2023) on Ritz-weighted right-hand sides."""

    key = "deep-cg-train"
    title = "Deep conjugate directions: training"
    summary = ("Train a CNN that maps a residual to a search direction with the "
               "scale-invariant loss on Ritz-weighted right-hand sides, then compare it "
               "with the packaged network inside DCDM.")
    presets = {
        "smoke": {"grid": 16, "lanczos_steps": 60, "steps": 20, "val_every": 10,
                  "eval_grid": 16, "eval_maxiter": 60},
        "default": {},
        # the command that produced the packaged networks (see artifacts/*.json)
        "packaged": {"steps": 3000, "lr_decay": True, "compare_with": ""},
        "packaged_geometry": {"grid": 64, "batch": 8, "steps": 2000, "lr_decay": True,
                              "geometry": True, "domains": ["water", "open_top", "box"],
                              "eval_domain": "water", "compare_with": ""},
        # the paper's 3-D settings (GPU): 64^3 box, m = 10,000, Adam 1e-4, batch 10
        "paper_3d": {"dim": 3, "grid": 64, "lanczos_steps": 10_000, "lr": 1e-4, "batch": 10,
                     "steps": 40_000, "eval_grid": 64, "compare_with": ""},
    }
    #: measured by benchmarks/preset_seconds.py (CPU, seed 0; a run cut at 25 s
    #: extrapolated from its share of steps) on a 2-core x86-64 VM shared with
    #: other jobs: pessimistic
    preset_seconds = {"smoke": 4.9, "default": 47}
    preset_machine = "a 2-core CPU"
    finite_metrics = ("loss",)
    nonfinite_hint = "lower the learning rate"
    coords = ("domain", "network", "iteration")
    groups = {
        "data": ("dim", "grid", "domains", "lanczos_steps", "weight", "low_fraction",
                 "val_size"),
        "model": ("network", "arch", "levels", "geometry"),
        "optimisation": ("steps", "batch", "lr", "lr_decay"),
        "run": ("eval_grid", "eval_domain", "eval_maxiter", "compare_with"),
    }
    advanced = ("val_every",)
    when = {"arch": {"network": ("dcdm",)}, "levels": {"network": ("multilevel",)}}
    labels = {"dim": "Dimension", "grid": "Grid side N", "weight": "Ritz weight",
              "low_fraction": "Weighted fraction", "steps": "Adam steps",
              "lr_decay": "Cosine decay", "batch": "Batch (right-hand sides)",
              "eval_grid": "Test grid side", "eval_domain": "Test domain",
              "eval_maxiter": "Test iteration cap", "compare_with": "Compare with",
              "geometry": "Geometry masks", "levels": "U-Net levels",
              "arch": "CNN depth"}
    #: wall-clock scalars (by suffix): the machine's, not the seed's
    timing_metrics = ("seconds", "wall_s")

    dim = param.Integer(default=2, bounds=(2, 3), doc="Grid dimension (2 or 3)")
    grid = param.Integer(default=32, bounds=(4, 256), softbounds=(8, 128),
                         doc="Training grid side N (N^dim cells)")
    network = param.Selector(default="dcdm", objects=["dcdm", "multilevel"],
                             doc="The paper's CNN, or the multilevel U-Net variant")
    arch = param.Selector(default="from64", objects=["from64", "from128"],
                          doc="Depth of the paper's CNN (its 64^3 or 128^3 model)")
    levels = param.Integer(default=3, bounds=(1, 8), doc="Poolings of the multilevel net")
    geometry = param.Boolean(default=False, doc="Also feed the FLUID/AIR masks to the net")
    domains = param.List(default=["box"], item_type=str, bounds=(1, 8),
                         doc="Training domains (the paper: the closed box only)")
    lanczos_steps = param.Integer(default=400, bounds=(2, 20_000), softbounds=(50, 2000),
                                  doc="Lanczos steps m per domain (Ritz vectors)")
    weight = param.Number(default=9.0, bounds=(1.0, 100.0), softbounds=(1.0, 20.0),
                          doc="Coefficient weight of the low Ritz vectors (paper: 9)")
    low_fraction = param.Number(default=0.55, bounds=(0.0, 1.0),
                                doc="Fraction of Ritz vectors weighted (paper: m/2 + 5%)")
    steps = param.Integer(default=300, bounds=(1, 1_000_000), softbounds=(50, 5000),
                          doc="Adam steps")
    batch = param.Integer(default=16, bounds=(1, 1024), softbounds=(1, 64),
                          doc="Right-hand sides per step")
    lr = param.Number(default=1e-3, bounds=(1e-7, 1.0), softbounds=(1e-5, 1e-2),
                      doc="Adam learning rate (paper 1e-4; 1e-3 for short runs)")
    lr_decay = param.Boolean(default=False, doc="Cosine decay of the rate to lr/20")
    val_size = param.Integer(default=64, bounds=(1, 4096), doc="Fixed validation vectors")
    val_every = param.Integer(default=50, bounds=(1, 100_000), doc="Steps between validations")
    eval_grid = param.Integer(default=64, bounds=(4, 512), softbounds=(16, 256),
                              doc="Grid side of the after-training DCDM test")
    eval_domain = param.Selector(default="disk", objects=list(DOMAINS),
                                 doc="Domain of the after-training DCDM test")
    eval_maxiter = param.Integer(default=200, bounds=(1, 100_000),
                                 doc="Iteration cap of the after-training test")
    compare_with = param.String(default="packaged:dcdm2d",
                                doc="Network to compare with ('' for none)")

    def validate(self) -> None:
        bad = [d for d in self.domains if d not in DOMAINS]
        if bad:
            raise ConfigError("domains", bad[0], "one of " + ", ".join(DOMAINS))
        if self.compare_with:
            from orthoviz.deep_cg.weights import architecture, describe, resolve

            meta = describe(resolve(self.compare_with, "compare_with"))
            if architecture(meta)["dim"] != self.dim:
                raise ConfigError("compare_with", self.compare_with,
                                  f"a {self.dim}-D network, or '' for none")

    def problem_size(self) -> int:
        return self.batch * self.grid**self.dim * 16  # the widest activation

    def estimate_memory(self, device: str) -> tuple[int, str]:
        cells = self.grid**self.dim
        ritz = 8 * cells * self.lanczos_steps * (2 + len(self.domains))  # V, Y, grids
        activations = 4 * self.batch * cells * 16 * 40  # ~40 stored 16-channel maps
        return ritz + activations, "lanczos_steps"

    def total_steps(self) -> int:
        return len(self.domains) + self.steps + 1

    def _theory(self) -> dict:
        """The exact spectrum of the first training matrix (closed form for the box,
        dense below 4,096 unknowns): what the Ritz values approximate."""
        shape = (self.grid,) * self.dim
        if self.domains[0] == "box":
            lam = th.box_spectrum(shape)[1:]  # the null eigenvalue is dropped, as in 3.1
        else:
            s = poisson_system(shape, self.domains[0])
            if s.n > 4096:
                return {}
            lam = np.linalg.eigvalsh(s.A.toarray())[len(s.closed_components):]
        return {"ritz_values": lam}

    def _run(self, seed: int, device: str):
        from orthoviz.deep_cg.train import run_training

        yield from run_training(self, seed, device)


@register
class DeepCG(Experiment):
    """Race CG, Jacobi/IC(0)/AMG-PCG and DCDM on one pressure-Poisson system."""

    key = "deep-cg"
    title = "Deep conjugate directions: the solver race"
    summary = ("Solve one pressure-Poisson system with CG, preconditioned CG and the "
               "deep conjugate-direction method side by side: residual against iteration "
               "and wall time, residual and search-direction images, A-orthogonality.")
    presets = {
        "smoke": {"grid": 16, "solvers": ["cg", "amg", "dcdm"], "maxiter": 300},
        "default": {},
        "free_surface": {"domain": "water", "solvers": ["cg", "amg", "dcdm", "dcdm_all",
                                                        "dcdm_geometry"]},
        "all_solvers": {"solvers": list(SOLVERS)},
        "large": {"grid": 256, "solvers": ["cg", "ic", "amg", "dcdm"], "maxiter": 5000,
                  "snapshot_every": 20},
    }
    #: measured by benchmarks/preset_seconds.py (CPU, seed 0; a run cut at 25 s
    #: extrapolated from its share of steps) on a 2-core x86-64 VM shared with
    #: other jobs: pessimistic
    preset_seconds = {"smoke": 0.3, "default": 1, "free_surface": 15, "all_solvers": 3.1}
    preset_machine = "a 2-core CPU"
    finite_metrics = ("residual",)
    nonfinite_hint = "this solver diverged"
    coords = ("solver", "iteration")
    groups = {
        "data": ("dim", "grid", "domain", "domain_seed", "rhs"),
        "model": ("solvers", "depth", "weights", "safeguard"),
        "optimisation": ("tol", "maxiter"),
    }
    advanced = ("snapshot_every", "window")
    _dcdm = {"solvers": ("dcdm", "dcdm_all", "dcdm_geometry")}
    when = {"domain_seed": {"domain": ("boxes", "blobby")}, "depth": _dcdm,
            "safeguard": _dcdm, "weights": {"solvers": ("dcdm", "dcdm_all")}}
    labels = {"dim": "Dimension", "grid": "Grid side N", "domain_seed": "Domain seed",
              "depth": "DCDM depth", "weights": "DCDM network",
              "safeguard": "DCDM safeguard", "window": "A-orthogonality window",
              "snapshot_every": "Images every"}
    timing_metrics = ("wall_s",)

    dim = param.Integer(default=2, bounds=(2, 3), doc="Grid dimension (2 or 3)")
    grid = param.Integer(default=64, bounds=(2, 1024), softbounds=(16, 512),
                         doc="Grid side N (N^dim cells)")
    domain = param.Selector(default="disk", objects=list(DOMAINS),
                            doc="Domain: closed (box, disk, boxes, blobby) or free surface")
    domain_seed = param.Integer(default=0, bounds=(0, 1_000_000),
                                doc="Seed of the random domains (boxes, blobby)")
    rhs = param.Selector(default="plume", objects=list(RHS_KINDS),
                         doc="Right-hand side: plume, white noise, A x known, or a smoke frame")
    solvers = param.List(default=["cg", "ic", "amg", "dcdm"], item_type=str, bounds=(1, 8),
                         doc="Solvers in the race: " + ", ".join(SOLVERS))
    depth = param.Integer(default=2, bounds=(-1, 500), softbounds=(-1, 32),
                          doc="DCDM orthogonalisation depth (-1: all directions)")
    weights = param.String(default="packaged:dcdm2d",
                           doc="DCDM network: packaged:<name> or a deep-cg-train run folder")
    safeguard = param.Number(default=1e-3, bounds=(0.0, 1.0),
                             doc="DCDM falls back to a CG step below this relative drop")
    tol = param.Number(default=1e-4, bounds=(1e-13, 0.5), softbounds=(1e-10, 1e-2),
                       doc="Stop at this true relative residual")
    maxiter = param.Integer(default=2000, bounds=(1, 100_000), softbounds=(10, 5000),
                            doc="Iteration cap per solver")
    snapshot_every = param.Integer(default=5, bounds=(1, 10_000),
                                   doc="Iterations between residual/direction images")
    window = param.Integer(default=8, bounds=(2, 64),
                           doc="Directions in the A-orthogonality matrix")

    def validate(self) -> None:
        bad = [s for s in self.solvers if s not in SOLVERS]
        if bad:
            raise ConfigError("solvers", bad[0], "one of " + ", ".join(SOLVERS))
        from orthoviz.deep_cg.weights import architecture, describe, resolve

        for s in self.solvers:
            if s in ("dcdm", "dcdm_all") or s in PACKAGED_VARIANTS:
                ref = PACKAGED_VARIANTS.get(s, self.weights)
                meta = describe(resolve(ref, "weights" if ref == self.weights else "solvers"))
                if architecture(meta)["dim"] != self.dim:
                    raise ConfigError("weights", ref, f"a {self.dim}-D network (train one: "
                                      f"orthoviz run deep-cg-train --set dim={self.dim})")
        if self.dim == 3 and self.rhs == "smoke":
            raise ConfigError("rhs", "smoke", "plume, noise or known in 3-D (the smoke "
                              "simulation is 2-D)")
        if self.dim == 3 and self.grid > 128:
            raise ConfigError("grid", self.grid, "at most 128 in 3-D (2.1M unknowns)")

    def problem_size(self) -> int:
        return self.grid**self.dim

    def estimate_memory(self, device: str) -> tuple[int, str]:
        n = self.grid**self.dim
        kept = self.maxiter if "dcdm_all" in self.solvers or self.depth < 0 else 16
        return 8 * n * (2 * kept + 40) + 4 * n * 16 * 40, "grid"

    def total_steps(self) -> int:
        return len(self.solvers) * (self.maxiter + 2) + 1

    def system(self) -> PoissonSystem:
        """The configured system, built once per (dim, grid, domain, domain_seed)."""
        key = json.dumps([self.dim, self.grid, self.domain, self.domain_seed])
        cached = self.__dict__.get("_system_cache")
        if cached is None or cached[0] != key:
            cached = (key, poisson_system((self.grid,) * self.dim, self.domain, self.domain_seed))
            self.__dict__["_system_cache"] = cached
        return cached[1]

    def _theory(self) -> dict:
        """CG's A-norm error bound from the condition number, and the flags."""
        s = self.system()
        lo, hi = th.extreme_eigenvalues(s)
        kappa = hi / lo
        k_tol = th.cg_iterations_bound(kappa, self.tol)
        ks = np.arange(0, min(self.maxiter, 2 * k_tol) + 1)
        return {
            "error_a": {"iteration": ks, "solver": np.array(["cg"] * ks.size),
                        "error_a": th.cg_error_bound(kappa, ks)},
            "context": {"flags": flags_image(s.flags), "n": s.n, "lambda_min": lo,
                        "lambda_max": hi, "condition_number": kappa,
                        "cg_iterations_bound": k_tol, "singular": s.singular,
                        "free_surface": self.domain in FREE_SURFACE},
        }

    def _run(self, seed: int, device: str):
        from orthoviz.deep_cg.race import run_race

        yield from run_race(self, seed, device)
