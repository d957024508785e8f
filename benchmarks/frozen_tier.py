"""The frozen-feature tier's whole method matrix at CIFAR's size on this machine's CPUs: a study
whose data is an embedding of 50,000 training vectors of a ViT-B's width (768), every method of the
default study on one noisy scenario, with its trials and replicate seeds, built cold by
`molere-bench repro` in a fresh repository.

    python benchmarks/frozen_tier.py                 # 10 methods x 3 seeds, 3 trials each (target: under 20 min on 2 cores)
    python benchmarks/frozen_tier.py --seeds 1 --trials 1

The embedding is fabricated without image files (none are downloaded here): MNIST-1D's generator
makes 62,500 examples (80% the pool, so 50,000, and 12,500 test), and the backbone is an MLP whose
one hidden layer is 768 wide, its head dropped (molere/embed.py), so the embed stage writes 768
features per example as a ViT-B's would be. The heads are linear (`model: {name: mlp, depth: 0}`).
It prints the wall time, the stage count, the time per kind of stage (from the run's `ran NAME
(S s)` lines) and, as the check that the heads learned something, each method's test accuracy from
the report against chance (10 %), and for the reweighting methods whether their weights found the
mislabelled examples (noise AUC). Run it from the project root with the virtual environment's bin/
on PATH, on an otherwise idle machine."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml

from molere_tools.sandbox import ROOT, make_study_repo, study_env

POOL, WIDTH = 50_000, 768
SCENARIO = "idn-40"


def study(seeds: int, trials: int) -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["study"].update(scenarios=[SCENARIO], trusted_scenarios=[], trusted_baselines=[], seeds=list(range(1, seeds + 1)), trials=list(range(trials)))
    backbone = {"name": "mlp", "hidden": WIDTH, "depth": 1}
    images = {"dataset": "mnist1d", "mnist1d": {"num_samples": POOL * 5 // 4}}
    params["embeddings"] = {"vitb-width": {"data": images, "model": backbone, "batch_size": 1024, "device": "cpu"}}
    params["data"] = {"dataset": "features", "features": {"embedding": "vitb-width"}}
    params["model"] = {"name": "mlp", "depth": 0}
    return params


def stage_times(log: str) -> dict[str, list[float]]:
    """Seconds of each stage that ran, by kind (`train@idn-40-erm-0` -> train)."""
    times: dict[str, list[float]] = defaultdict(list)
    for name, seconds in re.findall(r"^ran\s+(\S+) \(([\d.]+) s\)", log, flags=re.M):
        times[name.split("@")[0]].append(float(seconds))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="replicate seeds (default 3)")
    parser.add_argument("--trials", type=int, default=3, help="trials per method (default 3: the default study's)")
    args = parser.parse_args()
    if args.seeds < 1 or args.trials < 1:
        print(f"error: --seeds {args.seeds} --trials {args.trials}: give at least 1 of each", file=sys.stderr)
        raise SystemExit(2)
    params = study(args.seeds, args.trials)
    env = {**study_env(), "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory(prefix="molere-frozen-") as tmp:
        repo = make_study_repo(Path(tmp) / "study", params)
        start = time.perf_counter()
        done = subprocess.run(["molere-bench", "repro"], cwd=repo, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode:
            raise SystemExit(f"molere-bench repro failed:\n{done.stderr[-3000:]}")
        times = stage_times(done.stderr + done.stdout)
        metrics = json.loads((repo / "reports/metrics.json").read_text())[SCENARIO]
    methods = params["study"]["methods"]
    print(f"{os.cpu_count()} CPUs; {POOL:,} training vectors of width {WIDTH}; {len(methods)} methods x {args.seeds} seeds, {args.trials} trials each")
    print(f"wall {wall / 60:.1f} min for {sum(map(len, times.values()))} stages (stage times summed: {sum(map(sum, times.values())) / 60:.1f} min)")
    for kind, seconds in sorted(times.items(), key=lambda item: -sum(item[1])):
        print(f"  {kind:<18} {len(seconds):>4} stages  {sum(seconds):>8.1f} s  (mean {sum(seconds) / len(seconds):.1f} s)")
    print("each method's linear head, mean over seeds: test accuracy (chance 10 %) and, for the methods that")
    print("learn example weights, the noise AUC of those weights (0.5: blind to the mislabelled examples, 1: all below)")
    for method in methods:
        auc = metrics[method].get("noise_auc")
        print(f"  {method:<11} {100 * metrics[method]['id_acc']:.1f} %" + (f"   noise AUC {auc:.3f}" if auc is not None else ""))


if __name__ == "__main__":
    main()
