"""Count device -> host transfers of torch tensors (a diagnostic for tests and benchmarks).

Code that runs on CUDA can only bring a tensor's values to the host through a few
calls: ``Tensor.cpu()``, ``Tensor.to(<cpu device>)``, ``.item()``, ``.tolist()`` and the
conversions ``float()``, ``int()``, ``bool()`` (``if t:``) and ``operator.index``
(``.numpy()`` and ``np.asarray`` refuse CUDA tensors, so they always follow a ``.cpu()``).
:func:`count_transfers` wraps exactly these calls and adds up the bytes of the tensors
handed to them. On a CPU run nothing moves, and the count is what *would* cross on
CUDA: the same code path makes the same calls on either device.

Reading the direct result of a counted ``.cpu()`` (``t.cpu().tolist()``) is not
counted again; a tensor derived from it on the host (``t.cpu()[0].item()``) is, so the
count errs high, never low. One blind spot on a CPU run: ``t.to(device)`` is counted
only when it really moves a tensor from another device (a CPU run cannot tell
``t.to("cpu")`` from a same-device ``t.to(t.device)``). orthoviz reads values back with
``.cpu()`` only, never ``.to``.

Not counted: synchronisations that move no user data (a CUDA ``linalg`` routine checking
its ``info`` flag, a boolean-mask index). On a GPU, ``torch.cuda.set_sync_debug_mode``
finds those.

Patches ``torch.Tensor`` for the duration of the ``with`` block: process-wide, so use it
from one thread (a test or a benchmark), never in a server.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

_WRAPPED = ("cpu", "item", "tolist", "__float__", "__int__", "__bool__", "__index__")


@dataclass
class TransferCount:
    """Running totals: ``events`` (calls that bring data to the host) and ``bytes``."""

    events: int = 0
    bytes: int = 0
    calls: list[tuple[str, tuple[int, ...], str]] = field(default_factory=list)

    def add(self, kind: str, t: torch.Tensor) -> None:
        self.events += 1
        self.bytes += t.numel() * t.element_size()
        self.calls.append((kind, tuple(t.shape), str(t.dtype).replace("torch.", "")))

    def snapshot(self) -> tuple[int, int]:
        return self.events, self.bytes


def _moves_to_cpu(t: torch.Tensor, args, kwargs) -> bool:
    """Whether ``t.to(*args, **kwargs)`` moves ``t`` from another device to the CPU."""
    if t.device.type == "cpu":
        return False
    for a in (*args, kwargs.get("device")):
        if isinstance(a, torch.Tensor):
            a = a.device
        if isinstance(a, (str, torch.device)) and torch.device(a).type == "cpu":
            return True
    return False


@contextmanager
def count_transfers() -> Iterator[TransferCount]:
    """Count every device -> host transfer made inside the block (see module doc)."""
    count = TransferCount()
    names = (*_WRAPPED, "to")
    originals = {name: getattr(torch.Tensor, name) for name in names}
    own = {name: torch.Tensor.__dict__.get(name) for name in names}  # today all None
    active = [False]  # a wrapped call made by another wrapped call is not counted again
    copies: dict[int, weakref.ref] = {}  # results of counted .cpu() / .to(cpu) calls

    def is_copy(t) -> bool:
        ref = copies.get(id(t))
        return ref is not None and ref() is t

    def wrap(name, orig):
        def wrapper(self, *args, **kwargs):
            if active[0] or is_copy(self) or (
                    name == "to" and not _moves_to_cpu(self, args, kwargs)):
                return orig(self, *args, **kwargs)
            active[0] = True
            try:
                count.add(name, self)
                out = orig(self, *args, **kwargs)
                if name in ("cpu", "to"):  # reading the host copy later moves nothing
                    if out is self:  # a CPU run's .cpu() returns the tensor itself
                        out = self.view_as(self)
                    copies[id(out)] = weakref.ref(out)
                return out
            finally:
                active[0] = False

        return wrapper

    for name, orig in originals.items():
        setattr(torch.Tensor, name, wrap(name, orig))
    try:
        yield count
    finally:
        for name, mine in own.items():
            if mine is None:  # the method lives on torch._C.TensorBase
                delattr(torch.Tensor, name)
            else:
                setattr(torch.Tensor, name, mine)


__all__ = ["TransferCount", "count_transfers"]
