"""The synthetic project's tooling that the executor's benchmark leans on (molere_tools/synthetic.py):
which stages each stage reads, and the commands run alone, dependencies first, as the floor a
cold build is held against."""

import subprocess

import pytest

from molere_tools.synthetic import commands_only, pipeline, upstream_stages

WORKS = [f"work-s0-{k}" for k in range(9)]


def test_each_stage_reads_the_stages_that_write_its_dependencies_or_folders_above_or_under_them():
    upstream = upstream_stages(pipeline(12))
    assert upstream == {"make-s0": set(), **{work: {"make-s0"} for work in WORKS}, "sum-s0": set(WORKS), "report": {"sum-s0"}}
    content = {"stages": {
        "a": {"cmd": "x", "outs": ["data/a"]},
        "b": {"cmd": "x", "deps": ["data/a/file"], "outs": ["b.txt"]},  # under a's folder
        "c": {"cmd": "x", "deps": ["data", "elsewhere"], "outs": ["c.txt"]},  # above it
        "d": {"cmd": "x", "deps": ["data/ab"]},  # a sibling whose name begins alike: not a's
    }}
    assert upstream_stages(content) == {"a": set(), "b": {"a"}, "c": {"a"}, "d": set()}


def test_the_commands_alone_build_what_the_pipeline_builds_dependencies_first(tmp_path):
    built = tmp_path / "built"
    commands_only(built, pipeline(12), cores=2)
    # each cell's file holds two lines; sum-s0 counted all nine, so it ran after every cell
    assert (built / "sums" / "s0.txt").read_text().strip() == "18"
    assert (built / "report.txt").read_text().strip() == "18"
    assert sorted(p.name for p in (built / "out" / "s0").iterdir()) == sorted(f"{k}.txt" for k in range(9))


def test_a_failed_command_stops_the_commands_alone(tmp_path):
    content = {"stages": {"ok": {"cmd": "true"}, "bad": {"cmd": "exit 3"}}}
    with pytest.raises(subprocess.CalledProcessError):
        commands_only(tmp_path, content, cores=1)
