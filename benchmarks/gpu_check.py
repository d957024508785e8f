"""GPU check, one command on a CUDA machine, nothing fetched:

    python benchmarks/gpu_check.py [--epochs 2] [--batch-size 512] [--keep DIR]

Fabricates a CIFAR-10-sized dataset (50,000 + 10,000 32x32x3 images) in CIFAR-10's real pickle
format, then runs the pipeline's stages through the CLI on CUDA with ResNet-18: prepare, the
ranking ERM pass, rank, split, `train --method erm` and `train --method lrw-hard` (reweighting
from the first epoch: warmup 0). Prints each training run's images/s and the ratio against the
targets (bf16, batch 512: ERM >= 30,000 images/s, LRW-Hard >= 10,000). An epoch's images are the
run's train side; the figure is the last epoch's, since the first one also pays cuDNN's kernel
search and CUDA's start. Without a CUDA device it says so and exits 0.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGETS = {"erm": 30_000, "lrw-hard": 10_000}  # images/s on an H100/H200, bf16, batch 512


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2, help="epochs of each run; the last one is timed")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--keep", help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device here (torch.cuda.is_available() is False); run it on a GPU machine")
        return 0
    print(f"gpu_check on {torch.cuda.get_device_name()}, torch {torch.__version__}, {os.cpu_count()} CPU cores")
    with tempfile.TemporaryDirectory(prefix="molere-gpu-check-") as scratch:
        return check(Path(args.keep or scratch), args.epochs, args.batch_size)


def check(work: Path, epochs: int, batch_size: int) -> int:
    fabricate(work)
    write_params(work, epochs, batch_size)
    stages = [
        ["prepare"],
        ["corrupt"],  # the draw stages: the search seed's, by default
        ["erm"],
        ["rank"],
        ["valsets"],
        ["train", "--method", "erm", "--seed", "0"],
        ["train", "--method", "lrw-hard", "--seed", "0"],
    ]
    for stage in stages:
        if not run_stage(work, stage):
            return 1
    report(work)
    return 0


def fabricate(work: Path) -> None:
    from molere_tools.fabricate import write_cifar

    start = time.perf_counter()
    write_cifar(work / "root", 50_000, 10_000)
    print(f"fabricated CIFAR-10 (60,000 images) in {time.perf_counter() - start:.1f} s")


def write_params(work: Path, epochs: int, batch_size: int) -> None:
    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["study"].update(scenarios=["clean"], trusted_scenarios=[], methods=["erm", "lrw-hard"], search_seed=0, seeds=[1])
    params["data"].update(dataset="cifar10", cifar10={"root": str(work / "root"), "download": False})
    params["model"] = {"name": "resnet18"}
    params["train"].update(steps=None, epochs=epochs, batch_size=batch_size, device="cuda")
    params["methods"]["lrw-hard"]["warmup"] = 0.0
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def run_stage(work: Path, stage: list[str]) -> bool:
    command = [sys.executable, "-m", "molere.cli", "stage", *stage, "--scenario", "clean"]
    start = time.perf_counter()
    from molere_tools.fabricate import trust_fabricated

    env = {**os.environ, "PYTHONPATH": str(ROOT), **trust_fabricated(work / "root")}
    result = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
    print(f"  {' '.join(stage):32s} {time.perf_counter() - start:6.1f} s", flush=True)
    if result.returncode != 0:
        print(result.stdout[-3000:], result.stderr[-3000:], sep="\n")
    return result.returncode == 0


def report(work: Path) -> None:
    import json

    import pandas as pd

    from molere import paths

    rates = {}
    for method, target in TARGETS.items():
        run = paths.trial_dir("clean", method, 0)  # what `train --method M --seed 0` writes
        images = len(pd.read_parquet(work / run / paths.WEIGHTS))  # the train side
        epoch_seconds = json.loads((work / paths.timing(run)).read_text())["epoch_seconds"]
        per_epoch = ", ".join(f"{images / s:,.0f}" for s in epoch_seconds)
        rates[method] = images / epoch_seconds[-1]
        verdict = "ok" if rates[method] >= target else "MISSED"
        print(f"{method:9s} {rates[method]:9,.0f} images/s (epochs: {per_epoch}; {images:,} train images)  target {target:,}  {verdict}")
    print(f"lrw-hard / erm throughput ratio: {rates['lrw-hard'] / rates['erm']:.2f} (cost: {rates['erm'] / rates['lrw-hard']:.2f}x ERM)")


if __name__ == "__main__":
    sys.exit(main())
