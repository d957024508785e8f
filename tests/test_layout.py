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
    "erm": [paths.erm_rank_dir(S, SEED)],
    "corrupt": [paths.labels(S, SEED)],
    "corrupt-search": [paths.labels(S, SEED)],
    "erm-search": [paths.erm_rank_dir(S, SEED)],
    "rank": [paths.margins(S, SEED)],
    "rank-search": [paths.margins(S, SEED)],
    "valsets-search": [paths.valsets(S, SEED)],
    "valsets": [paths.valsets(S, SEED)],
    "train": [paths.trial_dir(S, M, T)],
    "select": [paths.selected(S, M)],
    "replicate": [paths.run_dir(S, M, SEED)],
    "train-baseline": [paths.trial_dir(S, M, T)],  # the trusted-ERM baselines' cells: the same layout
    "select-baseline": [paths.selected(S, M)],
    "replicate-baseline": [paths.run_dir(S, M, SEED)],
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
    # the trials on the search seed's draws, each replicate on its own seed's
    for name, seed in (("train", "${study.search_seed}"), ("replicate", SEED)):  # the draws live outside prepare's folder
        draws = {paths.labels(S, seed), paths.margins(S, seed), paths.valsets(S, seed)}
        assert {p.as_posix() for p in (paths.data_dir(S), *draws)} <= set(stages[name]["deps"])
        assert not any(p.is_relative_to(paths.data_dir(S)) for p in draws)  # prepare owns its whole folder


def test_the_timing_files_are_no_dvc_output():
    text = (ROOT / "dvc.yaml").read_text()
    for timing in (paths.TIMINGS, paths.COST_REPORT, paths.COST_TABLE):
        assert timing.as_posix() not in text


def test_no_module_spells_a_run_file_name():
    names = "|".join(re.escape(f'"{name}"') for name in paths.RUN_FILES)
    code = [p for top in ("molere", "stages") for p in (ROOT / top).rglob("*.py") if p != ROOT / "molere/paths.py"]
    assert [p.relative_to(ROOT).as_posix() for p in code if re.search(names, p.read_text())] == []
