"""`molere-bench verify`: regenerate the study in a fresh clone of the commit and list the committed
result files that came out different, timing files aside.

A fresh clone has no DVC cache and no outputs, so every stage runs again; with locked
dependencies and portable kernels (molere/portable.py) the results must come out bit for bit as
committed, and `git status` in the clone shows what did not. By default the clone builds its own
environment from requirements.lock (`make repro`), as a new user would; `--env current` runs it
with this Python environment instead, with the clone's code first on the path (quicker, but it
does not check the lock)."""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from molere.errors import MolereError, check_choice
from molere.timings import cpu_model

ENVS = ("fresh", "current")


@dataclass(frozen=True)
class Verdict:
    commit: str
    differing: list[tuple[str, str]]  # (what happened, path), e.g. ("modified", "reports/metrics.json")
    compared: int  # committed files, timing files aside
    seconds: float


def git(args: list[str], cwd: Path) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise MolereError(f"git {' '.join(args)} failed in {cwd}: {result.stderr.strip().splitlines()[-1:]}")
    return result.stdout


def is_timing_file(path: str, timing_files: tuple[str, ...]) -> bool:
    return any(path == t or path.startswith(t.rstrip("/") + "/") for t in timing_files)


STATUS = {"M": "modified", "D": "deleted", "?": "new", "A": "added", "T": "type changed"}


def differing_files(clone: Path, timing_files: tuple[str, ...]) -> list[tuple[str, str]]:
    """What `git status` in `clone` shows changed, deleted or new (not ignored), timing files aside."""
    found = []
    for line in git(["status", "--porcelain", "--untracked-files=all"], clone).splitlines():
        code, path = line[:2].strip()[:1], line[3:]
        if not is_timing_file(path, timing_files):
            found.append((STATUS.get(code, code), path))
    return found


def regenerate_command(env: str) -> list[str]:
    check_choice("--env", env, ENVS)
    if env == "fresh":
        return ["make", "repro"]
    return [sys.executable, "-m", "molere.cli", "repro"]


def regenerate_env(env: str, clone: Path) -> dict:
    """The clone's code first (a `current` environment's molere is installed from elsewhere) and
    this interpreter's bin/ on PATH, for `molere-bench` and `dvc`; no portable variables of ours:
    the clone's stages set their own, from its params.yaml."""
    base = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    if env == "fresh":
        return base
    return {**base, "PYTHONPATH": str(clone), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


def verify(root: Path, timing_files: tuple[str, ...], env: str = "fresh", keep: bool = False) -> Verdict:
    """Clone the commit checked out in `root` into a temporary folder, regenerate the study there
    and compare (see the module's doc). The clone is removed afterwards unless `keep`, or the
    regeneration failed (it is kept to look into)."""
    command = regenerate_command(env)
    commit = git(["rev-parse", "HEAD"], root).strip()
    work = Path(tempfile.mkdtemp(prefix="molere-verify-"))
    clone = work / "study"
    start = time.perf_counter()
    git(["clone", "--quiet", "--no-checkout", str(root.resolve()), str(clone)], work)
    git(["checkout", "--quiet", commit], clone)
    print(f"verify: regenerating commit {commit[:12]} in {clone} with `{' '.join(command)}`", flush=True)
    if subprocess.run(command, cwd=clone, env=regenerate_env(env, clone)).returncode != 0:
        raise MolereError(f"`{' '.join(command)}` failed in the fresh clone (its output is above); kept at {clone}")
    committed = [p for p in git(["ls-files"], clone).splitlines() if not is_timing_file(p, timing_files)]
    verdict = Verdict(commit, differing_files(clone, timing_files), len(committed), time.perf_counter() - start)
    if keep:
        print(f"verify: the clone is kept at {clone}")
    else:
        shutil.rmtree(work)
    return verdict


def badge_line(verdict: Verdict, env: str) -> str:
    """The README's line: when, on what, with which outcome."""
    day = datetime.date.today().isoformat()
    where = f"{cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}, Python {platform.python_version()}"
    how = "`molere-bench verify` (fresh clone, `make repro` from requirements.lock)" if env == "fresh" else (
        "`molere-bench verify --env current` (fresh clone, an existing environment)"
    )
    outcome = (
        f"every one of the {verdict.compared} committed files came out bit for bit the same (timing files aside)"
        if not verdict.differing
        else f"{len(verdict.differing)} of the {verdict.compared} committed files differed"
    )
    return f"Last verified: {day}, commit {verdict.commit[:12]}, {how} on {where}: {outcome}, in {verdict.seconds / 60:.0f} min."
