"""The `molere-bench` command: the user's commands (repro, quick, verify, params, bench) and the
pipeline's stages under `stage` (molere/stage_cli.py, which no stage's code includes this module
into: editing these commands re-runs nothing). Every command imports its work inside it, so
`--help` and start-up never import torch."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from molere.errors import MolereError
from molere.portable import apply_portable
from molere.stage_cli import ParamsOption, SetOption, load_params
from molere.stage_cli import app as stage_app

app = typer.Typer(help="A benchmark suite for learned instance reweighting with hard validation sets.", no_args_is_help=True)
app.add_typer(stage_app, name="stage")


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

    from molere.train.tensors import reproducible_torch
    from molere_tools import meta_step as bench

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
    preset: Optional[Path] = typer.Option(
        None, "--preset", help="A study preset (studies/*.yaml): its values set as -S overrides, before any -S of yours.",
    ),
):
    """Run the out-of-date stages of the DVC pipeline in parallel on Ray (params.yaml's
    `execution` says what each stage reserves) and record each in dvc.lock as `dvc repro` does."""
    from molere.executor.scheduler import reproduce
    from molere_tools.presets import as_overrides, read_preset

    overrides = (as_overrides(read_preset(preset)) if preset else []) + (set_param or [])
    code = reproduce(address, exp, overrides, wait)
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
    from molere import paths
    from molere.verify import badge_line
    from molere.verify import verify as run_verify

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

    from molere.data.configs import data_config
    from molere.experiment import method_config, train_config
    from molere.hparams import as_dict
    from molere.methods import METHODS
    from molere.trials import method_spaces

    methods = p.get("study.methods", list)
    data, own = data_config(p.get("data", dict, {}))
    resolved = {
        **p.data,
        "data": {**as_dict(data), data.dataset: as_dict(own)},
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
