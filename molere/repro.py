"""`dvc repro` with the scenarios spread over parallel DVC processes.

DVC runs one stage at a time, and on a small CPU most of a training stage's time is spent starting
Python and torch, so the cores sit half idle. DVC releases its repository lock while a stage's
command runs, and `--wait-for-lock` makes each process wait for the lock instead of failing, so
several `dvc repro` processes may build disjoint parts of the DAG at once. Each worker builds
`evaluate@<scenario>` (with everything upstream of it) for its share of the scenarios; a last
`dvc repro` writes the report."""

from __future__ import annotations

import os
import subprocess

from molere.errors import MolereError


def worker_targets(scenarios: list[str], jobs: int) -> list[list[str]]:
    """Scenarios dealt round robin to `jobs` workers (no empty worker), as evaluate targets."""
    if jobs < 1:
        raise MolereError(f"--jobs = {jobs} is outside the allowed range [1, inf)")
    shares = [scenarios[k::jobs] for k in range(min(jobs, len(scenarios)))]
    return [[f"evaluate@{s}" for s in share] for share in shares]


def parallel_repro(scenarios: list[str], jobs: int) -> None:
    # one torch thread per worker: the workers, not the threads, use the cores
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    workers = [
        subprocess.Popen(["dvc", "--wait-for-lock", "repro", *targets], env=env)
        for targets in worker_targets(scenarios, jobs)
    ]
    failed = [w.args for w in workers if w.wait() != 0]
    if failed:
        raise MolereError(f"{' '.join(failed[0])} failed (its output is above)")
    if subprocess.run(["dvc", "--wait-for-lock", "repro"], env=env).returncode != 0:
        raise MolereError("dvc repro failed (its output is above)")
