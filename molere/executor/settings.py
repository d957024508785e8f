"""The `execution` section of params.yaml: what each stage reserves on the Ray cluster, and the
environment of the Ray workers. No pipeline stage reads it, so changing it re-runs nothing."""

from __future__ import annotations

from dataclasses import dataclass

from molere.errors import MolereError, check_range
from molere.params import Params

# The stages that train models: only they reserve GPUs.
TRAINING_STAGES = ("erm", "rank", "train")


@dataclass(frozen=True)
class Execution:
    cpus_per_stage: float = 1.0
    gpus_per_train: float = 0.0
    retries: int = 1

    def resources(self, stage_name: str) -> dict:
        """The Ray resources one stage reserves (`train@clean-erm-0` is a `train` stage)."""
        gpus = self.gpus_per_train if stage_name.split("@")[0] in TRAINING_STAGES else 0.0
        return {"num_cpus": self.cpus_per_stage, "num_gpus": gpus}


def load_execution(params: Params) -> Execution:
    """The `execution` section, checked; an absent section or key takes the default."""
    default = Execution()
    get = lambda key, kind, value: params.get(f"execution.{key}", kind, value)  # noqa: E731
    cpus = check_range("execution.cpus_per_stage", get("cpus_per_stage", float, default.cpus_per_stage), 0, float("inf"), low_open=True)
    gpus = check_range("execution.gpus_per_train", get("gpus_per_train", float, default.gpus_per_train), 0, float("inf"))
    if gpus > 1 and gpus != int(gpus):
        raise MolereError(f"execution.gpus_per_train = {gpus!r}: a stage takes a fraction of one GPU (0 to 1) or whole GPUs")
    retries = check_range("execution.retries", get("retries", int, default.retries), 0, float("inf"))
    return Execution(float(cpus), float(gpus), retries)


def worker_env(execution: Execution) -> dict[str, str]:
    """Environment variables of every Ray worker of a run (Ray's runtime_env): torch uses as many
    threads as the stage reserved CPUs, so the stages, not the threads, share the cores."""
    return {"OMP_NUM_THREADS": str(max(1, int(execution.cpus_per_stage)))}
