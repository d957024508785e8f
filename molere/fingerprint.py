"""Fingerprints of what each pipeline stage depends on besides its input artifacts: the code it
runs and the params it reads.

A stage's code is the library (`molere/`), the stages' shared helpers and its own module in
`stages/`, but not the other stages' modules (nor the fingerprint stage's), so editing
`stages/report.py` re-runs only the report. Its params are the keys STAGE_PARAMS declares, and the
stage is handed only those (`declared_params`): a key it reads without declaring is an error, not
a change that would go unnoticed.

The `fingerprint` stage is the only one that walks the code and reads params.yaml. It writes one
small JSON file per stage (per method for `train`) and each stage depends on its own, so DVC checks
one file per stage instead of walking the library and parsing params.yaml once per stage: together
those were over half of a `dvc repro` with nothing changed (README, "The pipeline")."""

from __future__ import annotations

import hashlib
from pathlib import Path

from molere.errors import MolereError, check_choice
from molere.params import Params

# The params keys each stage reads; `{method}` is the train stage's method.
# Every stage also reads `execution.portable`: it picks the kernels of torch, numpy and their
# BLAS libraries (molere/portable.py), and so the bits of every float a stage computes.
PORTABLE = "execution.portable"
STAGE_PARAMS = {
    "prepare": ("data", "noise", "ood", PORTABLE),
    "erm": ("model", "train", "erm", "methods.erm", PORTABLE),
    "rank": ("rank", "model", "train", "erm", "methods.erm", PORTABLE),  # cross-fit trains ERM fold models
    "split": ("split", PORTABLE),
    "train": ("model", "train", "methods.{method}", PORTABLE),
    "evaluate": ("study.methods", "study.seeds", PORTABLE),  # not the scenarios: adding one re-runs no other
    "report": ("study", PORTABLE),
}
PIPELINE_STAGES = tuple(STAGE_PARAMS)
PER_METHOD_STAGES = tuple(stage for stage, keys in STAGE_PARAMS.items() if any("{method}" in key for key in keys))
CODE_DIRS = ("molere", "stages")


def stage_params(stage: str, method: str | None = None) -> tuple[str, ...]:
    """The params keys `stage` reads (for `train`, with `method`'s own section)."""
    check_choice("pipeline stage", stage, PIPELINE_STAGES)
    if (stage in PER_METHOD_STAGES) != (method is not None):
        raise MolereError(f"stage {stage} {'needs a' if stage in PER_METHOD_STAGES else 'takes no'} method")
    return tuple(key.format(method=method) for key in STAGE_PARAMS[stage])


def declared_params(params: Params, stage: str, method: str | None = None) -> Params:
    """What `stage` may read of `params`: exactly the keys it declares."""
    return params.restricted(stage_params(stage, method), owner=f"stage {stage}")


def is_source(path: Path) -> bool:
    """Bytecode caches are not code: Python writes them as a side effect of running it."""
    return path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"


def code_files(root: Path, stage: str) -> list[Path]:
    """The files (relative to `root`, sorted) whose contents make up `stage`'s code."""
    check_choice("pipeline stage", stage, PIPELINE_STAGES)
    other_stages = {Path("stages", f"{name}.py") for name in (*PIPELINE_STAGES, "fingerprint") if name != stage}
    files = (path.relative_to(root) for top in CODE_DIRS for path in (root / top).rglob("*") if is_source(path))
    return sorted((path for path in files if path not in other_stages), key=Path.as_posix)


def fingerprint(root: Path, files: list[Path]) -> str:
    """SHA-256 over the files' relative paths and contents (a rename changes it too)."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.as_posix().encode() + b"\0")
        digest.update(hashlib.sha256((root / path).read_bytes()).digest())
    return digest.hexdigest()


def code_fingerprint(root: Path, stage: str) -> str:
    return fingerprint(root, code_files(root, stage))


def stage_fingerprint(code: str, params: Params, stage: str, method: str | None = None) -> dict:
    """The stage's code fingerprint and the value of each params key it reads (None where absent)."""
    return {
        "stage": stage,
        "method": method,
        "code": code,
        "params": {key: params.get(key, object, None) for key in stage_params(stage, method)},
    }
