"""Wall time of the default study: a cold `molere-bench repro --jobs 2` (what `make repro` runs) in
a fresh copy of the project, then `dvc repro` with nothing changed, and `molere-bench --help`.

    python benchmarks/pipeline.py [-S train.epochs=2 ...]
    python benchmarks/pipeline.py --here      # only the no-op `dvc repro`, in this (built) project

Run it from the project root with the virtual environment's bin/ on PATH (`make bench` does).
Times on a shared CPU wander by +-20% between runs, so the no-op repro is timed several times."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from molere.cli import load_params
from molere.sandbox import ROOT, make_study_repo, study_env

REPEATS = 5


def timed(cmd: str, cwd: Path, env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, shell=True, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def no_op_repro(repo: Path, env: dict) -> list[str]:
    status = subprocess.run("dvc status", cwd=repo, env=env, shell=True, check=True, capture_output=True, text=True)
    if "up to date" not in status.stdout:
        raise SystemExit(f"{repo} is not up to date; run `make repro` first:\n{status.stdout}")
    times = [timed("dvc repro", repo, env) for _ in range(REPEATS)]
    return [
        f"{f'dvc repro, nothing changed (median of {REPEATS})':<40}{statistics.median(times):>10.2f}",
        f"{f'dvc repro, nothing changed (best of {REPEATS})':<40}{min(times):>10.2f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-S", "--set", action="append", default=[], help="param override for the study")
    parser.add_argument("--here", action="store_true", help="time only the no-op repro, in the current project")
    args = parser.parse_args()
    env = study_env()
    rows = [f"{'measure':<40}{'seconds':>10}"]
    if args.here:
        rows += no_op_repro(Path.cwd(), env)
    else:
        with tempfile.TemporaryDirectory(prefix="molere-bench-") as tmp:
            repo = make_study_repo(Path(tmp), load_params(str(ROOT / "params.yaml"), args.set).data)
            rows.append(f"{'molere-bench repro -j 2, cold':<40}{timed('molere-bench repro --jobs 2', repo, env):>10.1f}")
            rows += no_op_repro(repo, env)
            helps = [timed("molere-bench --help", repo, env) for _ in range(REPEATS)]
        rows.append(f"{f'molere-bench --help (best of {REPEATS})':<40}{min(helps):>10.2f}")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
