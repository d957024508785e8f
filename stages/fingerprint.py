"""Stage `fingerprint`: one JSON file per pipeline stage (per method or embedding for a keyed stage) with
the SHA-256 of the code it runs and the values of the params keys it reads, written together as one
folder."""

from __future__ import annotations

from pathlib import Path

from molere import paths
from molere.fingerprint import CodeGraph, stage_fingerprint
from molere.io import atomic_dir, write_json
from molere.params import Params
from molere.pipeline import FINGERPRINTED, KEYED
from molere.schema import StudyConfig, section


def run(params: Params, root: Path = Path(".")) -> str:
    code = CodeGraph(root)  # every module read once, for all the stages
    study = section(params, StudyConfig)
    names = {"method": [*study.methods, *study.trusted_baselines], "embedding": list(params.get("embeddings", dict, {}))}
    written = 0
    with atomic_dir(root / paths.FINGERPRINTS) as out:
        for stage in FINGERPRINTED:
            for key in names[KEYED[stage]] if stage in KEYED else [None]:
                write_json(out / paths.fingerprint(stage, key).relative_to(paths.FINGERPRINTS), stage_fingerprint(code, params, stage, key))
                written += 1
    return f"{written} fingerprints"
