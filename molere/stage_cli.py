"""`molere-bench stage <name>`: the pipeline's stages on the command line, one command per stage of
the table in molere/pipeline.py, each with the options it is run per. This is what dvc.yaml's
commands and the executor's workers run, so it is part of every stage's code (molere/fingerprint.py)
and imports only what every stage needs: the user's commands (molere/cli.py) mount it and can
change without re-running anything. A stage's module is imported inside its command, so `--help`
and start-up never import torch."""

from __future__ import annotations

import importlib
import inspect
import re
from typing import List, Optional

import typer

from molere import schema
from molere.errors import MolereError
from molere.params import Params, parse_yaml
from molere.pipeline import STAGES, Stage, declared_params
from molere.portable import apply_portable, portable_setting

COMMAND = ("molere-bench", "stage")  # how dvc.yaml spells a stage's command
app = typer.Typer(help="Run one pipeline stage (what `dvc repro` calls).", no_args_is_help=True)

ParamsOption = typer.Option("params.yaml", "--params", help="The params file to read.")
SetOption = typer.Option(None, "--set", "-S", help="Override a param: -S train.steps=200 (repeatable).")
# a cell's options: (type, typer option); a seed's default depends on the stage (Stage.seed)
OPTION_TYPES = {
    "scenario": (Optional[str], typer.Option(None, help="Scenario name, e.g. clean, idn-40, skew-50 [default: study.scenarios[0]].")),
    "method": (str, typer.Option("erm", help="Method name, e.g. erm, lrw-hard, molere.")),
    "trial": (int, typer.Option(0, help="Trial of the method's search: 0 is the defaults, k >= 1 the k-th seeded draw.")),
    "embedding": (Optional[str], typer.Option(None, help="Embedding name, a key of `embeddings`; by default its first.")),
}
SEED_HELP = {"study.search_seed": "Seed of the draws; by default the search seed (study.search_seed).", "study.seeds": "Replicate seed; by default the first of study.seeds."}
# a cell's option -> the study list its values are checked against
STUDY_LISTS = {"scenario": "study.scenarios", "method": "study.methods", "trial": "study.trials", "seed": "study.seeds"}


def load_params(path: str, overrides: Optional[List[str]]) -> Params:
    """params.yaml with the `-S KEY=VALUE` overrides on top (VALUE in YAML; empty is null),
    checked against the schema before anything runs; and, before any stage imports torch or
    numpy, the environment of `execution.portable` in this process (molere/portable.py)."""
    params = Params.load(path)
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*", key):
            raise MolereError(f"malformed override {item!r}; expected KEY=VALUE, e.g. train.steps=200")
        params.override(key, parse_yaml(value, f"-S {item}"))
    portable = portable_setting(params)
    schema.validate(params.data)
    schema.check_overrides(params, [item.partition("=")[0] for item in overrides or []])
    apply_portable(portable)
    return params


def resolved_cell(described: Stage, params: Params, given: dict) -> dict:
    """The cell's values: each given one checked as the study list's entries are (a scenario name
    becomes a path), each omitted scenario or seed the study's default."""
    cell = {}
    for option in described.per:
        value = given[option]
        if option == "embedding":
            value = schema.embedding_name(params, value)
        elif value is None and option == "scenario":
            value = params.get("study.scenarios", list)[0]
        elif value is None and option == "seed":
            value = params.get("study.search_seed", int) if described.seed == "study.search_seed" else params.get("study.seeds", list)[0]
        else:
            schema.check_choice_value(STUDY_LISTS[option], value)
        cell[option] = value
    return cell


def run_stage(described: Stage, params_path: str, overrides: Optional[List[str]], given: dict) -> None:
    """Run one cell of a stage, then print one line: what it wrote and its headline figure."""
    params = load_params(params_path, overrides)
    cell = resolved_cell(described, params, given)
    key = cell[described.keyed_by] if described.keyed_by else None
    stage_params = params if described.reads_all else declared_params(params, described.fingerprint_of, key)
    module = importlib.import_module(f"stages.{described.fingerprint_of}")  # torch: after the checks, so errors come fast
    headline = getattr(module, described.function)(stage_params, **cell)
    written = ", ".join(path.as_posix() for path in described.outs(**cell))
    print(f"{described.name}: wrote {written}" + (f" ({headline})" if headline else ""))


def add_stage_command(described: Stage) -> None:
    """Register `stage <name>` with the stage's options, `--params` and `-S`."""

    def command(**given):
        params_path, overrides = given.pop("params"), given.pop("set_")
        run_stage(described, params_path, overrides, given)

    options = {name: OPTION_TYPES.get(name) or (Optional[int], typer.Option(None, help=SEED_HELP[described.seed])) for name in described.per}
    options |= {"params": (str, ParamsOption), "set_": (Optional[List[str]], SetOption)}
    command.__signature__ = inspect.Signature(
        [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind) for name, (kind, option) in options.items()]
    )
    command.__annotations__ = {name: kind for name, (kind, _) in options.items()}
    command.__doc__ = described.doc
    app.command(described.name)(command)


for _stage in STAGES.values():
    add_stage_command(_stage)
