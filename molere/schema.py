"""What params.yaml may hold: every section's keys, types and allowed values, checked when the
params are loaded (before any stage runs), so an unknown key (`trian:`, `train.epoch`) or a bad
value is a one-line error that names it, never silently ignored.

Each section is a typed dataclass of `molere.hparams` fields. The shared training knobs are
`TrainConfig`; a method's own section is its `Config`, checked by the stages that read it (the
method registry imports torch; the CLI's start-up must not). Names that end up in `dvc.yaml`'s
shell commands (scenarios, methods) are checked against their grammar here, so a value with
shell metacharacters never reaches a shell."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import TypeVar, cast

from molere.data.configs import SEED_MAX, DataConfig, data_config
from molere.errors import MolereError, check_choice
from molere.hparams import build_config, check_known, checked_value, hparam
from molere.params import Params
from molere.scenarios import parse_scenario
from molere.train.config import DEVICES, TrainConfig

METHOD_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
RANK_MODES = ("in-sample", "cross-fit")
SELECTION_RULES = ("oracle", "selection")


@dataclass(frozen=True, kw_only=True)
class StudyConfig:
    scenarios: tuple[str, ...] = hparam(("clean",))
    methods: tuple[str, ...] = hparam(("erm",))
    # the trusted-protocol scenarios of `scenarios` again, for the baselines' DVC matrix (which
    # cannot filter a list), and the trusted-ERM baselines they train (molere/scenarios/protocol.py)
    trusted_scenarios: tuple[str, ...] = hparam(())
    trusted_baselines: tuple[str, ...] = hparam(())
    trials: tuple[int, ...] = hparam((0,), low=0)
    search_seed: int = hparam(0, low=0, high=SEED_MAX)  # the trials' runs (molere/draws.py)
    seeds: tuple[int, ...] = hparam((1,), low=0, high=SEED_MAX)  # the replicates: never the search seed
    seed: int = hparam(0, low=0, high=SEED_MAX)  # of the trials' hyperparameter draws
    selection: str = hparam("selection", choices=SELECTION_RULES)


@dataclass(frozen=True, kw_only=True)
class NoiseConfig:
    sd: float = hparam(0.1, low=0)


@dataclass(frozen=True, kw_only=True)
class OODConfig:
    severities: tuple[int, ...] = hparam((1, 2, 3, 4, 5), choices=(1, 2, 3, 4, 5))
    max_examples: int | None = hparam(500, low=1)
    cifar10c_root: str | None = hparam(None)


@dataclass(frozen=True, kw_only=True)
class RankConfig:
    mode: str = hparam("in-sample", choices=RANK_MODES)
    folds: int = hparam(5, low=2)


@dataclass(frozen=True, kw_only=True)
class ValsetsConfig:
    fraction: float = hparam(0.1, low=0, low_open=True, high=0.5)  # of the pool's training part
    stratified: bool = hparam(True)  # the fraction within each class (false: within the whole pool, the paper's)


# What a stage reserves on the Ray cluster (molere/executor/settings.py applies it) and whether the
# CPU kernels are pinned. Only `portable` changes results (every stage declares it); the rest is
# how, not what, so changing it re-runs nothing.
@dataclass(frozen=True, kw_only=True)
class Execution:
    cpus_per_stage: float = hparam(1.0, low=0, low_open=True)
    gpus_per_train: float = hparam(0.0, low=0)  # a fraction of one GPU, or whole GPUs
    retries: int = hparam(1, low=0)  # of a stage whose worker died (a failing command is not retried)
    portable: bool = hparam(True)  # CPU kernels pinned to AVX2 (molere/portable.py)

    def __post_init__(self):
        if self.gpus_per_train > 1 and self.gpus_per_train != int(self.gpus_per_train):
            raise MolereError(f"execution.gpus_per_train = {self.gpus_per_train!r}: a stage takes a fraction of one GPU (0 to 1) or whole GPUs")


@dataclass(frozen=True, kw_only=True)
class ClaimsConfig:
    """How the report judges the paper's claims (molere/report/claims.py): the equivalence margins,
    in each metric's own unit, and the most seeds a not-resolved cell's power is sized up to."""

    equivalence_accuracy: float = hparam(0.01, low=0, low_open=True)  # a fraction: 0.01 = ±1 point
    equivalence_margin: float = hparam(0.01, low=0, low_open=True)  # in test-margin units (margins lie in [-1, 1])
    max_seeds: int = hparam(50, low=2)  # beyond it a cell says "more than max_seeds"


@dataclass(frozen=True, kw_only=True)
class EmbeddingConfig:
    """One entry of `embeddings` (molere/embed.py): a backbone run once over a dataset, its features
    the frozen-feature tier's data. `data` is a dataset as the top-level `data` section gives one,
    `model` the backbone as the top-level `model` section (its last linear layer, the classifier
    head, is dropped; `model.weights` a local state_dict)."""

    data: dict | None = hparam(None)
    model: dict | None = hparam(None)
    batch_size: int = hparam(256, low=1)
    device: str = hparam("auto", choices=DEVICES)


# the sections with a fixed set of keys; `model` (its options depend on the model), `methods`
# (each method's Config) and `search` are checked where they are read (the method registry
# imports torch)
SECTIONS = {
    "study": StudyConfig,
    "data": DataConfig,
    "noise": NoiseConfig,
    "ood": OODConfig,
    "rank": RankConfig,
    "valsets": ValsetsConfig,
    "train": TrainConfig,
    "execution": Execution,
    "claims": ClaimsConfig,
}
OPEN_SECTIONS = ("model", "methods", "search", "embeddings")
SECTION_NAMES = {cls: name for name, cls in SECTIONS.items()}

Config = TypeVar("Config")


def section(params: Params, cls: type[Config]) -> Config:
    """The section of `params` that `cls` (one of SECTIONS) types, checked: a key params.yaml
    leaves out takes its field's default, the one place a default is written. A stage's params
    (`Params.restricted`, molere/pipeline.py) hold only its declared keys: a section it declares
    none of is the undeclared-key error, and a field it does not declare cannot be read (its
    default would stand in for a key the stage's fingerprint leaves out)."""
    name = SECTION_NAMES[cls]
    fields = [spec.name for spec in dataclasses.fields(cls)]
    undeclared = [field for field in fields if not params.declares(f"{name}.{field}")]
    if len(undeclared) == len(fields):
        params.check_declared(name)
    config = build_config(cls, params.data.get(name), f"{name}.")
    return cast(Config, _Declared(config, params, name)) if undeclared else config


class _Declared:
    """A section's config of which a stage declares only some fields: reading another is the
    error that reading its key would be."""

    def __init__(self, config, params: Params, name: str):
        self._config, self._params, self._name = config, params, name

    def __getattr__(self, field: str):
        self._params.check_declared(f"{self._name}.{field}")
        return getattr(self._config, field)


def check_overrides(params: Params, keys: list[str]) -> None:
    """The open sections that command-line overrides set (`model`, `methods.<name>`, `search`),
    checked as the stages will read them (`validate` checks the others), so a key that no config
    declares (`methods.focal.gama`) stops the command before anything runs. Only then are the
    registries, and torch with them, imported."""
    opened = [key for key in keys if key.split(".")[0] in OPEN_SECTIONS]
    if opened:
        from molere.experiment import check_open_key

        for key in opened:
            check_open_key(params, key)


def trial_count(trials) -> int:
    """K from `study.trials`, the list of trial ids, which must be 0, 1, ..., K-1 (K >= 1)."""
    if not isinstance(trials, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in trials):
        raise MolereError(f"study.trials = {trials!r} should be a list of trial ids, e.g. [0, 1, 2, 3] for K = 4")
    if not trials or trials != list(range(len(trials))):
        raise MolereError(f"study.trials = {trials!r} should be 0, 1, ..., K-1 with K >= 1, e.g. [0, 1, 2, 3] for K = 4")
    return len(trials)


def check_choice_value(key: str, value) -> None:
    """A command-line value for one entry of a study list (`study.scenarios`, `study.methods`,
    `study.seeds`) or a trial id, checked as that list's entries are."""
    field = key.removeprefix("study.")
    if field == "trials":  # one trial id: any of 0, 1, ...
        checked_value(value, int, {"low": 0}, "--trial")
        return
    if field == "seeds":  # one seed: the search seed's draws are run by the same stages
        checked_value(value, int, {"low": 0, "high": SEED_MAX}, "--seed")
        return
    if field == "scenarios":  # one scenario: its name (a trusted one is no study's trusted_scenarios here)
        parse_scenario(checked_value(value, str, {}, "--scenario"))
        return
    validate({"study": {field: [value]}})


def validate(data: dict) -> None:
    """Check every section of a params mapping; a one-line error for the first problem."""
    check_known(data, [*SECTIONS, *OPEN_SECTIONS], "")
    configs = {name: section_config(name, data[name]) for name in SECTIONS if name in data}
    study = configs.get("study")
    if study is not None:
        for name in ("scenarios", "methods", "seeds"):
            if not getattr(study, name):
                raise MolereError(f"study.{name} is empty; list at least one")
        trial_count(list(study.trials))
        if study.search_seed in study.seeds:  # its runs won the search: a replicate must not be one
            raise MolereError(
                f"study.seeds = {list(study.seeds)} contains the search seed study.search_seed = {study.search_seed}; "
                "the replicates must be other seeds"
            )
        for scenario in study.scenarios:
            parse_scenario(scenario)
        for key in ("methods", "trusted_baselines"):
            for method in getattr(study, key):
                if not METHOD_NAME.match(method):
                    raise MolereError(f"study.{key}: {method!r} is not a method name (lower-case letters, digits and '-')")
        check_trusted(study)
        for name in ("scenarios", "methods", "seeds", "trusted_baselines"):
            if len(set(getattr(study, name))) != len(getattr(study, name)):
                raise MolereError(f"study.{name} = {list(getattr(study, name))} repeats an entry")
    for name in OPEN_SECTIONS:
        if name in data and not isinstance(data[name], dict):
            raise MolereError(f"{name} = {data[name]!r} should be a mapping of its keys")
    for name, values in (data.get("embeddings") or {}).items():
        embedding_config(name, values)
    check_features(data)


def check_features(data: dict) -> None:
    """`data.dataset: features` names an embedding of `embeddings` (the stage that writes its data)."""
    shared, own = data_config(data.get("data"))
    if shared.dataset == "features":
        check_choice("data.features.embedding", own.embedding, list(data.get("embeddings") or {}))


def embedding_config(name: str, values) -> EmbeddingConfig:
    """`embeddings.<name>` checked: a name for dvc.yaml's commands, its dataset as `data` is checked,
    a `model` mapping that names its backbone (whose options the embed stage checks: the model
    registry imports torch)."""
    if not isinstance(name, str) or not METHOD_NAME.match(name):
        raise MolereError(f"embeddings: {name!r} is not an embedding name (lower-case letters, digits and '-')")
    config = build_config(EmbeddingConfig, values, f"embeddings.{name}.")
    if data_config(config.data, f"embeddings.{name}.data.")[0].dataset == "features":
        raise MolereError(f"embeddings.{name}.data.dataset = features: an embedding runs over images, not another embedding's features")
    if not isinstance(config.model, dict) or not isinstance(config.model.get("name"), str):
        raise MolereError(f"embeddings.{name}.model = {config.model!r} should be a mapping that names the backbone, e.g. {{name: resnet50, weights: PATH}}")
    return config


def embedding_name(params: Params, given: str | None) -> str:
    """A command line's `--embedding`: a key of `embeddings`, by default its first."""
    names = list(params.get("embeddings", (dict, type(None)), None) or {})
    if not names:
        raise MolereError("params.yaml has no embeddings: the embed stage runs one of `embeddings`, e.g. embeddings: {cifar10-resnet18: {data: ..., model: ...}}")
    if given is None:
        return names[0]
    return check_choice("embedding", given, names)


def section_config(name: str, values):
    """A section's typed config; `data` nests the chosen dataset's own (molere/data/configs.py)."""
    if name == "data":
        return data_config(values)[0]
    return build_config(SECTIONS[name], values, f"{name}.")


def check_trusted(study: StudyConfig) -> None:
    """`study.trusted_scenarios` lists exactly the trusted scenarios of `study.scenarios`, in order;
    a baseline is no method of `study.methods` (both matrices would train it)."""
    trusted = [s for s in study.scenarios if parse_scenario(s).trusted]
    if list(study.trusted_scenarios) != trusted:
        raise MolereError(
            f"study.trusted_scenarios = {list(study.trusted_scenarios)} should list the trusted scenarios of "
            f"study.scenarios, in their order: {trusted}"
        )
    both = [m for m in study.trusted_baselines if m in study.methods]
    if both:
        raise MolereError(f"study.trusted_baselines: {both[0]} is in study.methods too; list it in one of them")
