"""Device resolution and dtype policy. Nothing here touches CUDA at import time."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

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


# -- TF32 for float32 CUDA matmuls, held per block and never leaked ----------------------
_MODE = threading.Condition()
_MODE_STATE: dict = {"holders": 0, "mode": None, "saved": None}


def _cublas_tf32() -> tuple[str, object]:
    """The current cuBLAS float32 setting: torch >= 2.9's ``fp32_precision`` string or
    the older ``allow_tf32`` flag (whichever this torch has)."""
    import torch

    m = torch.backends.cuda.matmul
    try:
        return "fp32_precision", m.fp32_precision
    except AttributeError:
        return "allow_tf32", m.allow_tf32


def _set_cublas_tf32(setting: tuple[str, object]) -> None:
    import torch

    setattr(torch.backends.cuda.matmul, *setting)


def _mode_setting(tf32: bool) -> tuple[str, object]:
    name, _ = _cublas_tf32()
    if name == "fp32_precision":
        return name, "tf32" if tf32 else "ieee"
    return name, bool(tf32)


@contextmanager
def matmul_precision(device: str, dtype, tf32: bool) -> Iterator[None]:
    """Hold the float32 matmul precision of a CUDA block: TF32 (10-bit mantissa, ~1e-3
    relative products, several times the float32 throughput) when ``tf32``, IEEE float32
    otherwise. A no-op on the CPU and for float64, which TF32 never touches.

    cuBLAS's setting is process-wide, so it is held like a lease: blocks wanting the same
    mode share it; a block wanting the other mode waits until they end (runs hold it for
    a chunk of steps, never across a ``yield``); when the last holder ends, the value
    found before the first is restored. Code that takes no lease sees TF32 only while a
    TF32 block runs. One thread must not nest blocks of different modes (it would wait
    for itself).
    """
    import torch

    if not str(device).startswith("cuda") or dtype != torch.float32:
        yield
        return
    want = "tf32" if tf32 else "ieee"
    with _MODE:
        _MODE.wait_for(lambda: _MODE_STATE["holders"] == 0 or _MODE_STATE["mode"] == want)
        if _MODE_STATE["holders"] == 0:
            _MODE_STATE.update(saved=_cublas_tf32(), mode=want)
            _set_cublas_tf32(_mode_setting(tf32))
        _MODE_STATE["holders"] += 1
    try:
        yield
    finally:
        with _MODE:
            _MODE_STATE["holders"] -= 1
            if _MODE_STATE["holders"] == 0:
                _set_cublas_tf32(_MODE_STATE["saved"])
                _MODE_STATE.update(saved=None, mode=None)
                _MODE.notify_all()


def _count(n: int) -> str:
    """12_345 -> "12k", 4_000_000 -> "4M" (two significant figures at most)."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{float(f'{n / size:.2g}'):g}{unit}"
    return str(n)


def describe_choice(device: str, problem_size: int) -> str:
    """What ``device`` will resolve to for a problem of ``problem_size`` elements, in
    words, before a run: ``"auto → cpu (problem of 38k elements; GPU used from 4M)"``."""
    try:
        dev = resolve_device(device, problem_size)
    except ConfigError as e:
        return f"{device}: not available ({e.allowed})"
    if device != "auto":
        return dev
    env = os.environ.get("ORTHOVIZ_DEVICE", "auto") or "auto"
    size = f"problem of {_count(problem_size)} elements" if problem_size else \
        "problem size unknown"
    if env != "auto":
        return f"auto → {dev} (ORTHOVIZ_DEVICE={env}; {size})"
    if not cuda_available():
        return f"auto → cpu (no GPU here; {size})"
    return f"auto → {dev} ({size}; GPU used from {_count(GPU_MIN_ELEMENTS)})"
