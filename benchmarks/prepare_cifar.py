"""Benchmark: the `prepare` stage on a CIFAR-10-sized dataset (50,000 + 10,000 32x32x3 images,
fabricated in CIFAR-10's real pickle format), with the default params otherwise (scenario `clean`,
the nine computed corruptions at five severities on the first `ood.max_examples` test images).

Prints the stage's wall time and peak memory (the stage runs in its own process) against the
targets, under 60 s and 2 GB, and its CPU time.

    python benchmarks/prepare_cifar.py [--scenario clean] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from molere.io import read_examples  # noqa: E402
from molere_tools.fabricate import trust_fabricated, write_cifar  # noqa: E402

TARGET_SECONDS, TARGET_BYTES = 60, 2 * 1024**3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="clean")
    parser.add_argument("--keep", help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="molere-prepare-") as scratch:
        benchmark(Path(args.keep or scratch), args.scenario)


def benchmark(work: Path, scenario: str) -> None:
    start = time.perf_counter()
    write_cifar(work / "root", 50_000, 10_000)
    print(f"fabricated CIFAR-10 (60,000 images) in {time.perf_counter() - start:.1f} s under {work / 'root'}")

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(dataset="cifar10", cifar10={"root": str(work / "root"), "download": False})
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    command = [sys.executable, "-m", "molere.cli", "stage", "prepare", "--scenario", scenario]
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT), **trust_fabricated(work / "root")}
    subprocess.run(command, cwd=work, check=True, env=env)
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = usage.ru_maxrss * 1024  # Linux reports KiB

    sizes = {name: len(read_examples(work / "data" / scenario / f"{name}.parquet")[0]) for name in ("pool", "test", "ood")}
    print(f"prepare --scenario {scenario}: pool {sizes['pool']:,}, test {sizes['test']:,}, ood {sizes['ood']:,} images")
    print(f"wall time   {seconds:6.1f} s    (target < {TARGET_SECONDS} s)   {'ok' if seconds < TARGET_SECONDS else 'MISSED'}")
    print(f"CPU time    {usage.ru_utime + usage.ru_stime:6.1f} s    (steadier than wall time on a shared machine)")
    print(f"peak memory {peak / 1024**3:6.2f} GB   (target < 2 GB)   {'ok' if peak < TARGET_BYTES else 'MISSED'}")
    print(f"on {os.cpu_count()} CPU cores; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
