"""The executor's own cost as a study grows: projects of trivial stages (a shell line each, shaped
like a study: see molere_tools/synthetic.py) of 227, 1,027 and 2,552 stages, each built cold by
`molere-bench repro` in a fresh repository, then run again with nothing changed.

    python benchmarks/executor_scale.py                  # the three sizes (about 15 min on 2 cores)
    python benchmarks/executor_scale.py --stages 227     # some of them
    python benchmarks/executor_scale.py --cell-seconds 0.14   # cells that take a training run's time
    python benchmarks/executor_scale.py --stages 227 --plain  # and plain `dvc repro` on a copy

Columns: the cold build's wall time, per stage, and per stage above the floor its stages' own
times set on this machine's cores (the executor's overhead), the floor and the wall time's ratio
to it (a stage's time is its worker's: the command and DVC's bookkeeping of the stage, hashing
and caching its outputs, which the worker makes); with --cell-seconds, the floor the cells'
sleeps alone set and the wall time's ratio to that; the floor the commands alone set (each
command run in a shell on the machine's cores, dependencies first, no DVC, no Ray:
`molere_tools.synthetic.commands_only`; the sleeps plus their shells and programs, the issue's
stage-time floor) and the ratio to that; a no-op `molere-bench repro` (the median of REPEATS,
decided from the last complete run's record) and one whose record is gone, so that every stage
is checked with DVC. Run it from the project root with the virtual environment's bin/ on PATH,
on an otherwise idle machine. Targets (issue 30): a no-op at most 5 s at 2,552 stages; the
overhead per stage flat across sizes; the cold build at 2,552 stages within 1.2 times the
commands' floor, at --cell-seconds 0.14 (the issue's study of nearly free training runs, whose
floor was its stages' commands timed without DVC's bookkeeping). (The driver's own CPU per
stage, target at most 15 ms, is benchmarks/driver_profile.py's.)"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from molere.executor.uptodate import RECORD
from molere_tools.sandbox import ROOT, study_env
from molere_tools.synthetic import commands_only, make_synthetic_repo, pipeline

SIZES = [227, 1027, 2552]
REPEATS = 3
HEADER = (
    f"{'stages':>7} {'cold s':>8} {'ms/stage':>9} {'over floor':>11} {'floor s':>8} {'x floor':>8}"
    f" {'sleeps s':>9} {'x sleeps':>9} {'cmds s':>8} {'x cmds':>7} {'no-op s':>8} {'checked s':>10}"
)


def timed(repo: Path, env: dict, command: tuple[str, ...] = ("molere-bench", "repro")) -> tuple[float, str]:
    """Seconds of one `command` in `repo`, and what it printed."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed in {repo}:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start, done.stderr + done.stdout


def stage_seconds(log: str) -> float:
    """The stages' own times, from the run's `ran NAME (S s)` lines."""
    return sum(float(s) for s in re.findall(r"^ran\s+\S+ \(([\d.]+) s\)", log, flags=re.M))


def measure(stages: int, cell_seconds: float, tmp: Path, env: dict) -> str:
    repo = make_synthetic_repo(tmp / str(stages), stages, cell_seconds)
    cold, log = timed(repo, env)
    floor = stage_seconds(log) / os.cpu_count()
    cells = sum(name.startswith("work-") for name in pipeline(stages)["stages"])
    sleeps = cells * cell_seconds / os.cpu_count()
    no_op = statistics.median(timed(repo, env)[0] for _ in range(REPEATS))
    Path(repo, ".dvc", "tmp", RECORD).unlink()
    checked, _ = timed(repo, env)
    commands = commands_only(tmp / f"commands-{stages}", pipeline(stages, cell_seconds), os.cpu_count())
    per_stage, over = 1000 * cold / stages, 1000 * (cold - floor) / stages
    slept = f"{sleeps:>9.1f} {cold / sleeps:>9.2f}" if sleeps else f"{'-':>9} {'-':>9}"
    return (
        f"{stages:>7} {cold:>8.1f} {per_stage:>9.1f} {over:>11.1f} {floor:>8.1f} {cold / floor:>8.2f} {slept}"
        f" {commands:>8.1f} {cold / commands:>7.2f} {no_op:>8.2f} {checked:>10.2f}"
    )


def measure_plain(stages: int, cell_seconds: float, tmp: Path, env: dict) -> str:
    """Plain `dvc repro` on the same project: one stage at a time, dvc.lock rewritten after each."""
    repo = make_synthetic_repo(tmp / f"plain-{stages}", stages, cell_seconds)
    command = ("dvc", "repro", "--quiet")
    cold, _ = timed(repo, env, command)
    no_op, _ = timed(repo, env, command)
    return f"{stages:>7} plain dvc repro: cold {cold:.1f} s, no-op {no_op:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", default=",".join(map(str, SIZES)), help="comma-separated project sizes (at least 4 each)")
    parser.add_argument(
        "--cell-seconds",
        type=float,
        default=0.0,
        help="each cell stage sleeps this long first (0: the executor's overhead alone; 0.14: the issue's nearly free training runs)",
    )
    parser.add_argument("--plain", action="store_true", help="also time plain `dvc repro` on a copy of each project (slow past a few hundred stages)")
    args = parser.parse_args()
    if not re.fullmatch(r"\d+(,\d+)*", args.stages) or min(map(int, args.stages.split(","))) < 4:
        print(f"error: --stages {args.stages}: give sizes of at least 4, separated by commas", file=sys.stderr)
        raise SystemExit(2)
    env = {**study_env(), "PYTHONPATH": str(ROOT)}
    print(f"{os.cpu_count()} CPUs; cells sleep {args.cell_seconds:g} s; no-op: median of {REPEATS}; checked: a no-op without the record, every stage checked with DVC")
    print(HEADER)
    with tempfile.TemporaryDirectory(prefix="molere-scale-") as tmp:
        for stages in map(int, args.stages.split(",")):
            print(measure(stages, args.cell_seconds, Path(tmp), env), flush=True)
            if args.plain:
                print(measure_plain(stages, args.cell_seconds, Path(tmp), env), flush=True)


if __name__ == "__main__":
    main()
