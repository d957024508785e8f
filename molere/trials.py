"""The search budget (docs/design.md, Protocol: search and model selection): every method gets the same `study.trials`. Trial 0
is the defaults (params.yaml over the code's defaults); trial k >= 1 draws every searched key of
the shared training knobs (`train`: learning rate, weight decay) and of the method's own config
from its distribution, each key seeded by (`study.seed`, the key's dotted name, k), as DomainBed
seeds each hyperparameter by its name. So a shared key (`train.lr`) takes the same value in trial
k for every method, and trials compare like with like; a method's own keys are named after it
(`methods.focal.gamma`), so they are drawn per method. A trial's values are the same whatever else
the study holds, and raising K draws only the new trials."""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from molere.errors import MolereError
from molere.hparams import Space, build_config, check_defaults_in_spaces, check_known, draw_trial, search_spaces
from molere.params import Params
from molere.train.config import TrainConfig

SEARCH_SECTIONS = ("train", "methods")


def method_spaces(params: Params, method_cls) -> dict[str, Space]:
    """The searched keys (dotted) of one method's trials and their distributions: the shared
    training knobs', then the method's own; each checked to contain its trial-0 value."""
    name = method_cls.name
    train_spaces = search_spaces(TrainConfig, "train.", params.get("search.train", (dict, type(None)), None))
    config_class = method_cls.Config
    own = search_spaces(config_class, f"methods.{name}.", params.get(f"search.methods.{name}", (dict, type(None)), None))
    check_defaults_in_spaces(build_config(TrainConfig, params.get("train", dict, {}), "train."), "train.", train_spaces)
    config = build_config(config_class, params.get(f"methods.{name}", (dict, type(None)), None), f"methods.{name}.")
    check_defaults_in_spaces(config, f"methods.{name}.", own)
    return {**train_spaces, **own}


def trial_values(params: Params, method_cls, trial: int, study_seed: int) -> dict[str, Any]:
    """The values trial `trial` sets (dotted keys), on top of params; {} for trial 0."""
    spaces = method_spaces(params, method_cls)  # checked for trial 0 too
    if trial == 0:
        return {}
    return draw_trial(spaces, lambda key: np.random.default_rng([study_seed, zlib.crc32(key.encode()), trial]))


def with_values(params: Params, values: dict[str, Any]) -> Params:
    """A copy of `params` with the dotted `values` set."""
    out = params.copy()
    for key, value in values.items():
        out.override(key, value)
    return out


def check_search_section(search, methods: list[str]) -> None:
    """params.yaml's `search` holds only `train` and `methods.<a registered method>`."""
    if search is None:
        return
    if not isinstance(search, dict):
        raise MolereError(f"search = {search!r} should be a mapping with train and methods sections")
    check_known(search, list(SEARCH_SECTIONS), "search.")
    check_known(search.get("methods") or {}, methods, "search.methods.")
