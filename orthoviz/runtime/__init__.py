"""Shared machinery: records, the Experiment base, registry, devices, runner, run store.

No algorithm and no UI lives here (checked by ``tests/test_layering.py``).
"""

from orthoviz.runtime.errors import ConfigError, NonFiniteError, ResourceError
from orthoviz.runtime.experiment import Experiment
from orthoviz.runtime.record import Record
from orthoviz.runtime.registry import get_experiment, list_experiments, register
from orthoviz.runtime.runner import Runner
from orthoviz.runtime.streams import guarded, interleave

__all__ = [
    "ConfigError",
    "Experiment",
    "NonFiniteError",
    "Record",
    "ResourceError",
    "Runner",
    "get_experiment",
    "guarded",
    "interleave",
    "list_experiments",
    "register",
]
