"""Stage `fingerprint`: one JSON file per pipeline stage (per method for `train`) with the SHA-256
of the code it runs and the values of the params keys it reads, written together as one folder."""

from __future__ import annotations

from pathlib import Path

from molere.fingerprint import PER_METHOD_STAGES, PIPELINE_STAGES, CodeGraph, stage_fingerprint
from molere.io import atomic_dir, write_json
from molere.params import Params
from molere.schema import StudyConfig, section
from molere import paths


def run(params: Params, root: Path = Path(".")) -> None:
    code = CodeGraph(root)  # every module read once, for all the stages
    study = section(params, StudyConfig)
    methods = [*study.methods, *study.trusted_baselines]
    with atomic_dir(root / paths.FINGERPRINTS) as out:
        for stage in PIPELINE_STAGES:
            for method in methods if stage in PER_METHOD_STAGES else [None]:
                fingerprint = stage_fingerprint(code.fingerprint(stage, method), params, stage, method)
                write_json(out / paths.fingerprint(stage, method).relative_to(paths.FINGERPRINTS), fingerprint)
