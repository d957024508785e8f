"""The `molere-bench` command. Stage modules are imported inside each command, so `--help` and
start-up never import torch."""

from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path
from typing import List, Optional

import typer

from molere import schema
from molere.errors import MolereError
from molere.fingerprint import declared_params
from molere.params import Params, parse_yaml
from molere.portable import apply_portable, portable_setting

app = typer.Typer(help="A benchmark suite for learned instance reweighting with hard validation sets.", no_args_is_help=True)
stage_app = typer.Typer(help="Run one pipeline stage (what `dvc repro` calls).", no_args_is_help=True)
app.add_typer(stage_app, name="stage")

ParamsOption = typer.Option("params.yaml", "--params", help="The params file to read.")
SetOption = typer.Option(None, "--set", "-S", help="Override a param: -S train.steps=200 (repeatable).")
ScenarioOption = typer.Option(None, help="Scenario name, e.g. clean, idn-40, skew-50 [default: study.scenarios[0]].")


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


def first(params: Params, key: str, value):
    """A command-line choice, checked as params.yaml's values are (a scenario name becomes a
    path), or the first entry of the study's list in params."""
    if value is None:
        return params.get(key, list)[0]
    schema.check_choice_value(key, value)
    return value


def search_seed(params: Params, value: Optional[int]) -> int:
    """A command-line seed, checked, or the study's search seed."""
    if value is None:
        return params.get("study.search_seed", int)
    schema.check_choice_value("study.seeds", value)
    return value


SCENARIO_STAGES = {
    "prepare": "Build the scenario's pool (its selection split corrupted), test set and OOD shifts.",
    "evaluate": "Summarise every run of a scenario: accuracies, OOD, margins, calibration, cost.",
}
# the stages of what one seed draws (molere/draws.py)
DRAW_STAGES = {
    "corrupt": "Draw one seed's label corruption of the pool's training part.",
    "erm": "Train one seed's first ERM pass on the training part (selected on the selection split).",
    "rank": "Score the probabilistic margin of every example of one seed's pool.",
    "valsets": "Write one seed's LRW heuristic hard / easy / random validation sets.",
}
DrawSeedOption = typer.Option(None, help="Seed [default: study.search_seed].")


def add_scenario_stage(name: str, doc: str) -> None:
    """Register `stage <name> --scenario S`, which runs `stages.<name>.run(params, S)` on the params
    the stage declares."""

    def command(scenario: Optional[str] = ScenarioOption, params: str = ParamsOption, set_: Optional[List[str]] = SetOption):
        p = load_params(params, set_)
        scenario = first(p, "study.scenarios", scenario)
        importlib.import_module(f"stages.{name}").run(declared_params(p, name), scenario)

    command.__doc__ = doc
    stage_app.command(name)(command)


def add_draw_stage(name: str, doc: str) -> None:
    """Register `stage <name> --scenario S --seed N`, which runs `stages.<name>.run(params, S, N)`."""

    def command(
        scenario: Optional[str] = ScenarioOption,
        seed: Optional[int] = DrawSeedOption,
        params: str = ParamsOption,
        set_: Optional[List[str]] = SetOption,
    ):
        p = load_params(params, set_)
        scenario, seed = first(p, "study.scenarios", scenario), search_seed(p, seed)
        importlib.import_module(f"stages.{name}").run(declared_params(p, name), scenario, seed)

    command.__doc__ = doc
    stage_app.command(name)(command)


for _name, _doc in SCENARIO_STAGES.items():
    add_scenario_stage(_name, _doc)
for _name, _doc in DRAW_STAGES.items():
    add_draw_stage(_name, _doc)


MethodOption = typer.Option("erm", help="Method name, e.g. erm, lrw-hard, molere.")
SeedOption = typer.Option(None, help="Replicate seed [default: study.seeds[0]].")


@stage_app.command()
def train(
    method: str = MethodOption,
    scenario: Optional[str] = ScenarioOption,
    trial: int = typer.Option(0, help="Trial of the method's search: 0 is the defaults, k >= 1 the k-th seeded draw."),
    seed: Optional[int] = DrawSeedOption,
    params: str = ParamsOption,
    set_: Optional[List[str]] = SetOption,
):
    """Train one trial of one method on one scenario with one seed (the study's: its search seed)."""
    p = load_params(params, set_)
    schema.check_choice_value("study.methods", method)
    schema.check_choice_value("study.trials", trial)
    scenario, seed = first(p, "study.scenarios", scenario), search_seed(p, seed)
    from stages import train as stage  # torch: after the checks, so errors come fast

    stage.run_trial(declared_params(p, "train", method), scenario, method, trial, seed)


