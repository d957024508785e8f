"""Wall time of the default study: a cold `molere-bench repro --jobs 2` (what `make repro` runs) in
a fresh copy of the project, then `dvc repro` with nothing changed, and `molere-bench --help`.

    python benchmarks/pipeline.py [-S train.epochs=2 ...]

Run it from the project root with the virtual environment's bin/ on PATH (`make bench` does)."""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from molere.cli import load_params
from molere.sandbox import ROOT, make_study_repo, study_env


def timed(cmd: str, cwd: Path, env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, shell=True, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-S", "--set", action="append", default=[], help="param override for the study")
    args = parser.parse_args()
    env = study_env()
    with tempfile.TemporaryDirectory(prefix="molere-bench-") as tmp:
        repo = make_study_repo(Path(tmp), load_params(str(ROOT / "params.yaml"), args.set).data)
        cold = timed("molere-bench repro --jobs 2", repo, env)
        warm = timed("dvc repro", repo, env)
        helps = [timed("molere-bench --help", repo, env) for _ in range(5)]
    print(f"{'measure':<40}{'seconds':>10}")
    print(f"{'molere-bench repro -j 2, cold':<40}{cold:>10.1f}")
    print(f"{'dvc repro, nothing changed':<40}{warm:>10.2f}")
    print(f"{'molere-bench --help (best of 5)':<40}{min(helps):>10.2f}")


if __name__ == "__main__":
    main()
