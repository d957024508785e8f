"""GPU check, one command on a CUDA machine, nothing fetched:

    python benchmarks/gpu_check.py [--epochs 2] [--batch-size 512] [--keep DIR]
    python benchmarks/gpu_check.py --preset studies/cifar100-resnet32.yaml --methods all --train-images 10000

Fabricates a CIFAR-sized dataset (50,000 + 10,000 32x32x3 images) in CIFAR's real pickle format,
then runs the pipeline's stages through the CLI on CUDA: prepare, the ranking ERM pass, rank, the
validation sides, and `train --method M` for each method (LRW's reweighting from the first epoch:
warmup 0). Prints each training run's images/s, its cost against ERM's, and the GPU's mean
utilisation while it ran (NVML through torch, sampled every 0.2 s from its first busy sample on:
the run's start-up before CUDA is counted out, its evaluation after training is not). An epoch's
images are the run's train side; the figure is the last epoch's, since the first one also pays
cuDNN's kernel search and CUDA's start. Without a CUDA device it says so and exits 0.

By default: CIFAR-10, ResNet-18, batch 512, ERM and LRW-Hard, against the targets (bf16, batch
512: ERM >= 30,000 images/s, LRW-Hard >= 10,000). With `--preset`, the preset's dataset (CIFAR-10
or CIFAR-100, fabricated), model and training keys (batch size, optimiser, `train.augment`) over
params.yaml's, its `--epochs` epochs instead of its steps; `--methods all` runs every method of
the study (no target applies).

It needs torch, torchvision, typer, pandas, pyarrow, rich, pyyaml, scikit-learn and scipy, not
DVC, Ray or mnist1d, and runs from the checkout without an install (`python -m molere.cli` with
the checkout on PYTHONPATH), so it runs on a GPU machine's own Python. `--device cpu --model mlp`
on a few hundred images is the smoke run that tests/test_gpu_session.py makes here with those
three packages made unimportable (no target applies on the CPU).
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

TARGETS = {"erm": 30_000, "lrw-hard": 10_000}  # images/s on an H100/H200, bf16, batch 512, ResNet-18
SAMPLE_S = 0.2  # how often the GPU's utilisation is read


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2, help="epochs of each run; the last one is timed")
    parser.add_argument("--batch-size", type=int, help="default: the preset's, else 512")
    parser.add_argument("--preset", type=Path, help="a study preset (studies/*.yaml) on CIFAR-10 or CIFAR-100")
    parser.add_argument("--methods", default="erm,lrw-hard", help="comma-separated, or all (the study's)")
    parser.add_argument("--model", help="a model of the zoo in place of the preset's (the smoke run's small one)")
    parser.add_argument("--keep", help="work in this folder and keep it (default: a temporary one)")
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"), help="cpu: a smoke run of the same stages (no target applies)")
    parser.add_argument("--train-images", type=int, default=50_000)
    parser.add_argument("--test-images", type=int, default=10_000)
    args = parser.parse_args()

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here (torch.cuda.is_available() is False); run it on a GPU machine")
        return 0
    where = torch.cuda.get_device_name() if args.device == "cuda" else "the CPU (a smoke run)"
    print(f"gpu_check on {where}, torch {torch.__version__}, {os.cpu_count()} CPU cores")
    with tempfile.TemporaryDirectory(prefix="molere-gpu-check-") as scratch:
        work = Path(args.keep or scratch)
        work.mkdir(parents=True, exist_ok=True)
        params = study_params(work, args)
        fabricate(work, params["data"]["dataset"], args.train_images, args.test_images)
        targets = args.device == "cuda" and args.preset is None and params["model"]["name"] == "resnet18" and params["train"]["batch_size"] == 512
        return check(work, params, targets)


def study_params(work: Path, args) -> dict:
    """params.yaml with the preset's sections over it, on the fabricated data, by epochs."""
    import yaml

    from molere_tools.presets import read_preset
    from molere_tools.quick import merged

    preset = read_preset(args.preset) if args.preset else {"data": {"dataset": "cifar10"}, "model": {"name": "resnet18"}}
    params = merged(yaml.safe_load((ROOT / "params.yaml").read_text()), preset)
    dataset = params["data"]["dataset"]
    if dataset not in ("cifar10", "cifar100"):
        raise SystemExit(f"gpu_check: the preset's data.dataset is {dataset}; only cifar10 and cifar100 are fabricated here")
    params["data"][dataset] = {"root": str(work / "root"), "download": False}
    if args.model:
        params["model"] = {"name": args.model}
    methods = params["study"]["methods"] if args.methods == "all" else args.methods.split(",")
    params["study"].update(scenarios=["clean"], trusted_scenarios=[], methods=methods, search_seed=0, seeds=[1])
    batch_size = args.batch_size or (params["train"]["batch_size"] if args.preset else 512)
    params["train"].update(steps=None, epochs=args.epochs, batch_size=batch_size, device=args.device)
    lrw = ("lrw-hard", "lrw-easy", "lrw-random")
    # reweighting from the first step, so the epochs time it; out of its search range (0.1-0.3), so
    # not searched: trial 0 is all that runs
    params = merged(params, {"methods": {m: {"warmup": 0.0} for m in lrw}, "search": {"methods": {m: {"warmup": {"distribution": "fixed"}} for m in lrw}}})
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return params


