"""Where the executor's driver spends its CPU: a cold `molere-bench repro` of a synthetic project
(molere_tools/synthetic.py) run in this process under cProfile with a CPU-time clock, so the
figure is the driver's own work whatever else the machine runs (its wall time is not).

    python benchmarks/driver_profile.py                 # 227 stages, the 25 costliest calls
    python benchmarks/driver_profile.py --stages 1027 --top 40
    python benchmarks/driver_profile.py --stages 2552 --plain   # the CPU time alone, no profiler

Prints the driver's CPU time per stage and the calls with the most cumulative CPU time below the
scheduler's loop; with --plain, the CPU time of a run without the profiler, which slows Python's
calls (issue 30's target: at most 15 ms a stage). Run it from the project root with the virtual environment's bin/ on PATH
(the Ray workers the run starts need `molere-bench`)."""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

from molere_tools.synthetic import make_synthetic_repo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", type=int, default=227, help="the project's size (at least 4)")
    parser.add_argument("--top", type=int, default=25, help="how many calls to list")
    parser.add_argument("--plain", action="store_true", help="measure the CPU time without the profiler, list no calls")
    args = parser.parse_args()
    if args.stages < 4:
        print(f"error: --stages {args.stages}: a synthetic project has at least 4 stages", file=sys.stderr)
        raise SystemExit(2)
    from molere.cli import main as cli

    with tempfile.TemporaryDirectory(prefix="molere-profile-") as tmp:
        repo = make_synthetic_repo(Path(tmp) / "project", args.stages)
        os.chdir(repo)
        profile = cProfile.Profile(time.process_time)
        sys.argv = ["molere-bench", "repro"]
        start, started_cpu = time.perf_counter(), time.process_time()  # this process's threads, not its children
        with contextlib.redirect_stdout(run_log := io.StringIO()), contextlib.redirect_stderr(run_log):
            try:
                cli() if args.plain else profile.runcall(cli)
            except SystemExit as done:
                if done.code:
                    raise SystemExit(f"molere-bench repro failed:\n{run_log.getvalue()[-3000:]}") from None
        wall, cpu = time.perf_counter() - start, time.process_time() - started_cpu
    how = "without the profiler" if args.plain else "under cProfile"
    print(f"{args.stages} stages: driver CPU {cpu:.1f} s = {1000 * cpu / args.stages:.1f} ms per stage, {how} (wall {wall:.1f} s)")
    if args.plain:
        return
    stats = pstats.Stats(profile, stream=(listing := io.StringIO()))
    stats.sort_stats("cumulative").print_stats(r"molere/executor|dvc/|scmrepo|ruamel|dpath|voluptuous", args.top)
    print(listing.getvalue().split("\n", 6)[-1])


if __name__ == "__main__":
    main()
