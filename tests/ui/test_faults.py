"""Faults inside a session, without a browser (issue #10): an exception in one run ends
that run only; running out of memory ends a run with what to lower; a runs folder that
cannot be written (not a folder, a full disk) is reported while the run goes on live."""

from __future__ import annotations

import errno
import os

import pytest

pytest.importorskip("panel")
torch = pytest.importorskip("torch")

from orthoviz.runtime import Runner, get_experiment  # noqa: E402
from orthoviz.runtime.errors import RunOutOfMemory  # noqa: E402
from orthoviz.runtime.rundir import load_run  # noqa: E402
from orthoviz.runtime.store import RunWriter  # noqa: E402
from orthoviz.ui import Explorer  # noqa: E402

NC = get_experiment("neural-collapse")
LONG = {"steps": 10**6, "record_every": 1}  # runs until stopped


def failing(exc: BaseException, after: int = 2):
    """NC whose run raises ``exc`` after ``after`` records (as a step would)."""

    class Failing(NC):
        def _run(self, seed, device):
            for i, rec in enumerate(super()._run(seed, device)):
                if i == after:
                    raise exc
                yield rec

    return Failing


def test_an_exception_in_one_session_leaves_the_other_running(wait_until):
    good = Explorer("neural-collapse", preset="smoke", config=LONG)
    bad = Explorer(failing(ValueError("singular matrix in step")), preset="smoke",
                   config=LONG)
    try:
        assert good.start() and bad.start()
        wait_until(lambda: bad.status == "failed", timeout=60)
        assert bad.message == "ValueError: singular matrix in step"
        assert not bad.runner.alive
        step = good.runner.step
        wait_until(lambda: good.runner.step > step + 5, timeout=60)  # still training
        assert good.status == "running" and good.runner.alive
        assert "singular" not in good.message
    finally:
        good.stop(wait=True)
        bad.stop(wait=True)


@pytest.mark.parametrize("exc", [torch.cuda.OutOfMemoryError(
    "CUDA out of memory. Tried to allocate 2.00 GiB"), MemoryError()],
    ids=["cuda", "host"])
def test_out_of_memory_ends_the_run_naming_the_parameter_to_lower(exc, wait_until):
    cls = failing(exc)
    exp = cls.from_preset("smoke", **LONG)
    needed, parameter = exp.estimate_memory("cpu")
    assert parameter  # NC names the size that drives its memory
    runner = Runner(exp, device="cpu").start()
    runner.join(60)
    assert runner.status == "failed" and not runner.alive
    assert runner.message.startswith("out of host memory at step ")
    assert f"lower '{parameter}'" in runner.message and "\n" not in runner.message
    with pytest.raises(RunOutOfMemory, match=f"lower '{parameter}'"):
        list(cls.from_preset("smoke", **LONG).run(device="cpu"))
    e = Explorer(cls, preset="smoke", config=LONG)  # the page says the same
    assert e.start()
    wait_until(lambda: e.status == "failed", timeout=60)
    assert f"lower '{parameter}'" in e.message


def test_an_unwritable_runs_folder_is_reported_and_the_run_shows_live(tmp_path,
                                                                      wait_until):
    blocker = tmp_path / "runs"
    blocker.write_text("a file where the runs folder should be")
    e = Explorer("neural-collapse", preset="smoke", config=LONG, autosave=True,
                 runs_root=str(blocker))
    try:
        assert e.start()
        assert e.status == "running" and "run folder not written" in e.message
        assert "Not a directory" in e.message and str(blocker) in e.message
        wait_until(lambda: len(e.history) > 5, timeout=60)  # the curves fill
        assert e.runner.alive and e.status == "running"
        assert e.save_run() is None  # "Save run" says why, the run goes on
        assert e.message.startswith("not saved: cannot write in") and e.runner.alive
    finally:
        e.stop(wait=True)
    assert e.status == "stopped" and "run folder not written" in e.message


def test_a_full_disk_mid_run_stops_the_writing_not_the_run(tmp_path, wait_until,
                                                            monkeypatch):
    calls = []
    append = RunWriter.append

    def append_until_full(self, records):
        calls.append(len(records))
        if len(calls) > 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        append(self, records)

    monkeypatch.setattr(RunWriter, "append", append_until_full)
    e = Explorer("neural-collapse", preset="smoke", config=LONG, autosave=True,
                 runs_root=str(tmp_path))
    try:
        assert e.start() and e.message == "seed 0"
        wait_until(lambda: "No space left on device" in e.message, timeout=60)
        assert e.status == "running" and e.runner.alive
        step = e.runner.step
        wait_until(lambda: e.runner.step > step + 5, timeout=60)  # still live
        assert len(calls) == 3  # the writer was dropped after the failure
    finally:
        e.stop(wait=True)
    assert "run folder not completed: OSError: No space left on device" in e.message
    # the folder holds the rows of the first two flushes and opens as interrupted
    folder = next(tmp_path.glob("neural-collapse/*"))
    saved = load_run(folder, root=tmp_path)
    assert saved.status == "interrupted"
    assert 0 < len(saved.records) <= sum(calls[:2])


def test_autosave_writes_the_run_as_it_goes_and_closes_it(tmp_path, wait_until):
    e = Explorer("neural-collapse", preset="smoke", runs_root=str(tmp_path),
                 autosave=True)
    assert e.start()
    wait_until(lambda: e.status == "finished", timeout=60)
    saved = load_run(next(tmp_path.glob("neural-collapse/*")), root=tmp_path)
    assert saved.status == "finished" and saved.final is not None
    assert [r.step for r in saved.records] == [r.step for r in e.history]
    off = Explorer("neural-collapse", preset="smoke", runs_root=str(tmp_path / "off"))
    assert off.autosave is False and off.start()  # without autosave nothing is written
    wait_until(lambda: off.status == "finished", timeout=60)
    assert not (tmp_path / "off").exists()


def test_out_of_memory_in_one_of_several_streams_ends_the_run():
    """A race of solvers shares the device: one stream out of memory ends the run with
    the message (an ordinary exception ends that stream only: tests/runtime)."""
    from orthoviz.runtime import Record, guarded, interleave

    def stream(fail: bool):
        yield Record(1, "train", {"loss": 1.0})
        if fail:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        yield Record(2, "train", {"loss": 0.5})

    merged = interleave([guarded(stream(False), {"solver": "cg"}),
                         guarded(stream(True), {"solver": "dcdm"})])
    with pytest.raises(torch.cuda.OutOfMemoryError):
        list(merged)
