"""`dvc repro` with the scenarios spread over parallel DVC processes.

DVC runs one stage at a time, and on a small CPU most of a training stage's time is spent starting
Python and torch, so the cores sit half idle. DVC releases its repository lock while a stage's
command runs, and `--wait-for-lock` makes each process wait for the lock instead of failing, so
several `dvc repro` processes may build disjoint parts of the DAG at once.

The parts must really be disjoint: DVC write-locks a stage's outputs while it checks whether the
stage changed, which fails while another process runs a stage that reads them. So the one stage
every scenario shares, `fingerprint`, runs first, and each worker then builds exactly the stages
upstream of `evaluate@<scenario>` for its share of the scenarios (`dvc repro --single-item` over
that list, taken from DVC's own graph, dependencies first); a last `dvc repro` writes the report."""

from __future__ import annotations

import os
import subprocess

from molere.errors import MolereError

SHARED_STAGES = ("fingerprint",)


def deal(scenarios: list[str], jobs: int) -> list[list[str]]:
    """Scenarios dealt round robin to `jobs` workers (no empty worker)."""
    if jobs < 1:
        raise MolereError(f"--jobs = {jobs} is outside the allowed range [1, inf)")
    return [scenarios[k::jobs] for k in range(min(jobs, len(scenarios)))]


def worker_plan(graph, scenarios: list[str]) -> list[str]:
    """Names of the stages upstream of each scenario's `evaluate` stage (itself included),
    dependencies first, without the shared stages. `graph` is DVC's stage graph, whose edges
    point from a stage to the stages it depends on."""
    import networkx as nx

    by_name = {stage.addressing: stage for stage in graph}
    plan = []
    for scenario in scenarios:
        upstream = nx.dfs_postorder_nodes(graph, by_name[f"evaluate@{scenario}"])
        plan += [stage.addressing for stage in upstream if stage.addressing not in SHARED_STAGES]
    return plan


def repro_command(targets: list[str], single_item: bool = False) -> list[str]:
    return ["dvc", "--wait-for-lock", "repro", *(["--single-item"] if single_item else []), *targets]


def dvc_repro(targets: list[str], env: dict) -> None:
    command = repro_command(targets)
    if subprocess.run(command, env=env).returncode != 0:
        raise MolereError(f"{' '.join(command)} failed (its output is above)")


def parallel_repro(scenarios: list[str], jobs: int) -> None:
    from dvc.repo import Repo

    shares = deal(scenarios, jobs)
    # one torch thread per worker: the workers, not the threads, use the cores
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    dvc_repro(list(SHARED_STAGES), env)
    with Repo() as repo:
        plans = [worker_plan(repo.index.graph, share) for share in shares]
    workers = [subprocess.Popen(repro_command(plan, single_item=True), env=env) for plan in plans]
    failed = [w.args for w in workers if w.wait() != 0]
    if failed:
        raise MolereError(f"dvc repro of {failed[0][-1]} and the stages before it failed (its output is above)")
    dvc_repro([], env)
