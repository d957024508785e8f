"""The `molere-bench` command. Stage modules are imported inside each command, so `--help` and
start-up never import torch."""

from __future__ import annotations

import importlib
import sys
from typing import List, Optional

import typer
import yaml

from molere.errors import MolereError
from molere.params import Params

app = typer.Typer(help="A benchmark suite for learned instance reweighting with hard validation sets.", no_args_is_help=True)
stage_app = typer.Typer(help="Run one pipeline stage (what `dvc repro` calls).", no_args_is_help=True)
app.add_typer(stage_app, name="stage")

ParamsOption = typer.Option("params.yaml", "--params", help="The params file to read.")
SetOption = typer.Option(None, "--set", "-S", help="Override a param: -S train.epochs=5 (repeatable).")
ScenarioOption = typer.Option(None, help="Scenario name, e.g. clean, idn-40, skew-50 [default: study.scenarios[0]].")


def load_params(path: str, overrides: Optional[List[str]]) -> Params:
    params = Params.load(path)
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise MolereError(f"malformed override {item!r}; expected KEY=VALUE, e.g. train.epochs=5")
        params.override(key, yaml.safe_load(value))
    return params


def first(params: Params, key: str, value):
    """A command-line choice, or the first entry of the study's list in params."""
    return value if value is not None else params.get(key, list)[0]


SCENARIO_STAGES = {
    "prepare": "Build the scenario's pool (with its label corruption), test set and OOD shifts.",
    "erm": "Train the first ERM pass on the supplied train split (selected on the supplied val split).",
    "rank": "Score the probabilistic margin of every pool example.",
    "split": "Write the hard / easy / random validation sets.",
    "evaluate": "Summarise every run of a scenario: accuracies, OOD, margins, calibration, cost.",
}


def add_scenario_stage(name: str, doc: str) -> None:
    """Register `stage <name> --scenario S`, which runs `stages.<name>.run(params, S)`."""

    def command(scenario: Optional[str] = ScenarioOption, params: str = ParamsOption, set_: Optional[List[str]] = SetOption):
        p = load_params(params, set_)
        importlib.import_module(f"stages.{name}").run(p, first(p, "study.scenarios", scenario))

    command.__doc__ = doc
    stage_app.command(name)(command)


for _name, _doc in SCENARIO_STAGES.items():
    add_scenario_stage(_name, _doc)


@stage_app.command()
def train(
    method: str = typer.Option("erm", help="Method name, e.g. erm, lrw-hard, molere."),
    scenario: Optional[str] = ScenarioOption,
    seed: Optional[int] = typer.Option(None, help="Seed [default: study.seeds[0]]."),
    params: str = ParamsOption,
    set_: Optional[List[str]] = SetOption,
):
    """Train one method on one scenario with one seed."""
    from stages import train as stage

    p = load_params(params, set_)
    stage.run(p, first(p, "study.scenarios", scenario), method, first(p, "study.seeds", seed))


@stage_app.command()
def report(params: str = ParamsOption, set_: Optional[List[str]] = SetOption):
    """Write reports/: tables, figures and metrics.json over scenarios, methods and seeds."""
    from stages import report as stage

    stage.run(load_params(params, set_))


def main() -> None:
    try:
        app()
    except MolereError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
