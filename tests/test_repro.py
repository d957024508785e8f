import pytest

from molere.errors import MolereError
from molere.repro import worker_targets


def test_scenarios_are_dealt_round_robin():
    assert worker_targets(["clean", "idn-40", "skew-50"], 2) == [["evaluate@clean", "evaluate@skew-50"], ["evaluate@idn-40"]]


def test_no_empty_worker_and_one_job_is_plain_repro():
    assert worker_targets(["clean"], 4) == [["evaluate@clean"]]
    assert worker_targets(["a", "b"], 1) == [["evaluate@a", "evaluate@b"]]


def test_jobs_below_one_is_an_error():
    with pytest.raises(MolereError, match=r"--jobs = 0 is outside the allowed range"):
        worker_targets(["clean"], 0)
