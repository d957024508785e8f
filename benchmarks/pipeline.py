"""Wall time of the default study built cold three ways in one sitting, each in a fresh copy of
the project: `molere-bench repro` (the Ray executor, what `make repro` runs), the scenario dealer
it replaced (`molere-bench repro --jobs 2` up to commit 615d0c4: the scenarios dealt round robin
to two `dvc --wait-for-lock repro --single-item` processes, re-enacted here on this pipeline so
both build the same study with the same code) and plain serial `dvc repro`; then
`molere-bench repro` and `dvc repro` with nothing changed, and `molere-bench --help`.

    python benchmarks/pipeline.py                                # all three (over an hour on 2 cores)
    python benchmarks/pipeline.py --runs executor,dvc            # some of them
    python benchmarks/pipeline.py -S study.seeds=[1] -S train.steps=100   # a smaller study
    python benchmarks/pipeline.py --here       # only the runs with nothing changed, in this (built) project

Run it from the project root with the virtual environment's bin/ on PATH (`make bench` does), on
an otherwise idle machine. Each build runs the code it was copied from (PYTHONPATH). Times on a
shared CPU wander by +-20% between runs, so the runs with nothing changed are timed several times."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from molere.stage_cli import load_params
from molere_tools.sandbox import ROOT, make_study_repo, study_env

REPEATS = 5
DEALER_JOBS = 2
COLD = {
    "executor": "molere-bench repro (Ray executor), cold",
    "dealer": f"scenario dealer ({DEALER_JOBS} dvc processes), cold",
    "dvc": "dvc repro (serial), cold",
}
WIDTH = 48


def row(label: str, seconds: float, digits: int = 2) -> str:
    return f"{label:<{WIDTH}}{seconds:>10.{digits}f}"


def timed(cmd: str, cwd: Path, env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        raise SystemExit(f"`{cmd}` failed in {cwd}:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def dealer_build(repo: Path, env: dict, scenarios: list[str]) -> None:
    """What `molere-bench repro --jobs 2` did before the executor: the shared fingerprint stage,
    then each process builds the stages upstream of its scenarios' evaluate stages (dealt round
    robin, dependencies first, from DVC's graph), then a last `dvc repro` for the report."""
    from dvc.repo import Repo
    from dvc.repo.graph import collect_pipeline

    run = ["dvc", "--wait-for-lock", "repro"]
    subprocess.run([*run, "fingerprint"], cwd=repo, env=env, check=True, stdout=subprocess.DEVNULL)
    with Repo(str(repo)) as dvc_repo:
        graph = dvc_repo.index.graph
        by_name = {stage.name: stage for stage in graph}  # addressing is relative to the cwd; the name is not
        shares = [scenarios[k::DEALER_JOBS] for k in range(min(DEALER_JOBS, len(scenarios)))]
        plans = [
            [s.name for sc in share for s in collect_pipeline(by_name[f"evaluate@{sc}"], graph) if s.name != "fingerprint"]
            for share in shares
        ]
    workers = [subprocess.Popen([*run, "--single-item", *plan], cwd=repo, env=env, stdout=subprocess.DEVNULL) for plan in plans]
    if any(worker.wait() for worker in workers):
        raise SystemExit(f"a dealer process failed in {repo}")
    subprocess.run(run, cwd=repo, env=env, check=True, stdout=subprocess.DEVNULL)


def cold_build(kind: str, params: dict, tmp: Path) -> float:
    """Seconds to build the study from nothing the `kind` way, in `tmp/<kind>`."""
    repo = make_study_repo(tmp / kind, params)
    env = {**study_env(), "PYTHONPATH": str(ROOT)}
    if kind != "dealer":
        return timed("molere-bench repro" if kind == "executor" else "dvc repro", repo, env)
    start = time.perf_counter()
    dealer_build(repo, {**env, "OMP_NUM_THREADS": "1"}, params["study"]["scenarios"])
    return time.perf_counter() - start


def no_op_repros(repo: Path, env: dict) -> list[str]:
    status = subprocess.run("dvc status", cwd=repo, env=env, shell=True, check=True, capture_output=True, text=True)
    if "up to date" not in status.stdout:
        raise SystemExit(f"{repo} is not up to date; run `make repro` first:\n{status.stdout}")
    rows = []
    for cmd in ["molere-bench repro", "dvc repro"]:
        times = [timed(cmd, repo, env) for _ in range(REPEATS)]
        rows += [
            row(f"{cmd}, nothing changed (median of {REPEATS})", statistics.median(times)),
            row(f"{cmd}, nothing changed (best of {REPEATS})", min(times)),
        ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-S", "--set", action="append", default=[], help="param override for the study, e.g. study.seeds=[1]")
    parser.add_argument("--runs", default=",".join(COLD), help=f"which cold builds, of {','.join(COLD)}")
    parser.add_argument("--here", action="store_true", help="time only the runs with nothing changed, in the current project")
    args = parser.parse_args()
    kinds = args.runs.split(",")
    if set(kinds) - set(COLD):
        parser.error(f"--runs {args.runs}: choose from {','.join(COLD)}")
    print(f"{os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    rows = [f"{'measure':<{WIDTH}}{'seconds':>10}"]
    env = {**study_env(), "PYTHONPATH": str(ROOT)}
    if args.here:
        rows += no_op_repros(Path.cwd(), env)
    else:
        params = load_params(str(ROOT / "params.yaml"), args.set).data
        with tempfile.TemporaryDirectory(prefix="molere-bench-") as tmp:
            cold = {kind: cold_build(kind, params, Path(tmp)) for kind in kinds}
            rows += [row(COLD[kind], seconds, 1) for kind, seconds in cold.items()]
            if {"executor", "dealer"} <= set(cold):
                rows.append(row("executor / dealer (target: at most 0.6)", cold["executor"] / cold["dealer"]))
            rows += no_op_repros(Path(tmp, kinds[0]), env)
    helps = [timed("molere-bench --help", ROOT, env) for _ in range(REPEATS)]
    rows.append(row(f"molere-bench --help (best of {REPEATS})", min(helps)))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
