"""Stages that write the same bytes at the same moment, built cold again and again: does every
build succeed? Their outputs are one cache object, which the run's workers commit side by side
(molere/executor/sharedcache.py; DVC's own reflink attempt used to remove the object another
worker had just added, and the stage whose checkout came next failed).

    python benchmarks/same_bytes.py                        # 60 builds of 200 stages (about 10 min on 2 cores)
    python benchmarks/same_bytes.py --builds 10 --stages 50

Prints each failed build's failure line, then how many of the builds failed. Run it from the
project root with the virtual environment's bin/ on PATH; from a checkout of 3b8019e (before the
fix) it showed 3 failures in 48 builds."""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from molere_tools.sandbox import study_env
from molere_tools.synthetic import make_repo, same_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=60, help="cold builds (default 60)")
    parser.add_argument("--stages", type=int, default=200, help="stages per project (default 200)")
    args = parser.parse_args()
    failed = 0
    for build in range(1, args.builds + 1):
        with tempfile.TemporaryDirectory(prefix="molere-same-bytes-") as tmp:
            repo = make_repo(Path(tmp) / "project", same_bytes(args.stages))
            done = subprocess.run(["molere-bench", "repro"], cwd=repo, env=study_env(), capture_output=True, text=True)
        if done.returncode:
            failed += 1
            printed = (done.stdout + done.stderr).strip().splitlines()
            reason = [line for line in printed if line.startswith("failed")] or printed[-1:] or [f"exit {done.returncode}"]
            print(f"build {build}: {reason[0]}", flush=True)
    print(f"{failed} of {args.builds} cold builds of {args.stages} same-bytes stages failed")


if __name__ == "__main__":
    main()
