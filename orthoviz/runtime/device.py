"""Device resolution and dtype policy. Nothing here touches CUDA at import time."""

from __future__ import annotations

import os

from orthoviz.runtime.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")


def cuda_available() -> bool:
    """True when torch sees a CUDA device (imports torch lazily)."""
    import torch

    return torch.cuda.is_available()


def resolve_device(device: str = "auto") -> str:
    """Map ``"auto" | "cpu" | "cuda" | "cuda:N"`` to a concrete torch device string.

    ``auto`` honours ``ORTHOVIZ_DEVICE`` (e.g. ``cpu`` on Binder), then picks CUDA when
    present. Asking for CUDA where there is none is a :class:`ConfigError`.
    """
    if device == "auto":
        device = os.environ.get("ORTHOVIZ_DEVICE", "auto") or "auto"
        if device == "auto":
            return "cuda" if cuda_available() else "cpu"
    if device == "cpu":
        return "cpu"
    if device == "cuda" or device.startswith("cuda:"):
        if not cuda_available():
            raise ConfigError("device", device, "auto or cpu (no CUDA device is present)")
        return device
    raise ConfigError("device", device, "one of " + ", ".join(DEVICES))


def torch_dtype(name: str):
    """``"float32" | "float64"`` to a torch dtype."""
    import torch

    return {"float32": torch.float32, "float64": torch.float64}[name]
