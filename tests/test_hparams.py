"""Typed hyperparameters: building configs from a user's values, search spaces and their draws,
and every registered method's declarations."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from molere.errors import MolereError
from molere.hparams import (
    Choice,
    IntUniform,
    LogUniform,
    Uniform,
    build_config,
    check_defaults_in_spaces,
    draw_trial,
    hparam,
    lookup,
    nested,
    search_spaces,
    space_from_spec,
)
from molere.methods import METHODS
from molere.train.config import TrainConfig


@dataclass(frozen=True)
class Inner:
    lr: float = hparam(0.01, low=0, search=LogUniform(1e-3, 1e-1))


@dataclass(frozen=True)
class Toy:
    k: int = hparam(3, low=1, search=IntUniform(1, 5))
    rate: float = hparam(0.5, low=0, low_open=True, high=1, search=Uniform(0.1, 0.9))
    mode: str = hparam("a", choices=("a", "b"), search=Choice("a", "b"))
    size: int | None = hparam(None, low=1)
    names: tuple[str, ...] = hparam(("x", "y"), choices=("x", "y", "z"))
    inner: Inner = nested(Inner)


def test_build_config_defaults_and_values():
    assert build_config(Toy, None, "toy.") == Toy()
    built = build_config(Toy, {"k": 2, "rate": 1, "size": 4, "names": ["z"], "inner": {"lr": 0.5}}, "toy.")
    assert built == Toy(k=2, rate=1.0, size=4, names=("z",), inner=Inner(lr=0.5))
    assert isinstance(built.rate, float) and built.names == ("z",)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"kk": 2}, "unknown params key 'toy.kk'; did you mean 'toy.k'? known: k, rate, mode, size, names, inner"),
        ({"inner": {"rl": 1}}, "unknown params key 'toy.inner.rl'; did you mean 'toy.inner.lr'?"),
        ({"k": 0}, "toy.k = 0 is outside the allowed range [1, inf)"),
        ({"rate": 0.0}, r"toy.rate = 0.0 is outside the allowed range (0, 1]"),
        ({"rate": math.nan}, "toy.rate = nan is not a number"),
        ({"k": 2.5}, "toy.k = 2.5 should be of type int"),
        ({"k": True}, "toy.k = True should be of type int"),
        ({"size": "big"}, "toy.size = 'big' should be of type int/null"),
        ({"mode": "c"}, "unknown toy.mode 'c'; allowed: a, b"),
        ({"names": ["x", "w"]}, "unknown toy.names 'w'; allowed: x, y, z"),
        ({"inner": 3}, "toy.inner = 3 should be a mapping of its keys"),
    ],
)
def test_bad_values_are_one_line_errors(values, message):
    with pytest.raises(MolereError) as err:
        build_config(Toy, values, "toy.")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_search_spaces_in_order_with_overrides():
    spaces = search_spaces(Toy, "toy.")
    assert list(spaces) == ["toy.k", "toy.rate", "toy.mode", "toy.inner.lr"]
    overridden = search_spaces(Toy, "toy.", {"k": {"distribution": "fixed"}, "inner": {"lr": {"distribution": "uniform", "low": 0, "high": 1}}})
    assert list(overridden) == ["toy.rate", "toy.mode", "toy.inner.lr"] and overridden["toy.inner.lr"] == Uniform(0, 1)


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"distribution": "gaussian", "low": 0, "high": 1}, "unknown search distribution 'gaussian' for search.toy.rate; allowed: choice, fixed"),
        ({"distribution": "uniform", "low": 1}, "search.toy.rate: a uniform distribution takes high, low, not low"),
        ({"distribution": "log-uniform", "low": 0, "high": 1}, "search.toy.rate: low = 0, high = 1 do not make a log-uniform range"),
        ({"distribution": "uniform", "low": 2, "high": 1}, "do not make a uniform range"),
        ({"distribution": "choice", "values": []}, "search.toy.rate.values = [] should be a non-empty list"),
        (0.3, "search.toy.rate = 0.3 should be a mapping with a distribution"),
    ],
)
def test_bad_search_specs(spec, message):
    with pytest.raises(MolereError) as err:
        space_from_spec(spec, "toy.rate")
    assert message in str(err.value)


def test_a_choice_space_must_hold_allowed_values():
    with pytest.raises(MolereError, match="unknown search.toy.mode 'c'; allowed: a, b"):
        search_spaces(Toy, "toy.", {"mode": {"distribution": "choice", "values": ["a", "c"]}})


def test_a_value_outside_its_own_space_is_an_error():
    spaces = search_spaces(Toy, "toy.")
    check_defaults_in_spaces(Toy(), "toy.", spaces)  # the declared defaults lie inside
    with pytest.raises(MolereError, match=r"toy.rate = 0.95 is outside its own search space uniform\(0.1, 0.9\); change the value or search.toy.rate"):
        check_defaults_in_spaces(build_config(Toy, {"rate": 0.95}, "toy."), "toy.", spaces)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_draws_are_reproducible_and_within_their_spaces(seed):
    spaces = search_spaces(Toy, "toy.")
    first = draw_trial(spaces, lambda key: np.random.default_rng([seed, len(key)]))
    assert first == draw_trial(spaces, lambda key: np.random.default_rng([seed, len(key)]))
    assert all(first[key] in space for key, space in spaces.items())
    assert isinstance(first["toy.k"], int) and isinstance(first["toy.rate"], float)


def test_log_uniform_draws_spread_over_the_decades():
    draws = [LogUniform(1e-4, 1e-1).draw(np.random.default_rng(s)) for s in range(400)]
    decades = np.histogram(np.log10(draws), bins=[-4, -3, -2, -1])[0]
    assert decades.min() > 100  # uniform in the log: about 133 a decade


def test_space_membership_is_exact_at_the_edges():
    assert 1e-3 in LogUniform(1e-3, 1e-1) and 0.2 not in LogUniform(1e-3, 1e-1)
    assert 5 in IntUniform(1, 5) and 2.5 not in IntUniform(1, 5) and True not in Uniform(0, 2)
    assert "b" in Choice("a", "b") and "c" not in Choice("a", "b")


@pytest.mark.parametrize("name", METHODS.names())
def test_every_method_declares_valid_defaults_inside_its_spaces(name):
    config_class = METHODS.get(name).Config
    assert dataclasses.is_dataclass(config_class)
    default = build_config(config_class, None, f"methods.{name}.")  # each default passes its own checks
    spaces = search_spaces(config_class, f"methods.{name}.")
    check_defaults_in_spaces(default, f"methods.{name}.", spaces)
    for key, space in spaces.items():
        assert lookup(default, key[len(f"methods.{name}.") :]) in space


def test_the_shared_training_knobs_search_the_learning_rate_and_weight_decay():
    spaces = search_spaces(TrainConfig, "train.")
    assert list(spaces) == ["train.lr", "train.weight_decay"]
    check_defaults_in_spaces(TrainConfig(), "train.", spaces)
