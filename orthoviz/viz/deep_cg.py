"""Views of the deep conjugate-direction experiments (Kaneda et al., ICML 2023):
``deep-cg`` (the solver race) and ``deep-cg-train`` (training the network).

Every number drawn comes from the runs' records, their arrays or the experiments'
cached theory (the domain flags, CG's bound, the exact spectrum); nothing here computes
a metric. Grids are stored with the height on axis 0 (index 0 at the bottom) and are
flipped for display.
"""

from __future__ import annotations

import numpy as np

from orthoviz.viz.curves import PALETTE
from orthoviz.viz.spec import Curves, Pane, Views, ViewState
from orthoviz.viz.style import plain_opts

FLAG_COLOURS = ["#6b6b6b", "#4c9be8", "#f4f4f4"]  # SOLID, FLUID, AIR
SIZE = {"width": 260, "height": 260}


def _value(row: dict, key: str):
    """A row's coordinate or scalar, whether rows are flat or nested."""
    if key in row:
        return row[key]
    for part in ("coords", "scalars"):
        if key in row.get(part, {}):
            return row[part][key]
    return None


def _rows(state: ViewState, phase: str) -> list[dict]:
    return [r for r in state.rows or [] if _value(r, "phase") == phase]


def _solvers(state: ViewState) -> list[str]:
    return list(getattr(state.config, "solvers", []))


def _colour(state: ViewState, solver: str) -> str:
    names = _solvers(state) or [solver]
    return PALETTE[names.index(solver) % len(PALETTE)] if solver in names else "black"


def _image(img, title: str, signed: bool = True, opts=plain_opts):
    """A field on the grid, scaled by its largest finite |value| (no colour bar: the
    pattern is the point, a residual's size is in the curves). Scaling the data, not
    the colour range, keeps a live pane's options the same from frame to frame."""
    import holoviews as hv

    img = np.flipud(np.asarray(img, dtype=float))  # row 0 is the bottom of the domain
    finite = img[np.isfinite(img)]
    m = float(np.max(np.abs(finite))) if finite.size else 0.0
    return opts(hv.Image(img / m if m > 0 else img, bounds=(0, 0, 1, 1)),
                cmap="RdBu_r" if signed else "viridis", clim=(-1.0 if signed else 0.0, 1.0),
                title=title, xaxis=None, yaxis=None, colorbar=False, **SIZE)


def _empty(text: str):
    import holoviews as hv

    return hv.Text(0.5, 0.5, text).opts(xaxis=None, yaxis=None, **SIZE)


# -- the race ----------------------------------------------------------------------
def domain_flags(state: ViewState):
    """The cell flags (solid grey, fluid blue, air white): theory only, at first paint."""
    import holoviews as hv

    ctx = (state.theory or {}).get("context", {})
    if "flags" not in ctx:
        return _empty("no domain yet")
    img = np.flipud(np.asarray(ctx["flags"], dtype=float))
    kappa = ctx.get("condition_number")
    title = f"{state.config.domain}: {ctx.get('n', '?')} unknowns"
    if kappa:
        title += f", κ ≈ {kappa:.3g}"
    return hv.Image(img, bounds=(0, 0, 1, 1)).opts(
        cmap=FLAG_COLOURS, clim=(0.5, 3.5), title=title, xaxis=None, yaxis=None,
        width=320, height=320)


def _per_solver(state: ViewState, prefix: str, title: str, signed: bool = True):
    import holoviews as hv

    opts = state.styles or plain_opts
    panels = [_image(state.arrays[f"{prefix}_{s}"], f"{s}: {title}", signed, opts)
              for s in _solvers(state) if f"{prefix}_{s}" in (state.arrays or {})]
    if not panels:
        return _empty(f"{title}: start a run")
    return hv.Layout(panels).cols(min(4, len(panels)))


def residual_images(state: ViewState):
    """Each solver's current residual on the grid: CG's is still rough where DCDM's
    has lost its smooth part."""
    return _per_solver(state, "residual", "residual")


def direction_images(state: ViewState):
    """Each solver's current search direction: the network's is smooth, like A^-1 r."""
    return _per_solver(state, "direction", "direction")


def a_orthogonality(state: ViewState):
    """|p_i·A p_j| / (||p_i||_A ||p_j||_A) of the last directions, log10: conjugate
    within the orthogonalisation window (~1e-16), not beyond it."""
    import holoviews as hv

    opts = state.styles or plain_opts
    panels = []
    for s in _solvers(state):
        C = (state.arrays or {}).get(f"aorth_{s}")
        if C is None or np.size(C) == 0:
            continue
        k = C.shape[0]
        img = np.log10(np.clip(np.asarray(C, dtype=float), 1e-16, None))
        panels.append(opts(hv.Image(np.flipud(img), bounds=(0.5, 0.5, k + 0.5, k + 0.5)),
                           cmap="magma", clim=(-16, 0), colorbar=True,
                           title=f"{s}: log10 A-cosines", xlabel="direction",
                           ylabel="direction", **SIZE))
    return hv.Layout(panels).cols(min(4, len(panels))) if panels else _empty(
        "A-orthogonality: start a run")


