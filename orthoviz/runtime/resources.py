"""Resource guard: refuse up front a config whose memory estimate exceeds a budget."""

from __future__ import annotations

import os

from orthoviz.runtime.errors import ResourceError


def free_memory(device: str) -> int:
    """Free bytes on ``device``: CUDA free memory, else the host's available RAM."""
    if device.startswith("cuda"):
        import torch

        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def memory_budget(device: str, budget: int | None = None) -> int:
    """The budget in bytes: explicit, else ``ORTHOVIZ_MEMORY_BUDGET_GB``, else half of
    the free memory of the device."""
    if budget is not None:
        return int(budget)
    env = os.environ.get("ORTHOVIZ_MEMORY_BUDGET_GB")
    if env:
        return int(float(env) * 2**30)
    return free_memory(device) // 2


def check_memory(experiment, device: str, budget: int | None = None) -> None:
    """Raise :class:`ResourceError` naming the parameter to change if the experiment's
    estimate exceeds the budget."""
    needed, parameter = experiment.estimate_memory(device)
    if needed <= 0:
        return
    limit = memory_budget(device, budget)
    if needed > limit:
        where = "GPU" if device.startswith("cuda") else "host"
        raise ResourceError(
            parameter, getattr(experiment, parameter, None), needed, limit, where
        )
