"""The ``deep-cg`` run: every chosen solver on one system, advancing together.

Each solver is one stream of records with coordinates ``{"solver", "iteration"}``,
wrapped in :func:`orthoviz.runtime.streams.guarded` so that a solver that fails or
diverges ends only its own stream; the streams are interleaved one record at a time, so
a live view shows the race. Wall times are each solver's own (setup, network inference
and true-residual checks included; the A-norm error and the images are not).

Record scalars (phase ``iter``): ``residual`` (relative, true at checks),
``error_a`` (relative A-norm error against a reference solution), ``wall_s``;
arrays ``residual_<solver>``, ``direction_<solver>`` (images) and ``aorth_<solver>``
(A-orthogonality of the last ``window`` directions) every ``snapshot_every`` steps.
Per solver at the end (phase ``solved``): ``iterations``, ``final_residual`` (true),
``wall_s``, ``converged``, ``fallbacks``. Final: the same per solver as
``<solver>_iterations``, ``<solver>_residual``, ``<solver>_wall_s``, plus ``n_unknowns``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import numpy as np

from orthoviz.deep_cg.metrics import a_orthogonality, field_image, relative_residual
from orthoviz.deep_cg.solvers import iterate, solve
from orthoviz.runtime.record import FAILED, FINAL, Record
from orthoviz.runtime.streams import guarded, interleave

DIVERGED = 1e10  # a relative residual above this counts as divergence


def _solver_options(exp, name: str, system, device: str) -> tuple[str, dict]:
    from orthoviz.deep_cg.config import PACKAGED_VARIANTS

    if name in ("cg", "jacobi", "ic", "amg"):
        opts = {}
        if name == "ic":  # raster order: the sum of grid coordinates is a valid wavefront
            opts["levels"] = np.indices(system.shape).sum(axis=0)[system.fluid]
        return name, opts
    if name == "identity":
        from orthoviz.deep_cg.dcdm import identity_direction

        return "dcdm", {"direction": identity_direction, "depth": 2, "safeguard": 0.0}
    depth = None if name == "dcdm_all" or exp.depth < 0 else exp.depth
    return "dcdm", {"system": system, "depth": depth, "safeguard": exp.safeguard,
                    "device": device, "network": PACKAGED_VARIANTS.get(name, exp.weights)}


def _stream(exp, name: str, system, b, x_star, device: str, counter) -> Iterator[Record]:
    method, opts = _solver_options(exp, name, system, device)
    gen = iterate(system.A, b, method, tol=exp.tol, maxiter=exp.maxiter, x_true=x_star,
                  **opts)
    P, AP = deque(maxlen=exp.window), deque(maxlen=exp.window)
    last, fallbacks = None, 0
    for it in gen:
        if not np.isfinite(it.residual) or it.residual > DIVERGED:
            raise FloatingPointError(f"relative residual {it.residual:.3g}: diverged")
        last, fallbacks = it, fallbacks + it.fallback
        if it.p is not None:
            P.append(it.p)
            AP.append(it.Ap)
        arrays = None
        if it.iteration % exp.snapshot_every == 0 or it.converged or it.iteration == exp.maxiter:
            arrays = {f"residual_{name}": field_image(system, it.r),
                      f"aorth_{name}": a_orthogonality(list(P), list(AP)).astype(np.float32)}
            if it.p is not None:
                arrays[f"direction_{name}"] = field_image(system, it.p)
        scalars = {"residual": it.residual, "error_a": it.error_a, "wall_s": it.wall}
        yield Record(next(counter), "iter", scalars, arrays,
                     coords={"solver": name, "iteration": it.iteration})
    res = relative_residual(system.A, b, last.x)
    yield Record(next(counter), "solved",
                 {"iterations": float(last.iteration), "final_residual": res,
                  "wall_s": last.wall, "converged": float(res <= exp.tol),
                  "fallbacks": float(fallbacks)}, coords={"solver": name})


def _reference(system, b, x_known):
    """x* for the A-norm error: the known solution, else AMG-PCG to 1e-10 polished by
    CG to 1e-12 (the V-cycle of a closed, singular system stalls near 1e-9)."""
    if x_known is not None:
        return x_known
    x, _ = solve(system.A, b, "amg", tol=1e-10, maxiter=200)
    x, _ = solve(system.A, b, "cg", x0=x, tol=1e-12, maxiter=5000)
    return x


def run_race(exp, seed: int, device: str) -> Iterator[Record]:
    system = exp.system()
    exp.theory()  # cached: the flags and the CG bound belong to this run
    x_known = system.known_solution(seed) if exp.rhs == "known" else None
    b = system.A @ x_known if x_known is not None else system.rhs(exp.rhs, seed)
    x_star = _reference(system, b, x_known)
    counter = iter(range(exp.total_steps()))
    streams = [guarded(_stream(exp, name, system, b, x_star, device, counter),
                       {"solver": name}, ("residual",), exp.nonfinite_hint)
               for name in exp.solvers]
    results, failed = {}, []
    for rec in interleave(streams):
        if rec.phase == "solved":
            results[rec.coords["solver"]] = dict(rec.scalars)
        elif rec.phase == FAILED:
            failed.append(rec.coords["solver"])
            rec = Record(next(counter), FAILED, rec.scalars, rec.arrays, rec.notes,
                         rec.coords)
        yield rec
    scalars = {"n_unknowns": float(system.n)}
    for name, r in results.items():
        scalars[f"{name}_iterations"] = r["iterations"]
        scalars[f"{name}_residual"] = r["final_residual"]
        scalars[f"{name}_wall_s"] = r["wall_s"]
    yield Record(exp.total_steps(), FINAL, scalars, notes=_verdicts(exp, results, failed))


def _verdicts(exp, results: dict, failed: list[str]) -> tuple[str, ...]:
    notes = [f"{name} failed or diverged (its stream ended; the others went on)"
             for name in failed]
    for name, r in results.items():
        if not r["converged"]:
            notes.append(f"{name} did not reach tol {exp.tol:g} in {exp.maxiter} iterations "
                         f"(true residual {r['final_residual']:.2e})")
    if "amg" in results:
        amg = results["amg"]
        for name in ("dcdm", "dcdm_all", "dcdm_geometry"):
            if name in results and results[name]["converged"]:
                r = results[name]
                verdict = "loses to" if r["wall_s"] > amg["wall_s"] else "beats"
                notes.append(f"{name} {verdict} AMG-PCG in wall time: {r['iterations']:.0f} "
                             f"iterations in {r['wall_s']:.3f} s against "
                             f"{amg['iterations']:.0f} in {amg['wall_s']:.3f} s")
    return tuple(notes)
