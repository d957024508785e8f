"""`dvc.yaml` runs exactly the stages of the stage table (molere/pipeline.py), each with its command
and the artifacts the table names, and every module reads and writes run files through
molere/paths.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from molere import paths
from molere.errors import MolereError
from molere.fingerprint import CodeGraph
from molere.pipeline import DVC_STAGES, Stage, made_by
from molere.stage_cli import COMMAND

ROOT = Path(__file__).resolve().parents[1]
S, M, T, SEED = "${item.scenario}", "${item.method}", "${item.trial}", "${item.seed}"

DVC_CELL = {"scenario": S, "method": M, "trial": T, "seed": SEED, "embedding": "${key}"}  # embed: a foreach over a mapping


def declared_outs(stage: dict) -> list[str]:
    entries = [*stage.get("outs", []), *stage.get("metrics", [])]
    return sorted(next(iter(e)) if isinstance(e, dict) else e for e in entries)


def table_mismatches(table: dict, dvc_stages: dict) -> list[str]:
    """How dvc.yaml's stages disagree with the stage table: a stage in one and not the other, a
    command that is not its stage's with its options, outs that are not the table's."""
    problems = [f"{name}: in the stage table, not in dvc.yaml" for name in table.keys() - dvc_stages.keys()]
    problems += [f"{name}: in dvc.yaml, not in the stage table" for name in dvc_stages.keys() - table.keys()]
    for name in table.keys() & dvc_stages.keys():
        described, declared = table[name], dvc_stages[name].get("do", dvc_stages[name])
        cell = {option: DVC_CELL[option] for option in described.per}
        if described.name == "train":  # the trials run on the search seed's draws
            cell["seed"] = "${study.search_seed}"
        command = " ".join([*COMMAND, made_by(described.name, **cell)])
        if declared["cmd"] != command:
            problems.append(f"{name}: runs `{declared['cmd']}`, not `{command}`")
        if declared_outs(declared) != sorted(p.as_posix() for p in described.outs(**{k: v for k, v in cell.items()})):
            problems.append(f"{name}: outs {declared_outs(declared)} are not the table's")
    return problems


def test_dvc_yaml_runs_each_stage_of_the_table_with_the_outputs_it_names():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert table_mismatches(DVC_STAGES, stages) == []


def test_a_stage_missing_from_either_side_or_declared_otherwise_is_found():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    extra = Stage("augment", "Augment.", ("scenario",), (), lambda scenario: [paths.data_dir(scenario) / "x"])
    assert table_mismatches({**DVC_STAGES, "augment": extra}, stages) == ["augment: in the stage table, not in dvc.yaml"]
    assert table_mismatches(DVC_STAGES, {**stages, "augment": stages["prepare"]}) == ["augment: in dvc.yaml, not in the stage table"]
    moved = {**stages, "rank": {**stages["rank"], "outs": ["runs/elsewhere.parquet"]}}
    assert table_mismatches(DVC_STAGES, moved) == ["rank: outs ['runs/elsewhere.parquet'] are not the table's"]
    renamed = {**stages, "select": {**stages["select"], "cmd": "molere-bench stage select --scenario ${item.scenario}"}}
    assert [p.split(":")[0] for p in table_mismatches(DVC_STAGES, renamed)] == ["select"]


def test_made_by_names_every_option_of_the_stage():
    assert made_by("replicate", scenario="clean", method="erm", seed=3) == "replicate --scenario clean --method erm --seed 3"
    with pytest.raises(MolereError, match="stage replicate is run per scenario, method, seed, not scenario, seed"):
        made_by("replicate", scenario="clean", seed=3)


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


def import_cycles(root: Path) -> list[list[str]]:
    """The project's import loops: every set of modules that import each other round, by any
    import statement (a function's too), as molere.fingerprint reads them."""
    modules = CodeGraph(root).modules
    edges = {name: sorted(i for i in module.imports if i in modules and i != name) for name, module in modules.items()}
    order, low, stack, cycles = {}, {}, [], []

    def visit(name):  # Tarjan's strongly connected components
        order[name] = low[name] = len(order)
        stack.append(name)
        for target in edges[name]:
            if target not in order:
                visit(target)
                low[name] = min(low[name], low[target])
            elif target in stack:
                low[name] = min(low[name], order[target])
        if low[name] == order[name]:
            component = stack[stack.index(name):]
            del stack[stack.index(name):]
            cycles.extend([sorted(component)] if len(component) > 1 else [])

    for name in edges:
        if name not in order:
            visit(name)
    return cycles


def test_the_project_has_no_import_loop(tmp_path):
    assert import_cycles(ROOT) == []
    # the loop the stage command line removed: the user's command line -> executor -> worker -> back
    for name, text in {"molere/__init__.py": "", "molere/cli.py": "def repro():\n    from molere import executor\n",
                       "molere/executor.py": "from molere import worker\n", "molere/worker.py": "def run():\n    from molere.cli import app\n",
                       "molere/paths.py": "", "stages/__init__.py": "from molere import paths\n"}.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    assert import_cycles(tmp_path) == [["molere.cli", "molere.executor", "molere.worker"]]
