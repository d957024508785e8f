"""The `execution` section of params.yaml: what each stage reserves on the Ray cluster, the
environment of the Ray workers, and whether the CPU kernels are pinned (`portable`). Only
`portable` changes results (every stage declares it); the rest is how, not what, so changing it
re-runs nothing."""

from __future__ import annotations

from dataclasses import dataclass

from molere.errors import MolereError
from molere.hparams import build_config, hparam
from molere.params import Params
from molere.portable import portable_environment

# The stages that train models: only they reserve GPUs (`-search`: the search seed's, dvc.yaml).
TRAINING_STAGES = ("erm", "erm-search", "rank", "rank-search", "train", "replicate")


@dataclass(frozen=True, kw_only=True)
class Execution:
    cpus_per_stage: float = hparam(1.0, low=0, low_open=True)
    gpus_per_train: float = hparam(0.0, low=0)  # a fraction of one GPU, or whole GPUs
    retries: int = hparam(1, low=0)  # of a stage whose worker died (a failing command is not retried)
    portable: bool = hparam(True)  # CPU kernels pinned to AVX2 (molere/portable.py)

    def __post_init__(self):
        if self.gpus_per_train > 1 and self.gpus_per_train != int(self.gpus_per_train):
            raise MolereError(f"execution.gpus_per_train = {self.gpus_per_train!r}: a stage takes a fraction of one GPU (0 to 1) or whole GPUs")

    def resources(self, stage_name: str) -> dict:
        """The Ray resources one stage reserves (`train@clean-erm-0` is a `train` stage)."""
        gpus = self.gpus_per_train if stage_name.split("@")[0] in TRAINING_STAGES else 0.0
        return {"num_cpus": self.cpus_per_stage, "num_gpus": gpus}


def load_execution(params: Params) -> Execution:
    """The `execution` section, checked; an absent section or key takes the default."""
    return build_config(Execution, params.get("execution", (dict, type(None)), None), "execution.")


def worker_env(execution: Execution) -> dict[str, str]:
    """Environment variables of every Ray worker of a run (Ray's runtime_env): torch uses as many
    threads as the stage reserved CPUs, so the stages, not the threads, share the cores; in
    portable mode its pins, one thread included, come over that (a parallel reduction's order
    depends on the thread count)."""
    return {"OMP_NUM_THREADS": str(max(1, int(execution.cpus_per_stage))), **portable_environment(execution.portable)}
