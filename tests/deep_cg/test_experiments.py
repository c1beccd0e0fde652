"""The two experiments and the packaged networks: the issue's "done when" numbers, the
train -> solve pipeline, per-solver failure isolation and the CLI's JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from orthoviz.deep_cg import DeepCG, DeepCGTrain, solve
from orthoviz.deep_cg.dcdm import NetworkDirection, identity_direction
from orthoviz.deep_cg.systems import poisson_system
from orthoviz.deep_cg.weights import load_network, resolve
from orthoviz.runtime import ConfigError, artifacts

ROOT = Path(__file__).resolve().parents[2]


def _dcdm_iterations(ref, domain, depth, grid=64, maxiter=300):
    s = poisson_system((grid, grid), domain)
    b = s.rhs("plume", 0)
    x, info = solve(s.A, b, "dcdm", direction=NetworkDirection(load_network(ref, 2), s),
                    depth=depth, tol=1e-4, maxiter=maxiter)
    true = np.linalg.norm(b - s.A @ x) / np.linalg.norm(b)
    return info.iterations if info.converged and true <= 1e-4 else None


@pytest.mark.parametrize("domain", ("box", "disk", "boxes", "blobby"))
def test_packaged_network_needs_at_most_30_iterations_where_cg_needs_about_200(domain):
    k = _dcdm_iterations("packaged:dcdm2d", domain, depth=2)
    s = poisson_system((64, 64), domain)
    _, cg = solve(s.A, s.rhs("plume", 0), "cg", tol=1e-4)
    assert k is not None and k <= 30, k  # the bar (spec 5.2a: 21-25 on a GPU run)
    assert cg.iterations >= 180  # CG: 188-289 on these domains


def test_free_surface_needs_full_orthogonalisation_or_the_geometry_network():
    # the paper's network never saw an air cell: with depth 2 it stalls (spec 5.2a: the
    # cap), keeping every direction converges (spec: 32; measured 34); the network
    # that reads the flags converges with depth 2 (measured 114; CG needs 188)
    assert _dcdm_iterations("packaged:dcdm2d", "water", depth=2, maxiter=300) is None
    assert _dcdm_iterations("packaged:dcdm2d", "water", depth=None) <= 60
    assert _dcdm_iterations("packaged:dcdm2d_geometry", "water", depth=2) <= 150


def test_packaged_weights_are_small_and_say_how_they_were_made():
    for name in artifacts.packaged("deep_cg"):
        path = resolve(f"packaged:{name}")
        assert path.stat().st_size < 2 * 2**20
        meta = artifacts.provenance(path)
        assert {"command", "preset", "seed", "final"} <= set(meta), name
        assert "orthoviz run deep-cg-train" in meta["command"]
        assert meta["final"]["val_loss"] < 0.1


def test_identity_direction_in_the_race_costs_what_cg_costs():
    s = poisson_system((32, 32), "boxes")
    b = s.rhs("plume", 0)
    _, cg = solve(s.A, b, "cg", tol=1e-6)
    _, ident = solve(s.A, b, "dcdm", direction=identity_direction, depth=2, tol=1e-6)
    assert abs(cg.iterations - ident.iterations) <= 1


def test_race_reaches_tol_with_every_solver():
    exp = DeepCG.from_preset("default", grid=32, solvers=["cg", "jacobi", "ic", "amg", "dcdm",
                                                          "dcdm_all", "identity"])
    records = list(exp.run(seed=1, device="cpu"))
    solved = {r.coords["solver"]: r.scalars for r in records if r.phase == "solved"}
    assert set(solved) == set(exp.solvers)
    for name, sc in solved.items():
        assert sc["final_residual"] <= exp.tol, name  # the true residual, recomputed
    iters = [r for r in records if r.phase == "iter" and r.coords["solver"] == "dcdm"]
    errs = np.array([r.scalars["error_a"] for r in iters])
    assert np.all(np.diff(errs) <= 1e-12 * errs[:-1])  # exact line search: monotone
    final = records[-1]
    assert final.scalars["dcdm_iterations"] < final.scalars["cg_iterations"] / 4


def test_a_failing_solver_ends_only_its_own_stream(monkeypatch):
    def broken(self, r):
        raise RuntimeError("network exploded")

    monkeypatch.setattr(NetworkDirection, "__call__", broken)
    exp = DeepCG.from_preset("smoke")
    records = list(exp.run(seed=0, device="cpu"))
    failed = [r for r in records if r.phase == "failed"]
    assert [r.coords["solver"] for r in failed] == ["dcdm"]
    assert "network exploded" in failed[0].notes[0]
    solved = {r.coords["solver"] for r in records if r.phase == "solved"}
    assert solved == {"cg", "amg"}
    assert records[-1].phase == "final"


def test_configuration_errors_name_the_parameter():
    with pytest.raises(ConfigError, match="weights"):
        DeepCG.from_preset("smoke", weights="packaged:nope").validate()
    with pytest.raises(ConfigError, match="solvers"):
        DeepCG.from_preset("smoke", solvers=["cg", "gmres"]).validate()
    with pytest.raises(ConfigError, match="weights"):  # a 2-D network on a 3-D grid
        DeepCG.from_preset("smoke", dim=3, grid=8).validate()
    with pytest.raises(ConfigError, match="domains"):
        DeepCGTrain.from_preset("smoke", domains=["moon"]).validate()


def test_short_training_lowers_the_loss_and_beats_steepest_descent():
    import torch

    from orthoviz.deep_cg.model import build
    from orthoviz.deep_cg.train import build_data, init_weights, sample, scale_invariant_loss

    exp = DeepCGTrain.from_preset("smoke", steps=60)
    records = list(exp.run(seed=0, device="cpu"))
    losses = [r.scalars["val_loss"] for r in records if "val_loss" in r.scalars]
    assert losses[-1] < 0.6 * losses[0]
    net = build("dcdm", 2)
    net.load_state_dict(records[-1].artifacts["weights"])
    init = init_weights(build("dcdm", 2), torch.Generator().manual_seed(0))
    # one DCDM step from 0 on fresh Ritz-weighted vectors (the loss is exactly the
    # squared residual it leaves): the trained direction must beat steepest descent
    # (q = b, measured 0.64) and the initial network (1.03); it reaches ~0.24
    data = build_data((16, 16), ["box"], 60, np.random.default_rng(5))
    b, which = sample(data, 64, np.random.default_rng(6))
    op = data.op.select(torch.as_tensor(which))
    with torch.no_grad():
        one_step = {name: float(scale_invariant_loss(f, b, op).mean())
                    for name, f in [("sd", b), ("init", init(b)), ("trained", net(b))]}
    assert one_step["trained"] < 0.75 * min(one_step["sd"], one_step["init"]), one_step


def _run_to_folder(exp, root):
    """Run an experiment the way ``orthoviz run`` does (Runner + RunWriter)."""
    from orthoviz.runtime.runner import FINISHED, Runner
    from orthoviz.runtime.store import RunWriter

    writer = RunWriter(exp, 0, "cpu", root=root)
    runner = Runner(exp, 0, "cpu", writer=writer).start()
    runner.join(240)
    assert runner.status == FINISHED, runner.message
    return writer.path, runner.final


def test_a_training_run_folder_feeds_the_race(tmp_path):
    run_dir, _ = _run_to_folder(DeepCGTrain.from_preset("smoke"), tmp_path)
    assert (run_dir / "artifacts" / "weights.pt").is_file()
    _, final = _run_to_folder(DeepCG.from_preset("smoke", weights=str(run_dir)), tmp_path)
    for solver in ("cg", "amg", "dcdm"):
        assert {f"{solver}_iterations", f"{solver}_residual", f"{solver}_wall_s"} <= set(
            final.scalars)
    assert final.scalars["cg_residual"] <= 1e-4 and final.scalars["amg_residual"] <= 1e-4


@pytest.mark.slow
def test_cli_json_reports_every_solver(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", ORTHOVIZ_DEVICE="cpu")
    p = subprocess.run([sys.executable, "-m", "orthoviz.cli", "run", "deep-cg", "--preset",
                        "default", "--json", "--no-progress", "--out", str(tmp_path)],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    final = json.loads(p.stdout[p.stdout.index("{"):])["final"]
    for solver in DeepCG.from_preset("default").solvers:
        assert final[f"{solver}_residual"] <= 1e-4
        assert final[f"{solver}_iterations"] >= 1 and final[f"{solver}_wall_s"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("domain", ("box", "disk", "boxes", "blobby"))
def test_packaged_network_on_a_grid_four_times_larger(domain):
    # 128^2, trained on 32^2: measured 32-50 (spec 5.2a, GPU-trained: 34-49), CG 381-580;
    # iterations grow with the grid (64^2: 15-24): the receptive field is fixed
    k = _dcdm_iterations("packaged:dcdm2d", domain, depth=2, grid=128)
    assert k is not None and k <= 60
