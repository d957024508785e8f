"""How the `execution` section of params.yaml (molere/schema.py, Execution) is applied: what each
stage reserves on the Ray cluster and the environment of the Ray workers. No stage runs this
module: editing it re-runs nothing."""

from __future__ import annotations

from molere.params import Params
from molere.pipeline import TRAINING_STAGES
from molere.portable import portable_environment
from molere.schema import Execution, section


def resources(execution: Execution, stage_name: str) -> dict:
    """The Ray resources one dvc.yaml stage reserves (`train@clean-erm-0` is a `train` stage): GPUs
    only for those that train models (molere/pipeline.py)."""
    gpus = execution.gpus_per_train if stage_name.split("@")[0] in TRAINING_STAGES else 0.0
    return {"num_cpus": execution.cpus_per_stage, "num_gpus": gpus}


def load_execution(params: Params) -> Execution:
    """The `execution` section, checked; an absent section or key takes the default."""
    return section(params, Execution)


def worker_env(execution: Execution) -> dict[str, str]:
    """Environment variables of every Ray worker of a run (Ray's runtime_env): torch uses as many
    threads as the stage reserved CPUs, so the stages, not the threads, share the cores; in
    portable mode its pins, one thread included, come over that (a parallel reduction's order
    depends on the thread count)."""
    return {"OMP_NUM_THREADS": str(max(1, int(execution.cpus_per_stage))), **portable_environment(execution.portable)}
