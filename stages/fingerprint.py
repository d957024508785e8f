"""Stage `fingerprint`: one file per pipeline stage with the SHA-256 of the code it runs."""

from __future__ import annotations

from pathlib import Path

from molere.fingerprint import PIPELINE_STAGES, stage_fingerprint
from molere.io import write_text
from stages import paths


def run(root: Path = Path(".")) -> None:
    for stage in PIPELINE_STAGES:
        write_text(root / paths.fingerprint(stage), stage_fingerprint(root, stage) + "\n")
