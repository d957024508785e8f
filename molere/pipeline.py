"""The pipeline's stages, each described once: what it is run per, the params keys it reads, whether
it trains, where it writes and the function that runs it. The stage command line
(molere/stage_cli.py), the fingerprints (molere/fingerprint.py), the executor's GPU reservations
(molere/executor/settings.py), the "run this first" hints of the error messages (`made_by`) and the
layout test against dvc.yaml (tests/test_layout.py) all read this table; dvc.yaml stays the user's
file and is held against it.

A stage is run per a *cell*: the values of its options (`--scenario`, `--seed`, `--method`,
`--trial`, `--embedding`). Its params are the keys it reads (`{method}` is its cell's method,
`{embedding}` its embedding) and it is handed only those (`declared_params`): a key it reads without declaring is an error, not a change that would go
unnoticed. Every stage also reads `execution.portable`: it picks the kernels of torch, numpy and
their BLAS libraries (molere/portable.py), and so the bits of every float a stage computes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from molere import paths
from molere.errors import MolereError, check_choice
from molere.params import Params

PORTABLE = "execution.portable"
# a cell's options, in the order a command spells them
OPTIONS = ("embedding", "scenario", "method", "trial", "seed")


@dataclass(frozen=True)
class Stage:
    name: str  # the command (`molere-bench stage <name>`) and the module `stages/<name>.py`
    doc: str  # its one-line help
    per: tuple[str, ...]  # its options, of OPTIONS
    params: tuple[str, ...]  # the params keys it reads; `{method}`, `{embedding}`: the cell's
    outs: Callable[..., list[Path]]  # what it writes, from its cell
    function: str = "run"  # in its module: function(params, **cell)
    module: str = ""  # its module under stages/ when it shares another stage's ("" = its name)
    trains: bool = False  # trains models (reserves GPUs)
    # the dvc.yaml stages that run it ((): the one of its name); a `-search` twin draws the search
    # seed's, the stage itself every replicate seed's (molere/draws.py)
    dvc: tuple[str, ...] = ()
    reads_all: bool = False  # handed the whole params file (only `fingerprint`, which reads every stage's keys)
    seed: str = "study.search_seed"  # what an omitted --seed is: the search seed, or study.seeds[0]
    # where it reads the sections that name registry entries (`model.name`, `data.dataset`): at the
    # top, or inside its cell's section (`embed`: embeddings.<embedding>.model.name)
    within: str = ""

    @property
    def dvc_stages(self) -> tuple[str, ...]:
        return self.dvc or (self.name,)

    @property
    def fingerprint_of(self) -> str:
        """The stage whose fingerprint it shares: the one of its module (same code, same keys)."""
        return self.module or self.name

    @property
    def keyed_by(self) -> str | None:
        """The option whose value names a params section the stage reads (one fingerprint per
        value), or None."""
        named = {name for key in self.params for name in re.findall(r"{(\w+)}", key)}
        return next(iter(named), None)

    def keys(self, key: str | None = None) -> tuple[str, ...]:
        """Its params keys, for the section named `key` if it is keyed by one."""
        if (self.keyed_by is None) != (key is None):
            raise MolereError(f"stage {self.name} {f'needs a {self.keyed_by}' if self.keyed_by else 'takes no method or embedding'}")
        return tuple(spec.format(**{self.keyed_by: key}) if self.keyed_by else spec for spec in self.params)

    def prefix(self, key: str | None = None) -> str:
        """Where it reads `model` and `data` (`within`, for its section `key`)."""
        return self.within.format(**{self.keyed_by: key}) if self.keyed_by else self.within


# trials draw from the search spaces with study.seed; `replicate` runs the same code on the same keys
# (the values it trains with come from selected.json), so it shares `train`'s fingerprint
TRAIN_KEYS = ("model", "train", "methods.{method}", "search.train", "search.methods.{method}", "study.seed", PORTABLE)

STAGES = {
    stage.name: stage
    for stage in (
        Stage("fingerprint", "Write fingerprints/: per stage (per method for train, per embedding for embed) the SHA-256 of the code it runs "
              "and the values of the params keys it reads.", (), (), lambda: [paths.FINGERPRINTS], reads_all=True),
        Stage("embed", "Run a backbone once over a dataset and keep its features (the frozen-feature tier).",
              ("embedding",), ("embeddings.{embedding}", "ood", PORTABLE), lambda embedding: [paths.features_dir(embedding)],
              trains=True, within="embeddings.{embedding}."),
        Stage("prepare", "Build the scenario's pool (its selection split corrupted), test set and OOD shifts.",
              ("scenario",), ("data", "noise", "ood", PORTABLE), lambda scenario: [paths.data_dir(scenario)]),
        Stage("corrupt", "Draw one seed's label corruption of the pool's training part.",
              ("scenario", "seed"), ("noise", PORTABLE), lambda scenario, seed: [paths.labels(scenario, seed)], dvc=("corrupt", "corrupt-search")),
        Stage("erm", "Train one seed's first ERM pass on the training part (selected on the selection split).",
              ("scenario", "seed"), ("model", "train", "methods.erm", PORTABLE),
              lambda scenario, seed: [paths.erm_rank_dir(scenario, seed)], trains=True, dvc=("erm", "erm-search")),
        Stage("rank", "Score the probabilistic margin of every example of one seed's pool.",  # cross-fit trains ERM folds
              ("scenario", "seed"), ("rank", "model", "train", "methods.erm", PORTABLE),
              lambda scenario, seed: [paths.margins(scenario, seed)], trains=True, dvc=("rank", "rank-search")),
        Stage("valsets", "Write one seed's LRW heuristic hard / easy / random validation sets.",
              ("scenario", "seed"), ("valsets", PORTABLE), lambda scenario, seed: [paths.valsets(scenario, seed)], dvc=("valsets", "valsets-search")),
        Stage("train", "Train one trial of one method on one scenario with one seed (the study's: its search seed).",
              ("scenario", "method", "trial", "seed"), TRAIN_KEYS,
              lambda scenario, method, trial, seed: [paths.trial_dir(scenario, method, trial)],
              function="run_trial", trains=True, dvc=("train", "train-baseline")),
        Stage("select", "Pick the method's trial by the selection rule study.selection.",
              ("scenario", "method"), ("study.trials", "study.selection", "study.search_seed", PORTABLE),
              lambda scenario, method: [paths.selected(scenario, method)], dvc=("select", "select-baseline")),
        Stage("replicate", "Train the method's selected configuration on one scenario with one seed.",
              ("scenario", "method", "seed"), TRAIN_KEYS, lambda scenario, method, seed: [paths.run_dir(scenario, method, seed)],
              function="run_replicate", module="train", trains=True, dvc=("replicate", "replicate-baseline"), seed="study.seeds"),
        Stage("evaluate", "Summarise every run of a scenario: accuracies, OOD, margins, calibration, cost.",
              ("scenario",), ("study.methods", "study.trusted_baselines", "study.search_seed", "study.seeds", "study.trials",
                              "study.selection", PORTABLE),  # not the scenarios
              lambda scenario: [paths.eval_dir(scenario)]),
        Stage("report", "Write reports/: tables, figures and metrics.json over scenarios, methods and seeds.",
              (), ("study", "claims", PORTABLE),
              lambda: [paths.RESULTS, paths.REPORT, paths.CLAIM_COMPARISONS, paths.FIGURES, paths.CURVES,
                       paths.REPORT_METRICS, paths.CLAIMS]),
    )
}
# the stages with a fingerprint of their own (`replicate` shares `train`'s), and those with one per
# method or embedding: stage -> its option
FINGERPRINTED = tuple(name for name, stage in STAGES.items() if stage.fingerprint_of == name and name != "fingerprint")
KEYED = {name: STAGES[name].keyed_by for name in FINGERPRINTED if STAGES[name].keyed_by}
# dvc.yaml stage name -> the stage it runs
DVC_STAGES = {dvc: stage for stage in STAGES.values() for dvc in stage.dvc_stages}
TRAINING_STAGES = tuple(dvc for dvc, stage in DVC_STAGES.items() if stage.trains)


def stage(name: str) -> Stage:
    return STAGES[check_choice("pipeline stage", name, list(STAGES))]


def stage_params(name: str, key: str | None = None) -> tuple[str, ...]:
    """The params keys stage `name` reads (for a keyed stage, with the section `key` names)."""
    return stage(name).keys(key)


def declared_params(params: Params, name: str, key: str | None = None) -> Params:
    """What stage `name` may read of `params`: exactly the keys it declares."""
    return params.restricted(stage_params(name, key), owner=f"stage {name}")


def made_by(name: str, **cell) -> str:
    """The stage command (after `molere-bench stage`) that writes a cell's outputs: the hint of an
    error about a missing or damaged artifact."""
    described = stage(name)
    if set(cell) != set(described.per):
        raise MolereError(f"stage {name} is run per {', '.join(described.per) or 'nothing'}, not {', '.join(cell)}")
    return " ".join([name, *(f"--{option} {cell[option]}" for option in OPTIONS if option in cell)])
