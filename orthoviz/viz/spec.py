"""What an algorithm tells the explorer shell to draw (no HoloViews import here).

- :class:`Curves`: declared curves — metrics against ``step`` or a coordinate, split
  by a coordinate and reduced over trials (mean ± SE) — streamed through an
  ``hv.streams.Buffer`` (only new rows travel), with theory values or curves dashed.
- :class:`Pane`: a view rebuilt from the whole run state (latest arrays, history rows,
  theory) through an ``hv.streams.Pipe`` at a few Hz: geometry, sweep curves, heatmaps.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Curves:
    """A declared group of curves: which metrics, against what, split and reduced how.

    Parameters
    ----------
    title, metrics
        Panel title; the scalar metrics drawn (one line each, or one per ``by`` value).
    x : str or callable(config) -> str
        ``"step"`` or a coordinate name (``"n"``, ``"k"``, ``"iteration"``); a callable
        picks it from the config (random features sweep k or n).
    by : str, optional
        The coordinate that splits lines (``"ridge"``, ``"solver"``, ``"model"``).
    reduce : str, optional
        The coordinate averaged over (``"trial"``): mean line with a standard-error band,
        by HoloViews' ``Dataset.aggregate(function=mean, spreadfn=sem)``.
    logx, logy : bool (``logy`` may be ``"auto"``: log once values span two decades)
    theory : dict
        metric -> theory key. A scalar theory value is drawn as a dashed horizontal
        line; a curve (a dict of columns: x, the metric and optionally ``by``) as dashed
        lines over the same x, coloured like the measured line of the same ``by`` value.
    phase : str, optional
        Only rows of this phase (``"point"``); default: every row carrying the metric.
    select : callable(config) -> dict, optional
        Keep only rows whose coordinates equal these values (e.g. the smallest ridge).
    legend : str
        Where the legend sits inside the plot (Bokeh's ``top_right``, ``bottom_left``…):
        the corner the lines leave free.
    keys : callable(config) -> list, optional
        The ``by`` values a run of this config draws, when the config names them
        (its ridges, models, solvers): a live plot is built with their glyphs before
        the first rows come, not rebuilt at a run's first rows (0.1-0.5 s of the
        server's event loop per group). A value not declared still gets its line.
    """

    title: str
    metrics: list[str]
    x: str | Callable[[Any], str] = "step"
    by: str | None = None
    reduce: str | None = None
    logx: bool = False
    logy: bool | str = "auto"
    theory: dict[str, str] = field(default_factory=dict)
    phase: str | None = None
    select: Callable[[Any], dict] | None = None
    doc: str = ""
    legend: str = "top_right"
    keys: Callable[[Any], list] | None = None

    def x_for(self, config) -> str:
        return self.x(config) if callable(self.x) else self.x

    @property
    def simple(self) -> bool:
        """A plain metric-vs-step curve (streamed row by row, no grouping)."""
        return self.x == "step" and self.by is None and self.reduce is None \
            and self.select is None


@dataclass
class ViewState:
    """Everything a pane may draw from."""

    config: Any  # the Experiment instance
    theory: dict[str, Any]  # the run's cached theory (never computed in a draw)
    arrays: dict[str, Any]  # latest arrays, merged by key
    rows: list[dict[str, Any]]  # history: step, phase, coordinates, scalars
    final: dict[str, Any] | None = None
    view: dict[str, float] = field(default_factory=dict)  # a pane's control values
    #: a live pane's :class:`~orthoviz.viz.style.Styles` (its frames share options
    #: trees); None where a figure is drawn once (export, notebooks)
    styles: Any = field(default=None, compare=False, repr=False)


@dataclass
class Pane:
    """A view built by ``build(state) -> hv element`` whenever new data arrive."""

    title: str
    build: Callable[[ViewState], Any]
    doc: str = ""
    #: sliders of the pane: name -> (start, end, value, label); their values reach
    #: ``build`` as ``state.view[name]`` (e.g. a 3-D camera's azimuth)
    controls: dict[str, tuple[float, float, float, str]] = field(default_factory=dict)


@dataclass
class SweepSpec:
    """What the explorer's sweep view offers first for an experiment (every grid key and
    metric stays selectable).

    Parameters
    ----------
    axes, values
        The two grid parameters and their comma-separated values shown first.
    metric
        The final scalar drawn (the heatmap's mean over seeds; the curves' y).
    preset
        The preset the cells start from.
    labels
        Column -> axis label (``{"sweep_values": "k"}``).
    x
        The curves' x column when it is not the first axis (``"coord_n"``: the run's
        final n).
    theory : callable(config) -> dict, optional
        Theory values of one cell's config, metric -> number (dashed beside the data).
    mark : callable(config) -> float, optional
        An x position marked on the curves for each second-axis value (``d^k``), and
        ``mark_label`` naming it.
    """

    axes: tuple[str, str]
    values: tuple[str, str]
    metric: str
    preset: str = "smoke"
    labels: dict[str, str] = field(default_factory=dict)
    x: str | None = None
    logx: bool = False
    logy: bool | str = "auto"
    theory: Callable[[Any], dict[str, float]] | None = None
    mark: Callable[[Any], float] | None = None
    mark_label: str = ""


@dataclass
class Views:
    curves: list[Curves] = field(default_factory=list)
    panes: list[Pane] = field(default_factory=list)
    intro: str = ""  # markdown shown above the plots (paper, notation)
    sweep: SweepSpec | None = None  # the sweep view's first choice of axes and metric
    #: the pane whose tab is open when a page opens (its title; default the first):
    #: the explorer draws only the open tab's pane
    open_pane: str | None = None


def views_for(experiment_cls) -> Views:
    """The ``VIEWS`` of ``orthoviz.viz.<package>`` for an experiment class, where
    ``<package>`` is the algorithm package the class is defined in. A package with
    several experiments (``deep-cg-train``, ``deep-cg``) may map experiment keys to
    their views in ``VIEWS_BY_EXPERIMENT``."""
    parts = experiment_cls.__module__.split(".")
    pkg = parts[1] if parts[0] == "orthoviz" and len(parts) > 1 else parts[0]
    try:
        mod = importlib.import_module(f"orthoviz.viz.{pkg}")
    except ModuleNotFoundError:
        return Views()
    by_key = getattr(mod, "VIEWS_BY_EXPERIMENT", {})
    return by_key.get(getattr(experiment_cls, "key", ""), getattr(mod, "VIEWS", Views()))
