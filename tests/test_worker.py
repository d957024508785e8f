"""The worker's wait for a shell command, through a pidfd and without one (Popen's polling): it
returns when the command exits, not at the end of a polling period, and an interrupt delivered
between Python instructions (ray.cancel's, simulated with `_thread.interrupt_main`) cuts it
within one period."""

import _thread
import os
import subprocess
import threading
import time

import pytest

from molere.executor import worker

LONG_S = 30.0  # a polling period no test may wait out


@pytest.fixture(params=["pidfd", "polling"])
def how(request, monkeypatch):
    """The wait as this machine makes it (a pidfd where the kernel has them), and by Popen's polling."""
    if request.param == "polling":
        monkeypatch.setattr(worker, "open_pidfd", lambda pid: None)
    else:
        probe = worker.open_pidfd(os.getpid())
        if probe is None:
            pytest.skip("no pidfd on this system: the wait polls")
        os.close(probe)
    return request.param


def test_the_wait_ends_when_the_command_exits_not_when_a_period_does(how, monkeypatch):
    monkeypatch.setattr(worker, "POLL_S", LONG_S)
    start = time.monotonic()
    process = subprocess.Popen(["sleep", "0.2"])
    worker.wait(process)
    assert process.returncode == 0 and time.monotonic() - start < LONG_S / 2


def test_an_interrupt_between_instructions_cuts_the_wait_within_a_period(how, monkeypatch):
    monkeypatch.setattr(worker, "POLL_S", 0.05)
    process = subprocess.Popen(["sleep", str(LONG_S)])
    threading.Timer(0.2, _thread.interrupt_main).start()
    start = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            worker.wait(process)
        assert time.monotonic() - start < LONG_S / 2 and process.poll() is None  # the command still runs: `stop` ends it
    finally:
        process.kill()
        process.wait()


def test_the_wait_leaves_no_file_descriptor_open(how):
    before = set(os.listdir("/proc/self/fd"))
    for code in [0, 3]:
        process = subprocess.Popen(["sh", "-c", f"exit {code}"])
        worker.wait(process)
        assert process.returncode == code
    assert set(os.listdir("/proc/self/fd")) == before
