"""The process-wide run limit: admission order, the limit under many threads, slots
given back on every way out of a run, and queued runs that are stopped."""

from __future__ import annotations

import threading

import pytest

from orthoviz.runtime import Runner
from orthoviz.runtime.capacity import MAX_RUNS_ENV, Admission
from orthoviz.runtime.registry import get_experiment

NC = get_experiment("neural-collapse")


def test_tickets_are_admitted_first_come_first_served():
    table = Admission(max_runs=2, max_gpu_runs=1)
    t = [table.request("cpu") for _ in range(5)]
    assert [x.admitted for x in t] == [True, True, False, False, False]
    assert [x.place() for x in t] == [None, None, (1, 3), (2, 3), (3, 3)]
    t[3].cancel()  # a queued run stopped: the one behind it moves up
    assert t[4].place() == (2, 2)
    t[1].release()
    assert t[2].admitted and not t[4].admitted and t[4].place() == (1, 1)
    t[0].release()
    assert t[4].admitted and table.counts() == {"running": 2, "running_gpu": 0,
                                                "waiting": 0}


def test_a_gpu_run_waits_for_the_gpu_and_cpu_runs_pass_it():
    table = Admission(max_runs=3, max_gpu_runs=1)
    g1, g2, c1 = table.request("cuda"), table.request("cuda:0"), table.request("cpu")
    assert g1.admitted and not g2.admitted and c1.admitted  # c1 does not need the GPU
    assert g2.place() == (1, 1)
    c2 = table.request("cpu")  # total now full (g1, c1, c2): nobody else goes
    c3 = table.request("cpu")
    assert c2.admitted and not c3.admitted and c3.place() == (1, 1)
    g1.release()  # the freed slot goes to g2, queued before c3
    assert g2.admitted and not c3.admitted and c3.place() == (1, 1)
    c1.release()
    assert c3.admitted


def test_a_sweep_takes_a_slot_per_worker_and_waits_its_turn_whole():
    table = Admission(max_runs=3)
    run = table.request("cpu")
    sweep = table.request("cpu", slots=3)  # 3 workers: more than the 2 slots free
    late = table.request("cpu")
    # the sweep waits for three free slots; the run behind it does not jump the queue
    assert run.admitted and not sweep.admitted and not late.admitted
    assert sweep.place() == (1, 2) and late.place() == (2, 2)
    run.release()
    assert sweep.admitted and not late.admitted  # all three slots are the sweep's
    sweep.release()
    assert late.admitted
    # more workers than the limit: counted as the whole limit, admitted when all free
    big = table.request("cpu", slots=10)
    assert not big.admitted
    late.release()
    assert big.admitted and table.counts()["running"] == 1
    with pytest.raises(ValueError, match="slots"):
        table.request("cpu", slots=0)


def test_the_limit_holds_under_many_threads():
    table = Admission(max_runs=3)
    lock, now, most, order = threading.Lock(), [0], [0], []

    def run(i):
        ticket = table.request("cpu")
        with lock:
            order.append(i)
        assert ticket.wait()
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])
        threading.Event().wait(0.005)
        with lock:
            now[0] -= 1
        ticket.release()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(40)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert not any(th.is_alive() for th in threads)
    assert most[0] == 3 and now[0] == 0  # never more than 3; all were admitted
    assert table.counts() == {"running": 0, "running_gpu": 0, "waiting": 0}


def test_limits_come_from_the_environment_and_configure(monkeypatch):
    monkeypatch.setenv(MAX_RUNS_ENV, "5")
    table = Admission()
    assert table.limits()[0] == 5
    table.configure(max_runs=1)
    assert table.limits()[0] == 1
    with pytest.raises(ValueError):
        table.configure(max_runs=0)


def long_nc():
    return NC.from_preset("smoke", steps=1_000_000, record_every=1)


def test_runners_queue_then_finish_and_release_their_slots():
    table = Admission(max_runs=1)
    a = Runner(NC.from_preset("smoke"), seed=0, device="cpu", admission=table).start()
    b = Runner(NC.from_preset("smoke"), seed=1, device="cpu", admission=table).start()
    assert b.status in ("queued", "running", "finished")  # a may be done already
    assert a.join(60) and b.join(60)
    assert a.status == b.status == "finished"
    assert table.counts()["running"] == 0


def test_a_queued_run_that_is_stopped_takes_no_slot():
    table = Admission(max_runs=1)
    a = Runner(long_nc(), seed=0, device="cpu", admission=table).start()
    b = Runner(long_nc(), seed=1, device="cpu", admission=table).start()
    c = Runner(long_nc(), seed=2, device="cpu", admission=table).start()
    assert (b.status, b.queue_place) == ("queued", (1, 2))
    assert c.queue_place == (2, 2)
    b.stop(wait=True, timeout=30)
    assert not b.alive and b.status == "stopped" and b.message == "stopped while queued"
    assert b.step == 0 and not b.history and c.queue_place == (1, 1)
    a.stop(wait=True, timeout=30)  # a's slot goes to c, not to the stopped b
    assert a.status == "stopped" and table.counts()["running"] == 1
    threading.Event().wait(0.05)
    assert c.queue_place is None and c.status in ("running", "stopping")
    c.stop(wait=True, timeout=30)
    assert table.counts() == {"running": 0, "running_gpu": 0, "waiting": 0}


def test_a_failed_run_gives_its_slot_back():
    table = Admission(max_runs=1)
    bad = NC.from_preset("smoke", lr=10.0, init_std=3.0, depth=4, steps=2000,
                         record_every=1)
    r = Runner(bad, seed=0, device="cpu", admission=table).start()
    assert r.join(60) and r.status == "failed"
    assert table.counts()["running"] == 0


def test_an_exception_in_the_run_gives_its_slot_back(monkeypatch):
    table = Admission(max_runs=1)
    exp = NC.from_preset("smoke")

    def broken():
        raise RuntimeError("theory broke")

    monkeypatch.setattr(exp, "theory", broken)
    r = Runner(exp, seed=0, device="cpu", admission=table).start()
    assert r.join(60) and r.status == "failed" and "theory broke" in r.message
    assert table.counts()["running"] == 0


def test_a_cuda_run_empties_the_cuda_cache_when_it_ends_and_a_cpu_run_does_not(
        monkeypatch):
    """No GPU here: ``torch.cuda.empty_cache`` is replaced by a counter. The Runner's
    release (every exit path calls it) empties the cache of a run that was on CUDA, and
    the server's release after sessions end empties it once CUDA was initialised."""
    import torch

    from orthoviz.runtime import memory

    calls = []
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: calls.append(1))
    for device, want in (("cuda:0", 1), ("cpu", 0)):
        calls.clear()
        r = Runner(NC.from_preset("smoke"), seed=0, device="cpu")
        r.device = device  # as check() would have resolved it on a GPU machine
        r._release()
        assert len(calls) == want, device
    for initialised, want in ((True, 1), (False, 0)):
        calls.clear()
        monkeypatch.setattr(torch.cuda, "is_initialized", lambda v=initialised: v)
        assert memory.release()["cuda_emptied"] is initialised and len(calls) == want
