"""Wall-clock timings, kept apart from the results.

A training run's seconds differ from machine to machine and from run to run, so no file whose
bytes must reproduce carries them: not the run's outputs (DVC hashes them, later stages read
them, `dvc.lock` records them), not the report. Each training stage writes them to a timing file
of its own under `timings/` instead, which is no DVC output and is git-ignored; the report stage
gathers them into `reports/cost.md` and `reports/cost.csv`, the only committed timing files
(README, "Reproducibility")."""

from __future__ import annotations

import json
import platform
from pathlib import Path

from molere.io import write_json


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo; elsewhere what `platform` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device, threads: int, portable: bool) -> str:
    """What a timing was measured on, in words: `Intel(R) Xeon(R) ..., 1 thread, portable kernels`
    (the GPU's name on CUDA)."""
    if device.type == "cuda":
        import torch

        where = torch.cuda.get_device_name(device)
    else:
        where = f"{cpu_model()}, {threads} thread{'s' if threads != 1 else ''}"
    return f"{where}, {'portable' if portable else 'native'} kernels"


def write_timing(path, seconds: float, epoch_seconds: list[float], machine_name: str) -> None:
    """A training run's timing file: total seconds (set-up excluded), seconds per epoch."""
    epochs = len(epoch_seconds)
    write_json(
        path,
        {
            "seconds": seconds,
            "epochs": epochs,
            "seconds_per_epoch": seconds / max(1, epochs),
            "epoch_seconds": epoch_seconds,
            "machine": machine_name,
        },
    )


def read_timing(path) -> dict | None:
    """A timing file's contents, or None where there is none or it is damaged: a stage that DVC
    restored from its cache instead of running wrote none, and a missing cost must never stop the
    report."""
    try:
        timing = json.loads(Path(path).read_text())
        return timing if isinstance(timing, dict) and isinstance(timing.get("seconds_per_epoch"), (int, float)) else None
    except (OSError, ValueError):
        return None
