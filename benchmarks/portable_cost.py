"""The speed cost of portable mode (`execution.portable`, molere/portable.py): train stages run with
the pinned AVX2 kernels and with this CPU's native ones, on one machine in one sitting, the two
modes interleaved round by round (a shared machine's load then weighs on both alike).

    python benchmarks/portable_cost.py [--rounds 3] [--methods erm lrw-hard] [-S data.num_samples=4000 ...]

It builds a scratch copy of the default study with one scenario (clean) up to the split stage,
then times `molere-bench stage train` per method and mode: the training's wall seconds per epoch
(from the run's timing file) and the whole process's CPU seconds (start-up, data and prediction
too; steadier than wall time on a shared machine). Both modes run one torch thread, as
`make repro` does, so only the kernels differ."""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import tempfile
from pathlib import Path

import yaml

from molere.portable import portable_environment
from molere_tools.sandbox import ROOT, make_study_repo, study_env

MODES = {"portable": "true", "native": "false"}
SCENARIO = "clean"


def study_params(methods: list[str], overrides: list[str]) -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["study"].update(scenarios=[SCENARIO], methods=methods, search_seed=0, seeds=[1])
    params["train"]["device"] = "cpu"
    for item in overrides:
        key, _, value = item.partition("=")
        *parents, leaf = key.split(".")
        node = params
        for part in parents:
            node = node[part]
        node[leaf] = yaml.safe_load(value)
    return params


def bench_env() -> dict:
    """This process's environment without portable mode's variables (each stage sets its own), one
    thread for native mode too."""
    env = {k: v for k, v in study_env().items() if k not in portable_environment(True)}
    return {**env, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_train(repo: Path, method: str, portable: str, env: dict) -> tuple[float, float]:
    """(training wall seconds per epoch, process CPU seconds) of one train stage."""
    command = ["molere-bench", "stage", "train", "--method", method, "-S", f"execution.portable={portable}"]
    start = children_cpu()
    subprocess.run(command, cwd=repo, env=env, check=True, stdout=subprocess.DEVNULL)
    cpu = children_cpu() - start
    timing = json.loads((repo / "timings" / SCENARIO / method / "seed0.json").read_text())
    return timing["seconds_per_epoch"], cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=["erm", "lrw-hard"])
    parser.add_argument("-S", "--set", action="append", default=[], help="a params override, e.g. train.epochs=5")
    args = parser.parse_args()
    env = bench_env()
    with tempfile.TemporaryDirectory(prefix="molere-portable-") as tmp:
        repo = make_study_repo(Path(tmp), study_params(args.methods, args.set))
        subprocess.run(["dvc", "repro", f"valsets-search@{SCENARIO}-0"], cwd=repo, env=env, check=True, stdout=subprocess.DEVNULL)
        times: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for round_ in range(args.rounds):
            order = list(MODES) if round_ % 2 == 0 else list(MODES)[::-1]
            for method in args.methods:
                for mode in order:
                    times.setdefault((method, mode), []).append(timed_train(repo, method, MODES[mode], env))
    print(f"median of {args.rounds} interleaved rounds, 1 torch thread, {os.cpu_count()} cores; × native: ratio of medians")
    print(f"{'method':<10}{'mode':<10}{'wall s / epoch':>15}{'× native':>10}{'process CPU s':>15}{'× native':>10}")
    for method in args.methods:
        medians = {mode: [statistics.median(t[i] for t in times[(method, mode)]) for i in (0, 1)] for mode in MODES}
        for mode, (epoch, cpu) in medians.items():
            native_epoch, native_cpu = medians["native"]
            print(f"{method:<10}{mode:<10}{epoch:>15.3f}{epoch / native_epoch:>10.2f}{cpu:>15.2f}{cpu / native_cpu:>10.2f}")


if __name__ == "__main__":
    main()
