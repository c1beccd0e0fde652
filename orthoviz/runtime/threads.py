"""Thread policy for small CPU problems.

Steps made of small matmuls (N*d ~ 1e4-1e6 elements) are dominated by thread start-up and
synchronisation: on a 2-core machine two intra-op threads were measured 2-35x slower than
one, and far worse when other processes compete for the cores. Runs of small problems
therefore use one torch thread and one BLAS thread, restored when the run ends (torch's
thread count is process-wide).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

SMALL = 2_000_000  # elements of the largest operand below which one thread wins


@contextmanager
def limit_threads(n_elements: int, device: str) -> Iterator[None]:
    """One torch intra-op thread and one BLAS thread while a small CPU problem runs."""
    if device != "cpu" or n_elements > SMALL:
        yield
        return
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(before)
