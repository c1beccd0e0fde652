"""Device resolution and dtype policy. Nothing here touches CUDA at import time."""

from __future__ import annotations

import os

from orthoviz.runtime.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")

#: ``auto`` keeps a problem whose largest operand has fewer elements than this on the
#: CPU: such steps are kernel-launch bound on a GPU (the neural-collapse E1 loop, K=4,
#: d=64, ran 562 steps/s on an H100 against 946 on a 2-core CPU).
GPU_MIN_ELEMENTS = 4_000_000


def cuda_available() -> bool:
    """True when torch sees a CUDA device (imports torch lazily)."""
    import torch

    return torch.cuda.is_available()


def cuda_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def available_devices() -> list[str]:
    """The choices that exist on this machine: ``auto``, ``cpu`` and each GPU."""
    n = cuda_count()
    return ["auto", "cpu"] + (["cuda"] + [f"cuda:{i}" for i in range(n)] if n else [])


def resolve_device(device: str = "auto", problem_size: int = 0) -> str:
    """Map ``"auto" | "cpu" | "cuda" | "cuda:N"`` to a concrete torch device string.

    ``auto`` honours ``ORTHOVIZ_DEVICE`` (e.g. ``cpu`` on Binder), then picks CUDA when
    present, unless ``problem_size`` (elements of the largest operand; 0 = unknown) is
    below :data:`GPU_MIN_ELEMENTS`. Asking for CUDA where there is none, or for a
    ``cuda:N`` that does not exist, is a :class:`ConfigError`.
    """
    if device == "auto":
        device = os.environ.get("ORTHOVIZ_DEVICE", "auto") or "auto"
        if device == "auto":
            if not cuda_available():
                return "cpu"
            return "cuda" if problem_size == 0 or problem_size >= GPU_MIN_ELEMENTS else "cpu"
    if device == "cpu":
        return "cpu"
    if device == "cuda" or device.startswith("cuda:"):
        n = cuda_count()
        if n == 0:
            raise ConfigError("device", device, "auto or cpu (no CUDA device is present)")
        if device != "cuda":
            idx = device.split(":", 1)[1]
            if not idx.isdigit() or int(idx) >= n:
                raise ConfigError("device", device,
                                  "one of " + ", ".join(available_devices()))
        return device
    raise ConfigError("device", device, "one of " + ", ".join(DEVICES) + " or cuda:N")


def torch_dtype(name: str):
    """``"float32" | "float64"`` to a torch dtype."""
    import torch

    return {"float32": torch.float32, "float64": torch.float64}[name]
