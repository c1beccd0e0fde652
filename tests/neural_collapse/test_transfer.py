"""What a neural-collapse run reads back from its device (issue 7, GPU path).

Per record: the objective and data term, then one packed float64 vector of the
scalars (and on snapshot records the K-vectors, K x K Grams and the K x d class means
and classifier rows) -- never the N x d features; nothing at all between records. Counted on the
CPU by ``orthoviz.runtime.transfer``, which wraps every call a CUDA run could use to
read a value back; the same code runs on either device, so the counts are exact there
too (``tests/test_gpu.py`` checks the absence of synchronisations on CUDA itself).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from orthoviz.neural_collapse import NeuralCollapse
from orthoviz.neural_collapse.metrics import collapsed, equiangularity, nc_metrics
from orthoviz.neural_collapse.theory import predicted_geometry
from orthoviz.neural_collapse.train import Problem
from orthoviz.runtime.transfer import count_transfers

K, D, SIZES = 4, 24, [60, 60, 40, 40]
SMALL = dict(class_sizes=SIZES, feature_dim=D, depth=3, steps=6, record_every=2,
             snapshot_every=4, init_std=0.2)
HOST_SCALARS = ("loss", "data_loss", "objective", "objective_gap")  # from the 2-vector
VERDICT = ("at_optimum", "trivial_point", "local_minimum")  # set on the host, final only


def test_each_record_reads_back_two_small_vectors():
    exp = NeuralCollapse(**SMALL)
    records, calls = [], []
    with count_transfers() as c:
        for rec in exp.run(seed=0, device="cpu"):
            records.append(rec)
            calls.append(list(c.calls))
            c.calls.clear()
    assert [r.step for r in records] == [0, 2, 4, 6]
    N = sum(SIZES)
    for rec, made in zip(records, calls):
        snapshot = rec.step % exp.snapshot_every == 0 or rec.phase == "final"
        assert (rec.arrays is not None and "means_3d" in rec.arrays) == snapshot
        n_vals = len(rec.scalars) - len(HOST_SCALARS) - (len(VERDICT) if rec.phase ==
                                                          "final" else 0)
        packed = n_vals + ((3 * K + 2 * K * K + 2 * K * D) if snapshot else 0)
        assert made == [("cpu", (2,), "float64"), ("cpu", (packed,), "float64")], made
        assert packed < N * D  # far below one layer's features (N x d = 4800 here)


@pytest.mark.parametrize("kw", [
    dict(loss="mse"), dict(loss="mse_bias", class_sizes=[50] * K),
    dict(loss="ce", depth=1, class_sizes=[50] * K),
    dict(backbone="mlp", dataset="gaussian", mlp_width=16, dtype="float32"),
])
def test_training_steps_read_nothing_back(kw):
    # SGD (every UFM preset). Adam reads its step counter with .item(), but that
    # counter is a CPU tensor on every device (torch keeps it there unless capturable),
    # so the counter here would flag a read that moves nothing; tests/test_gpu.py checks
    # Adam on CUDA with torch's own sync detector instead.
    prob = Problem(NeuralCollapse(**{**SMALL, **kw}), 0, "cpu")
    with count_transfers() as c:
        for _ in range(3):
            prob.step()
    assert c.events == 0, c.calls


@pytest.mark.parametrize("loss,sizes", [("mse", [30, 20, 10]), ("mse_bias", [20] * 3),
                                        ("mse", [200, 100, 50])])
def test_metrics_compute_without_reading_a_value(loss, sizes):
    """No metric branches on a number: all of them stay on the device until asked."""
    lam = 0.02 if sizes[0] == 200 else 1e-3  # the last case has a collapsed class
    geo = predicted_geometry(sizes, 1, lam, lam, loss)
    gen = torch.Generator().manual_seed(0)
    y = torch.repeat_interleave(torch.arange(3), torch.tensor(sizes))
    H = torch.randn(len(y), 5, generator=gen, dtype=torch.float64)
    W = torch.randn(3, 5, generator=gen, dtype=torch.float64)
    W[2] = 0.0  # an exact-zero row: the equiangularity / collapsed guards are taken
    with count_transfers() as c:
        out = nc_metrics(H, y, W, torch.zeros(3, dtype=torch.float64), 3, geo)
        equiangularity(W), collapsed(W.norm(dim=1))
    assert c.events == 0, c.calls
    assert all(np.isfinite(float(v)) for v in out.values())


def test_counter_sees_every_way_back_and_restores_torch():
    t = torch.arange(6, dtype=torch.float32)
    with count_transfers() as c:
        t.cpu(), t.to("cpu"), t.to(torch.float64), t[0].item(), t.tolist(), float(t[1])
        if t[2]:
            pass
        t.cpu().tolist(), float(t.cpu()[0])  # a host copy's own values: read once
    # .to() is counted only when it moves data from another device (module doc)
    assert [k for k, _, _ in c.calls] == ["cpu", "item", "tolist", "__float__", "__bool__",
                                          "cpu", "cpu", "__float__"]
    assert c.bytes == 24 + 4 + 24 + 4 + 4 + 24 + 24 + 4  # the last read errs high
    assert "cpu" not in torch.Tensor.__dict__ and "to" not in torch.Tensor.__dict__
