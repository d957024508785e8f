"""The speed cost of portable mode (`execution.portable`, molere/portable.py): train stages run with
the pinned AVX2 kernels and with this CPU's native ones, on one machine in one sitting, the two
modes interleaved round by round (a shared machine's load then weighs on both alike).

    python benchmarks/portable_cost.py [--rounds 3] [--methods erm lrw-hard] [--against REV] [-S data.mnist1d.num_samples=4000 ...]

`--against REV` adds a third contender: portable mode as the code at git revision REV had it
(e.g. the previous portable mode), in a scratch study of its own built from that revision.

It builds a scratch copy of the default study with one scenario (clean) up to the split stage,
then times `molere-bench stage train` per method and mode: the training's wall seconds per epoch
(from the run's timing file) and the whole process's CPU seconds (start-up, data and prediction
too; steadier than wall time on a shared machine). Both modes run one torch thread, as
`make repro` does, so only the kernels differ."""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import tarfile
import tempfile
from pathlib import Path

import yaml

from molere.portable import portable_environment
from molere_tools.sandbox import ROOT, make_study_repo, study_env

MODES = {"portable": "true", "native": "false"}
SCENARIO = "clean"


def study_params(code: Path, methods: list[str], overrides: list[str]) -> dict:
    """The params.yaml of the project at `code`, cut to one scenario, `methods` and one seed."""
    params = yaml.safe_load((code / "params.yaml").read_text())
    seeds = {"seeds": [1]} if "search_seed" in params["study"] else {"seeds": [0]}  # before 28: no search seed
    params["study"].update(scenarios=[SCENARIO], trusted_scenarios=[], methods=methods, **seeds)
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
    return {**env, "OMP_NUM_THREADS": "1"}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_train(repo: Path, method: str, portable: str, env: dict) -> tuple[float, float]:
    """(training wall seconds per epoch, process CPU seconds) of one train stage."""
    command = ["molere-bench", "stage", "train", "--method", method, "-S", f"execution.portable={portable}"]
    start = children_cpu()
    subprocess.run(command, cwd=repo, env={**env, "PYTHONPATH": str(repo)}, check=True, stdout=subprocess.DEVNULL)
    cpu = children_cpu() - start
    newest = max((repo / "timings" / SCENARIO / method).rglob("*.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(newest.read_text())["seconds_per_epoch"], cpu


def code_at(revision: str, dest: Path) -> Path:
    """The project's files at `revision`, unpacked into `dest`."""
    archive = subprocess.run(["git", "archive", revision], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def study_repos(tmp: Path, methods: list[str], overrides: list[str], against: str | None, env: dict) -> dict[str, tuple[Path, str]]:
    """contender -> (scratch study with each method's first trial trained, so every input of a
    train stage is there in either revision's layout, execution.portable)."""
    repo = make_study_repo(tmp / "here", study_params(ROOT, methods, overrides))
    contenders = {mode: (repo, flag) for mode, flag in MODES.items()}
    if against:
        code = code_at(against, tmp / "code")
        old = make_study_repo(tmp / "against", study_params(code, methods, overrides), code=code)
        contenders[f"portable@{against}"] = (old, "true")
    for path in {path for path, _ in contenders.values()}:
        trials = [f"train@{SCENARIO}-{method}-0" for method in methods]
        subprocess.run(["dvc", "repro", *trials], cwd=path, env={**env, "PYTHONPATH": str(path)},
                       check=True, stdout=subprocess.DEVNULL)
    return contenders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=["erm", "lrw-hard"])
    parser.add_argument("--against", help="a git revision whose portable mode also runs, e.g. HEAD~1")
    parser.add_argument("-S", "--set", action="append", default=[], help="a params override, e.g. train.epochs=5")
    args = parser.parse_args()
    env = bench_env()
    with tempfile.TemporaryDirectory(prefix="molere-portable-") as tmp:
        contenders = study_repos(Path(tmp), args.methods, args.set, args.against, env)
        times: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for round_ in range(args.rounds):
            order = list(contenders) if round_ % 2 == 0 else list(contenders)[::-1]
            for method in args.methods:
                for name in order:
                    repo, flag = contenders[name]
                    times.setdefault((method, name), []).append(timed_train(repo, method, flag, env))
    print(f"median of {args.rounds} interleaved rounds, 1 torch thread, {os.cpu_count()} cores; × native: ratio of medians")
    print(f"{'method':<10}{'mode':<22}{'wall s / epoch':>15}{'× native':>10}{'process CPU s':>15}{'× native':>10}")
    for method in args.methods:
        medians = {name: [statistics.median(t[i] for t in times[(method, name)]) for i in (0, 1)] for name in contenders}
        native_epoch, native_cpu = medians["native"]
        for name, (epoch, cpu) in medians.items():
            print(f"{method:<10}{name:<22}{epoch:>15.3f}{epoch / native_epoch:>10.2f}{cpu:>15.2f}{cpu / native_cpu:>10.2f}")


if __name__ == "__main__":
    main()
