"""`molere-bench quick`: the default study made small, in a project of its own."""

import subprocess
import sys

import yaml

from molere_tools.quick import merged, quick_params
from molere_tools.sandbox import ROOT


def test_overrides_replace_only_the_keys_they_name():
    base = {"study": {"seeds": [1, 2, 3], "methods": ["erm", "focal"]}, "train": {"steps": 800, "lr": 0.02}, "x": 1}
    over = {"study": {"seeds": [1]}, "train": {"steps": 100}, "y": {"z": 2}}
    assert merged(base, over) == {
        "study": {"seeds": [1], "methods": ["erm", "focal"]}, "train": {"steps": 100, "lr": 0.02}, "x": 1, "y": {"z": 2},
    }
    assert base["study"]["seeds"] == [1, 2, 3]  # the base is left as it was


def test_the_quick_study_is_the_default_one_made_small():
    default = yaml.safe_load((ROOT / "params.yaml").read_text())
    quick = quick_params()
    assert quick["study"]["methods"] == default["study"]["methods"]  # every method, every claim
    assert quick["claims"] == default["claims"] and quick["methods"] == default["methods"]
    assert quick["train"]["steps"] < default["train"]["steps"] and quick["data"]["mnist1d"]["num_samples"] < default["data"]["mnist1d"]["num_samples"]
    assert set(quick["study"]["scenarios"]) <= set(default["study"]["scenarios"])


def test_an_existing_folder_is_a_one_line_error_and_is_left_alone(tmp_path):
    (tmp_path / "quick-study").mkdir()
    (tmp_path / "quick-study" / "mine.txt").write_text("keep")
    result = subprocess.run([sys.executable, "-m", "molere.cli", "quick"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: quick-study already exists; remove it (rm -r quick-study) or choose another with --folder"
    ]
    assert [p.name for p in (tmp_path / "quick-study").iterdir()] == ["mine.txt"]