def fabricate(work: Path, dataset: str, train: int, test: int) -> None:
    from molere_tools.fabricate import write_cifar

    start = time.perf_counter()
    write_cifar(work / "root", train, test, num_classes=100 if dataset == "cifar100" else 10)
    print(f"fabricated {dataset} ({train + test:,} images) in {time.perf_counter() - start:.1f} s")


def check(work: Path, params: dict, targets: bool) -> int:
    prefix = [["prepare"], ["corrupt"], ["erm"], ["rank"], ["valsets"]]  # the draw stages: the search seed's, by default
    print(f"{params['model']['name']}, batch {params['train']['batch_size']}, {params['train']['epochs']} epochs, train.augment "
          f"{params['train'].get('augment', 'none')}, device {params['train']['device']}")
    for stage in prefix:
        if run_stage(work, params, stage) is None:
            return 1
    utilisation = {}
    for method in params["study"]["methods"]:
        busy = run_stage(work, params, ["train", "--method", method, "--seed", "0"])
        if busy is None:
            return 1
        utilisation[method] = busy
    report(work, params["study"]["methods"], utilisation, targets)
    return 0


def run_stage(work: Path, params: dict, stage: list[str]) -> float | None:
    """Run one stage; the GPU's mean utilisation while it ran (nan off CUDA), None if it failed."""
    from molere_tools.fabricate import trust_fabricated

    command = [sys.executable, "-m", "molere.cli", "stage", *stage, "--scenario", "clean"]
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))  # the checkout, before any shim
    env = {**os.environ, "PYTHONPATH": path, **trust_fabricated(work / "root")}
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:  # a file, not a pipe: nothing blocks while it is unread
        process = subprocess.Popen(command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        samples = sample_utilisation(process) if params["train"]["device"] == "cuda" else []
        process.wait()
        log.seek(0)
        output = log.read()
    first_busy = next((i for i, value in enumerate(samples) if value > 0), len(samples))
    busy = samples[first_busy:]
    mean = sum(busy) / len(busy) if busy else float("nan")
    shown = f"  GPU busy {mean:5.1f} %" if busy else ""
    print(f"  {' '.join(stage):32s} {time.perf_counter() - start:6.1f} s{shown}", flush=True)
    if process.returncode != 0:
        print(output[-6000:])
        return None
    return mean


def sample_utilisation(process: subprocess.Popen) -> list[float]:
    """The GPU's utilisation (%), read every SAMPLE_S until `process` ends."""
    import torch

    samples: list[float] = []
    while process.poll() is None:
        samples.append(float(torch.cuda.utilization()))
        time.sleep(SAMPLE_S)
    return samples


def report(work: Path, methods: list[str], utilisation: dict[str, float], targets: bool) -> None:
    import json

    import pandas as pd

    from molere import paths

    rates = {}
    print(f"{'method':12s} {'images/s':>9s} {'x ERM':>6s} {'GPU %':>6s}  epochs' images/s")
    for method in methods:
        run = paths.trial_dir("clean", method, 0)  # what `train --method M --seed 0` writes
        images = len(pd.read_parquet(work / run / paths.WEIGHTS))  # the train side
        epoch_seconds = json.loads((work / paths.timing(run)).read_text())["epoch_seconds"]
        rates[method] = images / epoch_seconds[-1]
        cost = f"{rates['erm'] / rates[method]:6.2f}" if "erm" in rates else f"{'-':>6s}"
        per_epoch = ", ".join(f"{images / s:,.0f}" for s in epoch_seconds)
        target = TARGETS.get(method) if targets else None
        verdict = f"  target {target:,}: {'ok' if rates[method] >= target else 'MISSED'}" if target else ""
        print(f"{method:12s} {rates[method]:9,.0f} {cost} {utilisation[method]:6.1f}  {per_epoch} ({images:,} train images){verdict}")
    if not targets:
        print("(no target applies: targets are for ResNet-18 at batch 512 on CUDA)")


if __name__ == "__main__":
    sys.exit(main())
