"""`dvc.yaml` declares exactly the artifacts `molere/paths.py` names, stage by stage, and every
module reads and writes run files through it."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from molere import paths

ROOT = Path(__file__).resolve().parents[1]
S, M, T, SEED = "${item.scenario}", "${item.method}", "${item.trial}", "${item.seed}"

EXPECTED_OUTS = {
    "fingerprint": [paths.FINGERPRINTS],
    "prepare": [paths.data_dir(S)],
    "erm": [paths.erm_rank_dir(S)],
    "rank": [paths.margins(S)],
    "valsets": [paths.valsets(S)],
    "train": [paths.trial_dir(S, M, T)],
    "select": [paths.selected(S, M)],
    "replicate": [paths.run_dir(S, M, SEED)],
    "evaluate": [paths.eval_dir(S)],
    "report": [paths.RESULTS, paths.REPORT, paths.CLAIM_COMPARISONS, paths.FIGURES, paths.CURVES, paths.REPORT_METRICS, paths.CLAIMS],
}


def declared_outs(stage: dict) -> list[str]:
    entries = [*stage.get("outs", []), *stage.get("metrics", [])]
    return sorted(next(iter(e)) if isinstance(e, dict) else e for e in entries)


def test_every_stage_declares_the_outputs_the_layout_names():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert set(stages) == set(EXPECTED_OUTS)
    for name, stage in stages.items():
        assert declared_outs(stage) == sorted(p.as_posix() for p in EXPECTED_OUTS[name]), name


def test_the_training_stages_depend_on_what_they_read():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name in ("train", "replicate"):  # the valsets live outside prepare's folder: named on their own
        assert {paths.data_dir(S).as_posix(), paths.margins(S).as_posix(), paths.valsets(S).as_posix()} <= set(stages[name]["deps"])
    assert not paths.valsets(S).is_relative_to(paths.data_dir(S))  # prepare owns its whole folder


def test_the_timing_files_are_no_dvc_output():
    text = (ROOT / "dvc.yaml").read_text()
    for timing in (paths.TIMINGS, paths.COST_REPORT, paths.COST_TABLE):
        assert timing.as_posix() not in text


def test_no_module_spells_a_run_file_name():
    names = "|".join(re.escape(f'"{name}"') for name in paths.RUN_FILES)
    code = [p for top in ("molere", "stages") for p in (ROOT / top).rglob("*.py") if p != ROOT / "molere/paths.py"]
    assert [p.relative_to(ROOT).as_posix() for p in code if re.search(names, p.read_text())] == []
