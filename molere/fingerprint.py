"""Fingerprints of the code each pipeline stage runs.

A stage's code is the library (`molere/`), the stages' shared helpers and its own module in
`stages/`, but not the other stages' modules (nor the fingerprint stage's), so editing
`stages/report.py` re-runs only the report. `dvc.yaml` makes one small fingerprint file per stage
and each stage depends on its own: DVC then checks one file per stage instead of walking the
whole library for every stage, which was a third of a `dvc repro` with nothing changed."""

from __future__ import annotations

import hashlib
from pathlib import Path

from molere.errors import check_choice

PIPELINE_STAGES = ("prepare", "erm", "rank", "split", "train", "evaluate", "report")
CODE_DIRS = ("molere", "stages")


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


def stage_fingerprint(root: Path, stage: str) -> str:
    return fingerprint(root, code_files(root, stage))
