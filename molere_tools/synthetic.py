"""A project of trivial stages shaped like a study, for the executor's benchmark and tests: what
is timed is the executor's own work, not training.

    scenarios: make-S writes the folder data/S (three files)
    cells:     work-S-K reads data/S and the param `data.seed`, writes out/S/K.txt (after
               sleeping `cell_seconds`, to hold its CPU that long; none by default)
    per scenario: sum-S reads the folder out/S (every cell's output), writes sums/S.txt
    report:    reads the folder sums, writes report.txt

Stages are spelled out one by one in dvc.yaml (no foreach), so the count is exact."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import yaml

from molere_tools.sandbox import ROOT, study_env

PARAM = "data.seed"  # a param every cell lists (params.yaml is the project's: the executor checks it)
STAGES_PER_SCENARIO = 100  # about as many cells per scenario as a study's scenario has


def pipeline(stages: int, cell_seconds: float = 0.0) -> dict:
    """dvc.yaml's content for exactly `stages` stages (at least 4)."""
    if stages < 4:
        raise ValueError(f"a synthetic project needs at least 4 stages, not {stages}")
    scenarios = max(1, min(math.ceil(stages / STAGES_PER_SCENARIO), (stages - 1) // 3))
    cells = stages - 2 * scenarios - 1
    out: dict[str, dict] = {}
    sleep = f"sleep {cell_seconds:g} && " if cell_seconds else ""
    for s in range(scenarios):
        out[f"make-s{s}"] = {
            "cmd": f"mkdir -p data/s{s} && for f in a b c; do echo s{s}-$f > data/s{s}/$f; done",
            "outs": [f"data/s{s}"],
        }
    for k in range(cells):
        s = k % scenarios
        out[f"work-s{s}-{k}"] = {
            "cmd": f"{sleep}mkdir -p out/s{s} && cat data/s{s}/a > out/s{s}/{k}.txt && echo {k} >> out/s{s}/{k}.txt",
            "deps": [f"data/s{s}"],
            "params": [PARAM],
            "outs": [f"out/s{s}/{k}.txt"],
        }
    for s in range(scenarios):
        out[f"sum-s{s}"] = {"cmd": f"mkdir -p sums && cat out/s{s}/* | wc -l > sums/s{s}.txt", "deps": [f"out/s{s}"], "outs": [f"sums/s{s}.txt"]}
    out["report"] = {"cmd": "cat sums/* > report.txt", "deps": ["sums"], "outs": ["report.txt"]}
    return {"stages": out}


def same_bytes(stages: int) -> dict:
    """dvc.yaml's content for `stages` independent stages that all write the same bytes: one cache
    object, which the run's workers commit side by side (molere/executor/sharedcache.py)."""
    return {"stages": {f"w{k}": {"cmd": f"mkdir -p out && echo same > out/{k}.txt", "outs": [f"out/{k}.txt"]} for k in range(stages)}}


def make_synthetic_repo(dest: Path, stages: int, cell_seconds: float = 0.0) -> Path:
    """A fresh git + DVC repository at `dest` holding the synthetic pipeline, committed."""
    return make_repo(dest, pipeline(stages, cell_seconds))


def make_repo(dest: Path, content: dict) -> Path:
    """A fresh git + DVC repository at `dest` whose dvc.yaml holds `content`, committed."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "dvc.yaml").write_text(yaml.safe_dump(content, sort_keys=False))
    shutil.copy(ROOT / "params.yaml", dest / "params.yaml")
    setup = (
        "git init -q && git config user.email study@molere && git config user.name study"
        " && dvc init -q && dvc config core.analytics false && git add -A && git commit -qm synthetic"
    )
    subprocess.run(setup, cwd=dest, env=study_env(), shell=True, check=True, capture_output=True)
    return dest
