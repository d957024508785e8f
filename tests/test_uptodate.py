"""The no-op decided from the last complete run's record (molere/executor/uptodate.py) agrees with
`dvc status`: up to date after a run, and out of date after each kind of change DVC notices (a
source dependency, a param, a missing output, an output gone from the cache, an edited command),
where the next run re-runs exactly the stages DVC names."""

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from dvc.repo import Repo

from molere.executor import uptodate
from molere_tools.sandbox import study_env
from molere_tools.synthetic import make_synthetic_repo

STAGES = 12  # make-s0, work-s0-0 .. work-s0-8, sum-s0, report
WORKS = {f"work-s0-{k}" for k in range(9)}


def sh(cmd: str, repo: Path) -> str:
    done = subprocess.run(cmd, cwd=repo, env=study_env(), shell=True, capture_output=True, text=True)
    assert done.returncode == 0, f"{cmd}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def dvc_status(repo: Path) -> set[str]:
    """The stages `dvc status` finds out of date."""
    return set(json.loads(sh("dvc status --json", repo)))


def decided_unchanged(repo: Path) -> bool:
    with Repo(str(repo)) as dvc_repo:
        return uptodate.unchanged(dvc_repo) is not None


def rerun(repo: Path) -> set[str]:
    """The stages `molere-bench repro` ran or restored."""
    return set(re.findall(r"^(?:ran|restored)\s+(\S+)", sh("molere-bench repro", repo), flags=re.M))


def edit_yaml(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def report_reads_notes(pipeline: dict) -> None:
    pipeline["stages"]["report"]["deps"].append("notes.txt")


def cache_file(repo: Path, out: str) -> Path:
    md5 = next(o["md5"] for s in yaml.safe_load((repo / "dvc.lock").read_text())["stages"].values() for o in s.get("outs", []) if o["path"] == out)
    return repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]


CHANGES = {
    "a source dependency": (lambda repo: (repo / "notes.txt").write_text("edited\n"), {"report"}),
    "a param": (lambda repo: edit_yaml(repo / "params.yaml", lambda p: p["data"].update(seed=7)), WORKS),
    "a missing output": (lambda repo: (repo / "sums" / "s0.txt").unlink(), {"sum-s0"}),
    "an output gone from the cache": (lambda repo: cache_file(repo, "out/s0/3.txt").unlink(), {"work-s0-3"}),
    "an edited command": (lambda repo: edit_yaml(repo / "dvc.yaml", lambda p: p["stages"]["report"].update(cmd="cat sums/* > report.txt && true")), {"report"}),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    repo = make_synthetic_repo(tmp_path_factory.mktemp("uptodate") / "repo", STAGES)
    (repo / "notes.txt").write_text("notes\n")
    edit_yaml(repo / "dvc.yaml", report_reads_notes)
    sh("git add -A && git commit -qm notes", repo)
    sh("molere-bench repro", repo)
    return repo


def test_after_a_run_both_find_nothing_to_do(built):
    assert dvc_status(built) == set()
    assert decided_unchanged(built)
    assert rerun(built) == set()


@pytest.mark.parametrize("change", list(CHANGES))
def test_after_a_change_both_find_it_and_the_run_reruns_what_dvc_names(built, change):
    make, expected = CHANGES[change]
    make(built)
    assert not decided_unchanged(built)
    named = dvc_status(built)
    assert named >= expected, named
    assert rerun(built) == expected
    assert dvc_status(built) == set() and decided_unchanged(built)


def test_without_a_record_the_run_checks_with_dvc_and_records_again(built):
    Path(built, ".dvc", "tmp", uptodate.RECORD).unlink()
    assert not decided_unchanged(built)
    assert rerun(built) == set()
    assert decided_unchanged(built)