def residual_vs_wall(state: ViewState):
    """True relative residual against each solver's own wall time (setup and network
    inference included): the honest race."""
    import holoviews as hv

    opts = state.styles or plain_opts
    curves = []
    for s in _solvers(state):
        pts = [(_value(r, "wall_s"), _value(r, "residual")) for r in _rows(state, "iter")
               if _value(r, "solver") == s]
        pts = [(w, max(res, 1e-16)) for w, res in pts if w is not None and res is not None]
        if pts:
            curves.append(opts(hv.Curve(pts, "wall time (s)", "relative residual", label=s),
                               color=_colour(state, s)))
    if not curves:
        return _empty("residual vs wall time: start a run")
    tol = opts(hv.HLine(float(state.config.tol)), color="gray", line_dash="dotted")
    return opts(hv.Overlay([*curves, tol]), logy=True, width=560, height=340,
                legend_position="right", title="Residual vs wall time")


def summary_table(state: ViewState):
    """Per solver: iterations, final true residual, wall time, safeguard fallbacks."""
    import holoviews as hv

    rows = [(_value(r, "solver"), int(_value(r, "iterations")), _value(r, "final_residual"),
             _value(r, "wall_s"), int(_value(r, "fallbacks") or 0))
            for r in _rows(state, "solved")]
    if not rows:
        return _empty("results appear as solvers finish")
    return hv.Table(rows, ["solver"], ["iterations", "final residual", "wall (s)",
                                       "fallbacks"]).opts(width=560, height=200)


# -- training ----------------------------------------------------------------------
def ritz_spectrum(state: ViewState):
    """Exact eigenvalues of the training matrix (histogram) and the Lanczos Ritz values
    (spikes): m steps resolve both ends of the spectrum; the low end gets weight 9."""
    import holoviews as hv

    exact = (state.theory or {}).get("ritz_values")
    ritz = (state.arrays or {}).get("ritz_values")
    layers = []
    if exact is not None and np.size(exact):
        freq, edges = np.histogram(np.asarray(exact), bins=60, density=True)
        layers.append(hv.Histogram((edges, freq), kdims=["eigenvalue"], vdims=["density"],
                                   label="exact spectrum").opts(alpha=0.4, color="gray"))
    if ritz is not None and np.size(ritz):
        top = max(float(freq.max()) if layers else 1.0, 1e-12)
        layers.append(hv.Spikes(np.asarray(ritz), "eigenvalue", label="Ritz values").opts(
            spike_length=0.3 * top, color=PALETTE[1], alpha=0.6))
    if not layers:
        return _empty("Ritz spectrum: start a run")
    return hv.Overlay(layers).opts(width=560, height=300, legend_position="top_right",
                                   title="Training matrix: spectrum and Ritz values")


def _config_solvers(cfg) -> list[str]:
    return list(cfg.solvers)


RACE = Views(
    curves=[
        Curves("Residual vs iteration", ["residual"], x="iteration", by="solver",
               keys=_config_solvers,
               logy=True, phase="iter",
               doc="True relative residual ||b - A x_k|| / ||b||, one line per solver"),
        Curves("A-norm error vs iteration", ["error_a"], x="iteration", by="solver",
               keys=_config_solvers,
               logy=True, phase="iter", theory={"error_a": "error_a"},
               doc="||x_k - x*||_A / ||x_0 - x*||_A; dashed: CG's condition-number bound"),
    ],
    panes=[
        Pane("Domain", domain_flags, "Solid (grey), fluid (blue), air (white)"),
        Pane("Residual vs wall time", residual_vs_wall, "Own time, setup included"),
        Pane("Residuals", residual_images, "Current residual per solver"),
        Pane("Search directions", direction_images, "Current direction per solver"),
        Pane("A-orthogonality", a_orthogonality, "Last directions, log10 A-cosines"),
        Pane("Results", summary_table, "Iterations, final true residual, wall time"),
    ],
    intro=("**Deep conjugate directions** (Kaneda et al., ICML 2023, "
           "[arXiv 2205.10763](https://arxiv.org/abs/2205.10763)). A CNN maps the "
           "residual to a direction q ≈ c A⁻¹r; q is A-orthogonalised against the last "
           "*depth* directions and an exact line search fixes its scale. Compare its "
           "iterations *and* wall time with CG, IC(0)-PCG and AMG-PCG."),
)

TRAIN = Views(
    curves=[
        Curves("Loss", ["loss", "val_loss"], x="step", logy=True, phase="train",
               doc="Scale-invariant loss: squared residual after one DCDM step from 0"),
        Curves("DCDM with the trained network", ["residual"], x="iteration", by="network",
               logy=True, phase="eval",
               doc="After training: the trained and the packaged network, depth 2"),
    ],
    panes=[Pane("Ritz spectrum", ritz_spectrum, "What the training data weight")],
    intro=("**Training the DCDM network**: unit right-hand sides mixed from Lanczos Ritz "
           "vectors (weight 9 on the low half), loss ||b − α A f(b)||² with the optimal "
           "α = f·b / f·Af, Adam."),
)

#: views per experiment key; ``VIEWS`` is the race's
VIEWS_BY_EXPERIMENT = {"deep-cg": RACE, "deep-cg-train": TRAIN}
VIEWS = RACE
