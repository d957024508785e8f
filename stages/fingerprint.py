"""Stage `fingerprint`: one JSON file per pipeline stage (per method for `train`) with the SHA-256
of the code it runs and the values of the params keys it reads."""

from __future__ import annotations

from pathlib import Path

from molere.fingerprint import PER_METHOD_STAGES, PIPELINE_STAGES, CodeGraph, stage_fingerprint
from molere.io import write_json
from molere.params import Params
from molere import paths


def run(params: Params, root: Path = Path(".")) -> None:
    code = CodeGraph(root)  # every module read once, for all the stages
    for stage in PIPELINE_STAGES:
        for method in params.get("study.methods", list) if stage in PER_METHOD_STAGES else [None]:
            write_json(root / paths.fingerprint(stage, method), stage_fingerprint(code.fingerprint(stage, method), params, stage, method))
