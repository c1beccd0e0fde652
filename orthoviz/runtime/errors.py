"""Errors a user can cause and fix; every consumer shows their message as is."""

from __future__ import annotations


class ConfigError(ValueError):
    """A parameter value is invalid. The message names the parameter, the value and
    the allowed range."""

    def __init__(self, parameter: str, value, allowed: str, detail: str = ""):
        self.parameter, self.value, self.allowed = parameter, value, allowed
        msg = f"invalid value for '{parameter}': {shown(value)} (allowed: {allowed})"
        if detail:
            msg += f"; {detail}"
        super().__init__(msg)


class ResourceError(ConfigError):
    """A config would not fit in the memory budget; refused before anything runs."""

    def __init__(self, parameter: str, value, needed: int, budget: int, where: str):
        self.needed, self.budget = needed, budget
        super().__init__(
            parameter,
            value,
            f"a size that fits in {_gib(budget)} of {where} memory",
            f"the run needs about {_gib(needed)}; lower '{parameter}' "
            "(or raise the budget with ORTHOVIZ_MEMORY_BUDGET_GB)",
        )


class NonFiniteError(RuntimeError):
    """Training produced a non-finite value; the run stops with a suggestion."""

    def __init__(self, metric: str, step: int, hint: str):
        self.metric, self.step, self.hint = metric, step, hint
        super().__init__(f"'{metric}' became non-finite at step {step}: {hint}")


class RunOutOfMemory(RuntimeError):
    """The device ran out of memory during a run (``torch.cuda.OutOfMemoryError`` or a
    host ``MemoryError``); the message names the parameter to lower."""

    def __init__(self, device: str, step: int, parameter: str, needed: int):
        self.device, self.step, self.parameter, self.needed = device, step, parameter, needed
        what = f"lower '{parameter}'" if parameter else "lower the sizes"
        estimate = f" (estimated need {_gib(needed)})" if needed > 0 else ""
        super().__init__(
            f"out of {'GPU' if device.startswith('cuda') else 'host'} memory at step "
            f"{step} on {device}{estimate}: {what}, choose a smaller preset, or close "
            "other runs on this device")


def out_of_memory(e: BaseException) -> bool:
    """True for an allocation failure: torch's OutOfMemoryError (CUDA or another
    accelerator), an older torch's ``RuntimeError: CUDA out of memory`` or MemoryError."""
    if isinstance(e, MemoryError) or type(e).__name__ == "OutOfMemoryError":
        return True
    return isinstance(e, RuntimeError) and "out of memory" in str(e).lower()


def shown(value, limit: int = 80) -> str:
    """``repr(value)`` for a message, cut to about ``limit`` characters (a pasted
    megabyte or a 5000-digit number stays one readable line)."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - e.g. an int beyond Python's digit limit
        text = f"<{type(value).__name__}>"
    if len(text) <= limit:
        return text
    return f"{text[:limit - 20]}… ({len(text)} characters)"


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"
