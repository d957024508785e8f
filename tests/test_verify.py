"""`molere-bench verify`'s comparison: what `git status` in the regenerated clone shows, timing
files aside. (Its end-to-end run is in test_portable.py, on two simulated machines.)"""

import subprocess

import pytest

from molere.errors import MolereError
from molere.verify import Verdict, badge_line, differing_files, regenerate_command

TIMING_FILES = ("reports/cost.md", "reports/cost.csv", "timings")


@pytest.fixture
def clone(tmp_path):
    """A committed study: results, the committed timing files and an ignore file."""
    files = {
        "reports/metrics.json": "{}\n", "reports/report.md": "# report\n", "reports/cost.md": "1 s\n",
        "reports/cost.csv": "seconds\n1\n", "dvc.lock": "stages: {}\n", ".gitignore": "/timings\n/runs\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    setup = "git init -q && git add -A && git -c user.email=t@t -c user.name=t commit -qm study"
    subprocess.run(setup, cwd=tmp_path, shell=True, check=True)
    return tmp_path


def test_an_unchanged_regeneration_differs_in_nothing_but_timings(clone):
    (clone / "reports/cost.md").write_text("2 s\n")
    (clone / "timings").mkdir()
    (clone / "timings/erm.json").write_text("{}")
    (clone / "runs").mkdir()
    (clone / "runs/model.pt").write_bytes(b"\x00")  # a DVC output, git-ignored
    assert differing_files(clone, TIMING_FILES) == []


def test_changed_deleted_and_new_result_files_are_listed(clone):
    (clone / "reports/metrics.json").write_text('{"acc": 0.5}\n')
    (clone / "dvc.lock").unlink()
    (clone / "reports/figure.png").write_bytes(b"png")
    (clone / "reports/cost.csv").write_text("seconds\n2\n")
    assert sorted(differing_files(clone, TIMING_FILES)) == [
        ("deleted", "dvc.lock"), ("modified", "reports/metrics.json"), ("new", "reports/figure.png")
    ]


def test_the_badge_line_says_what_differed():
    line = badge_line(Verdict("0123456789abcdef", [("modified", "reports/metrics.json")], 120, 600.0), "current")
    assert line.startswith("Last verified: ") and ", commit 0123456789ab, `molere-bench verify --env current`" in line
    assert line.endswith(": 1 of the 120 committed files differed, in 10 min.")
    good = badge_line(Verdict("0123456789abcdef", [], 120, 900.0), "fresh")
    assert "came out bit for bit the same (timing files aside), in 15 min." in good


def test_an_unknown_environment_is_refused_before_anything_runs():
    with pytest.raises(MolereError, match=r"^unknown --env 'conda'; allowed: current, fresh$"):
        regenerate_command("conda")
