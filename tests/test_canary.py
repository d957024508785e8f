"""The canary (molere/canary.py, `molere-bench verify --canary`): this machine against every
committed record of another machine's run, computation by computation."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from molere import canary
from molere.portable import is_x86
from molere_tools.sandbox import ROOT

RECORDS = canary.load_records(ROOT / canary.RECORDS)


@pytest.fixture(scope="module")
def mine() -> dict:
    return canary.run()


def test_the_canary_covers_every_kind_of_computation_the_study_makes(mine):
    assert sorted(mine["hashes"]) == [
        "cnn1d.adam_60_steps", "cnn1d.backward", "cnn1d.forward", "cnn1d.jvp", "meta_net.forward_backward",
        "numpy.exp_log", "numpy.matmul", "softmax_cross_entropy", "splitter.forward_backward",
    ]
    assert mine == canary.run()  # the same machine twice: the same bits


@pytest.mark.skipif(not is_x86(), reason="portable mode promises the same bits on x86-64 machines only")
@pytest.mark.parametrize("record", sorted(RECORDS))
def test_this_machine_computes_what_every_recorded_machine_computed(mine, record):
    [comparison] = canary.compare(mine, {record: RECORDS[record]})
    assert comparison.differing == [], (
        f"{record} ({comparison.cpu}) computed other bits for: {', '.join(comparison.differing)}"
    )


def test_a_record_that_differs_in_one_computation_is_named_with_it(mine, tmp_path):
    other = json.loads(json.dumps(mine))
    other["machine"]["cpu"] = "Other CPU"
    other["hashes"]["cnn1d.jvp"] = "0" * 16
    del other["hashes"]["numpy.matmul"]
    assert canary.compare(mine, {"other.json": other}) == [canary.Comparison("other.json", "Other CPU", ["cnn1d.jvp", "numpy.matmul"])]
    # and through the command: one line per record, exit 1
    (tmp_path / "canary").mkdir()
    (tmp_path / "canary" / "other.json").write_text(json.dumps(other))
    result = subprocess.run([sys.executable, "-m", "molere.cli", "verify", "--canary"], cwd=tmp_path,
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 1
    assert result.stdout.splitlines()[1:] == ["other.json (Other CPU): differs: cnn1d.jvp, numpy.matmul"]


def test_a_record_is_named_after_the_cpu():
    record = {"machine": {"cpu": "Intel(R) Xeon(R) Platinum 8488C", "widest_vectors": "avx512f"}}
    assert canary.record_name(record) == "intel-xeon-platinum-8488c-avx512f.json"
