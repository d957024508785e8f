"""Stage `fingerprint`: one JSON file per pipeline stage (per method for a per-method stage) with
the SHA-256 of the code it runs and the values of the params keys it reads, written together as one
folder."""

from __future__ import annotations

from pathlib import Path

from molere import paths
from molere.fingerprint import CodeGraph, stage_fingerprint
from molere.io import atomic_dir, write_json
from molere.params import Params
from molere.pipeline import FINGERPRINTED, PER_METHOD
from molere.schema import StudyConfig, section


def run(params: Params, root: Path = Path(".")) -> str:
    code = CodeGraph(root)  # every module read once, for all the stages
    study = section(params, StudyConfig)
    methods = [*study.methods, *study.trusted_baselines]
    written = 0
    with atomic_dir(root / paths.FINGERPRINTS) as out:
        for stage in FINGERPRINTED:
            for method in methods if stage in PER_METHOD else [None]:
                write_json(out / paths.fingerprint(stage, method).relative_to(paths.FINGERPRINTS), stage_fingerprint(code, params, stage, method))
                written += 1
    return f"{written} fingerprints"
