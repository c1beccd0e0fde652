"""What an algorithm tells the explorer shell to draw (no HoloViews import here).

- :class:`Curves`: live metric curves against ``step``, streamed through an
  ``hv.streams.Buffer`` (only new rows travel), with theory values drawn as lines.
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
    """A group of scalar metrics plotted against step in one panel.

    ``theory`` maps a metric name to the theory key whose scalar value is drawn as a
    dashed horizontal line (the limit the curve should reach). ``logy`` may be
    ``"auto"``: log axis when the metric spans more than two decades.
    """

    title: str
    metrics: list[str]
    logy: bool | str = "auto"
    theory: dict[str, str] = field(default_factory=dict)
    doc: str = ""


@dataclass
class ViewState:
    """Everything a pane may draw from."""

    config: Any  # the Experiment instance
    theory: dict[str, Any]
    arrays: dict[str, Any]
    rows: list[dict[str, Any]]  # history: step, phase, scalars
    final: dict[str, Any] | None = None


@dataclass
class Pane:
    """A view built by ``build(state) -> hv element`` whenever new data arrive."""

    title: str
    build: Callable[[ViewState], Any]
    doc: str = ""


@dataclass
class Views:
    curves: list[Curves] = field(default_factory=list)
    panes: list[Pane] = field(default_factory=list)
    intro: str = ""  # markdown shown above the plots (paper, notation)


def views_for(experiment_cls) -> Views:
    """The ``VIEWS`` of ``orthoviz.viz.<package>`` for an experiment class, where
    ``<package>`` is the algorithm package the class is defined in."""
    parts = experiment_cls.__module__.split(".")
    pkg = parts[1] if parts[0] == "orthoviz" and len(parts) > 1 else parts[0]
    try:
        mod = importlib.import_module(f"orthoviz.viz.{pkg}")
    except ModuleNotFoundError:
        return Views()
    return getattr(mod, "VIEWS", Views())
