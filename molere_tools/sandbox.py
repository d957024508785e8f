"""A scratch copy of the study in a fresh git + DVC repository, for the end-to-end tests and the
pipeline benchmark (DVC experiments need a git repository with a commit)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def study_env() -> dict:
    """The environment for running DVC there: this interpreter's bin/ first, analytics off."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}


def make_study_repo(dest: Path, params: dict, code: Path = ROOT) -> Path:
    """Copy the code, `dvc.yaml` and the ignore files (of this project, or of another version of
    it at `code`) into `dest` with `params` as params.yaml, then commit."""
    for name in ["molere", "stages"]:
        shutil.copytree(code / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ["dvc.yaml", ".dvcignore", ".gitignore", "features/.gitkeep"]:
        if (code / name).exists():  # an older version may lack one
            (dest / name).parent.mkdir(exist_ok=True)
            shutil.copy(code / name, dest / name)
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    setup = (
        "git init -q && git config user.email study@molere && git config user.name study"
        " && dvc init -q && dvc config core.analytics false && git add -A && git commit -qm study"
    )
    subprocess.run(setup, cwd=dest, env=study_env(), shell=True, check=True, capture_output=True)
    return dest