@stage_app.command()
def select(
    method: str = MethodOption,
    scenario: Optional[str] = ScenarioOption,
    params: str = ParamsOption,
    set_: Optional[List[str]] = SetOption,
):
    """Pick the method's trial by the selection rule study.selection."""
    p = load_params(params, set_)
    schema.check_choice_value("study.methods", method)
    scenario = first(p, "study.scenarios", scenario)
    from stages import select as stage

    stage.run(declared_params(p, "select"), scenario, method)


@stage_app.command()
def replicate(
    method: str = MethodOption,
    scenario: Optional[str] = ScenarioOption,
    seed: Optional[int] = SeedOption,
    params: str = ParamsOption,
    set_: Optional[List[str]] = SetOption,
):
    """Train the method's selected configuration on one scenario with one seed."""
    p = load_params(params, set_)
    schema.check_choice_value("study.methods", method)
    scenario, seed = first(p, "study.scenarios", scenario), first(p, "study.seeds", seed)
    from stages import train as stage

    stage.run_replicate(declared_params(p, "train", method), scenario, method, seed)


@stage_app.command()
def report(params: str = ParamsOption, set_: Optional[List[str]] = SetOption):
    """Write reports/: tables, figures and metrics.json over scenarios, methods and seeds."""
    p = load_params(params, set_)
    from stages import report as stage

    stage.run(declared_params(p, "report"))


@stage_app.command()
def fingerprint(params: str = ParamsOption, set_: Optional[List[str]] = SetOption):
    """Write fingerprints/: per stage (per method for train) the SHA-256 of the code it runs and
    the values of the params keys it reads."""
    p = load_params(params, set_)
    from stages import fingerprint as stage

    stage.run(p)


