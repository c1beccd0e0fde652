"""One torch thread and one BLAS thread for the solver tests: these are small problems
(<= 64^2 unknowns), where two threads on a shared 2-core machine were measured up to
100x slower (see orthoviz/runtime/threads.py)."""

import pytest
import torch
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(before)