bench_app = typer.Typer(help="Benchmarks of the LRW engine.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@bench_app.command("meta-step")
def bench_meta_step(
    model: str = typer.Option("cnn1d", help="A registered model name, e.g. cnn1d, resnet18."),
    batch_size: int = typer.Option(100, help="Train (and validation) batch size."),
    device: str = typer.Option("cpu", help="cpu | cuda | auto."),
    input_shape: str = typer.Option("40", help="Shape of one example: 40 (MNIST-1D), 3,32,32 (CIFAR)."),
    num_classes: int = typer.Option(10),
    repeats: int = typer.Option(30, help="Timed rounds of the steps (median)."),
    epoch_batches: int = typer.Option(40, help="Batches in the timed epochs."),
    epoch_repeats: int = typer.Option(5, help="Timed rounds of the epochs (median)."),
    q: int = typer.Option(5, help="LRW's batches per meta step in the timed epoch."),
    threads: Optional[int] = typer.Option(None, help="torch CPU threads [default: torch's]."),
    clock: str = typer.Option("wall", help="wall | cpu (process CPU time: steadier on a shared CPU)."),
    optimizer: str = typer.Option("adam", help="The classifier's optimiser: adam (the study's train.optimizer) | sgd."),
    portable: bool = typer.Option(False, help="Portable mode's pinned kernels (as the study runs by default; "
                                  "one thread) instead of this CPU's fastest."),
):
    """Time an ERM step, the JVP meta step and the double-backward meta step, and an LRW epoch
    against an ERM epoch; print milliseconds, ratios to ERM and (CUDA) peak memory."""
    apply_portable(portable)
    import torch

    from molere_tools import meta_step as bench
    from molere.train.tensors import reproducible_torch

    reproducible_torch(portable)
    if threads is not None:
        torch.set_num_threads(threads)
    shape = bench.parse_shape(input_shape)
    rows = bench.meta_step_benchmark(
        model, batch_size, device, shape, num_classes, repeats,
        epoch_batches=epoch_batches, epoch_repeats=epoch_repeats, q=q, clock=clock, optimizer=optimizer,
    )
    kernels = "portable" if portable else "native"
    print(f"{model}, input {shape}, batch {batch_size}, device {device}, {torch.get_num_threads()} CPU thread(s), "
          f"{kernels} kernels, clock {clock}, classifier optimiser {optimizer}")
    print(bench.format_table(rows))


@app.command()
def repro(
    address: Optional[str] = typer.Option(
        None, "--address", envvar="RAY_ADDRESS",
        help="The Ray cluster to run on: HOST:PORT, ray://HOST:PORT or auto [default: a private local Ray instance].",
    ),
    exp: Optional[str] = typer.Option(None, "--exp", help="Save the run as DVC experiment NAME (`dvc exp save`), so `dvc exp show` lists it."),
    set_param: Optional[List[str]] = typer.Option(
        None, "--set-param", "-S", help="Set a param in params.yaml first, as `dvc exp run -S` does: -S methods.focal.gamma=1 (repeatable).",
    ),
    wait: bool = typer.Option(False, "--wait", help="If another run (or a DVC command) has the project, wait for it to end instead of stopping."),
):
    """Run the out-of-date stages of the DVC pipeline in parallel on Ray (params.yaml's
    `execution` says what each stage reserves) and record each in dvc.lock as `dvc repro` does."""
    from molere.executor.scheduler import reproduce

    code = reproduce(address, exp, set_param or [], wait)
    if code:
        raise typer.Exit(code)


@app.command()
def quick(folder: Path = typer.Option(Path("quick-study"), help="Where to build it (must not exist; git-ignored).")):
    """Run a small version of the default study (studies/quick.yaml over params.yaml: two
    scenarios, one trial, two seeds, 2,000 samples, 100 steps) in a DVC project of its own, a few
    minutes on 2 cores: the whole pipeline and its report, this project's results untouched."""
    from molere_tools.quick import run_quick

    print(f"report: {run_quick(folder)}")


@app.command()
def verify(
    env: str = typer.Option("fresh", help="fresh: `make repro` in the clone, which builds its own .venv from "
                            "requirements.lock (as a new user would; several GB, minutes); current: this Python "
                            "environment, with the clone's code first on the path."),
    keep: bool = typer.Option(False, help="Keep the clone (it is always kept when the regeneration fails)."),
    canary: bool = typer.Option(False, help="Instead: run the canary (the study's kinds of computation in "
                                "portable mode) and compare its hashes with every machine's record in canary/."),
    save: bool = typer.Option(False, help="With --canary: also write this machine's record into canary/."),
):
    """Regenerate the study in a fresh clone of HEAD and list the committed files that differ,
    timing files aside; exit 1 if any does. Its last line is the README's badge line. With
    --canary, a quicker check: which of the study's computations give this machine the same bits
    as the machines on record (docs/reproducibility.md)."""
    if canary:
        return check_canary(save)
    from molere.verify import badge_line, verify as run_verify
    from molere import paths

    timing_files = (paths.COST_REPORT.as_posix(), paths.COST_TABLE.as_posix(), paths.TIMINGS.as_posix())
    verdict = run_verify(Path("."), timing_files, env, keep)
    for what, path in verdict.differing:
        print(f"differs: {path} ({what})")
    print(badge_line(verdict, env))
    if verdict.differing:
        raise typer.Exit(1)


def check_canary(save: bool) -> None:
    """Print one line per committed record (same bits, or the computations that differ); exit 1
    if any differs."""
    from molere import canary

    mine, records = canary.run(), canary.load_records()
    print(f"this machine: {mine['machine']['cpu']} ({mine['machine']['widest_vectors']}), "
          f"{len(mine['hashes'])} computations, portable mode")
    comparisons = canary.compare(mine, records)
    for c in comparisons:
        verdict = "same bits" if not c.differing else f"differs: {', '.join(c.differing)}"
        print(f"{c.record} ({c.cpu}): {verdict}")
    if save:
        canary.RECORDS.mkdir(exist_ok=True)
        path = canary.RECORDS / canary.record_name(mine)
        path.write_text(json.dumps(mine, indent=1, sort_keys=True) + "\n")
        print(f"wrote {path}")
    if any(c.differing for c in comparisons):
        raise typer.Exit(1)


@app.command("params")
def show_params(params: str = ParamsOption, set_: Optional[List[str]] = SetOption):
    """Print the study's params with every default filled in: the shared training knobs, each
    study method's hyperparameters, and the distributions its trials draw from."""
    p = load_params(params, set_)
    import yaml

    from molere.experiment import method_config, train_config
    from molere.hparams import as_dict
    from molere.methods import METHODS
    from molere.trials import method_spaces

    methods = p.get("study.methods", list)
    resolved = {
        **p.data,
        "train": as_dict(train_config(p)),
        "methods": {m: as_dict(method_config(p, m)) for m in methods},
        "search": {m: {key: str(space) for key, space in method_spaces(p, METHODS.get(m)).items()} for m in methods},
    }
    print(yaml.safe_dump(resolved, sort_keys=False), end="")


def main() -> None:
    try:
        app()
    except MolereError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
