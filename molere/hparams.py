"""Typed hyperparameters, each declared once next to the code that uses it, after DomainBed's
`hparams_registry`: a frozen dataclass per method (and one for the shared training knobs) whose
fields carry their default, the values they allow, and the distribution a search draws them from.

    @dataclass(frozen=True)
    class FocalConfig:
        gamma: float = hparam(2.0, low=0, search=Uniform(0, 5))

`build_config(FocalConfig, {"gamma": 1}, "methods.focal.")` checks a user's values (unknown keys
with the nearest known one, types, ranges) and returns the instance; `search_spaces` lists the
searched keys (dotted) with their distributions; `draw_trial` draws one trial's values from them,
each key from its own numpy Generator (DomainBed seeds each key by its name). The search distributions:

- `log-uniform(low, high)`: exp of a uniform draw between the logs (learning rates, weights);
- `uniform(low, high)`;
- `int-uniform(low, high)`: an integer, both ends included;
- `choice(values)`: one of the values, each equally likely.

A user may replace a key's distribution from params.yaml's `search` section with a mapping
`{distribution: log-uniform, low: 0.001, high: 0.1}` (or `{distribution: choice, values: [...]}`,
or `{distribution: fixed}` to stop searching it); a default outside its distribution is an error,
so trial 0 (the defaults) is always a point of the space the other trials explore.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from molere.errors import MolereError

if TYPE_CHECKING:  # no numpy at import: the CLI checks params.yaml before portable mode's pins
    import numpy as np


@dataclass(frozen=True)
class Space:
    """A search distribution over one hyperparameter's values."""

    distribution: str
    low: float | None = None
    high: float | None = None
    values: tuple = ()

    def draw(self, rng: np.random.Generator):
        if self.distribution == "log-uniform":
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        if self.distribution == "uniform":
            return float(rng.uniform(self.low, self.high))
        if self.distribution == "int-uniform":
            return int(rng.integers(self.low, self.high + 1))
        return self.values[int(rng.integers(len(self.values)))]

    def __contains__(self, value) -> bool:
        if self.distribution == "choice":
            return value in self.values
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return self.low <= value <= self.high and (self.distribution != "int-uniform" or value == int(value))

    def __str__(self) -> str:
        if self.distribution == "choice":
            return f"choice({', '.join(map(str, self.values))})"
        return f"{self.distribution}({self.low:g}, {self.high:g})"


def LogUniform(low: float, high: float) -> Space:  # noqa: N802 (reads as a distribution's name)
    return Space("log-uniform", low, high)


def Uniform(low: float, high: float) -> Space:  # noqa: N802
    return Space("uniform", low, high)


def IntUniform(low: int, high: int) -> Space:  # noqa: N802
    return Space("int-uniform", low, high)


def Choice(*values) -> Space:  # noqa: N802
    return Space("choice", values=tuple(values))


DISTRIBUTIONS = ("choice", "fixed", "int-uniform", "log-uniform", "uniform")


def space_from_spec(spec, key: str) -> Space | None:
    """A user's distribution for `key` from params.yaml's `search` section (None: `fixed`)."""
    where = f"search.{key}"
    if not isinstance(spec, dict) or "distribution" not in spec:
        raise MolereError(f"{where} = {spec!r} should be a mapping with a distribution, e.g. {{distribution: log-uniform, low: 0.001, high: 0.1}}")
    kind = spec["distribution"]
    if kind not in DISTRIBUTIONS:
        raise MolereError(f"unknown search distribution {kind!r} for {where}; allowed: {', '.join(DISTRIBUTIONS)}")
    expected = {"fixed": set(), "choice": {"values"}}.get(kind, {"low", "high"})
    if set(spec) - {"distribution"} != expected:
        raise MolereError(f"{where}: a {kind} distribution takes {', '.join(sorted(expected)) or 'nothing else'}, not {', '.join(sorted(set(spec) - {'distribution'})) or 'nothing'}")
    if kind == "fixed":
        return None
    if kind == "choice":
        if not isinstance(spec["values"], list) or not spec["values"]:
            raise MolereError(f"{where}.values = {spec['values']!r} should be a non-empty list")
        return Choice(*spec["values"])
    low, high = spec["low"], spec["high"]
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high))
    if not numbers or not low <= high or (kind == "log-uniform" and low <= 0) or (kind == "int-uniform" and (low != int(low) or high != int(high))):
        raise MolereError(f"{where}: low = {low!r}, high = {high!r} do not make a {kind} range")
    return Space(kind, low, high)


def hparam(
    default,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    choices: tuple | None = None,
    search: Space | None = None,
):
    """A dataclass field: its default, the values it allows (a range [low, high], `(low, high]`
    with `low_open`, or `choices`, which for a tuple apply to each element) and its search
    distribution (None: not searched)."""
    metadata = {"low": low, "high": high, "low_open": low_open, "choices": choices, "search": search}
    if isinstance(default, (list, tuple)):
        return field(default_factory=lambda: tuple(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def nested(cls):
    """A field holding a nested config (e.g. an optimiser's), built from its own defaults."""
    return field(default_factory=cls)


# --- building a config from a user's values ---------------------------------------------------


def build_config(cls, values, prefix: str):
    """An instance of the config dataclass `cls` from the user's mapping `values` (None: all
    defaults); every key must be known, of the field's type and among its allowed values.
    `prefix` is the dotted path of `values` (e.g. "methods.focal."), for messages."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise MolereError(f"{prefix.rstrip('.')} = {values!r} should be a mapping of its keys")
    check_known(values, [f.name for f in dataclasses.fields(cls)], prefix)
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for spec in dataclasses.fields(cls):
        if spec.name not in values:
            continue
        hint, value, key = hints[spec.name], values[spec.name], prefix + spec.name
        if dataclasses.is_dataclass(hint):
            kwargs[spec.name] = build_config(hint, value, key + ".")
        else:
            kwargs[spec.name] = checked_value(value, hint, spec.metadata, key)
    return cls(**kwargs)


def check_known(values: dict, known: list[str], prefix: str) -> None:
    """Every key of `values` must be one of `known`; the error suggests the nearest."""
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.5)
            hint = f"did you mean '{prefix}{close[0]}'? " if close else ""
            raise MolereError(f"unknown params key '{prefix}{key}'; {hint}known: {', '.join(known)}")


def checked_value(value, hint, metadata, key: str):
    """`value` as the field's type (int widens to float, a list to a tuple), in its range."""
    kinds = _kinds(hint)
    value = _as_kind(value, kinds, key)
    elements = value if isinstance(value, tuple) else (value,)
    for element in elements:
        _check_allowed(element, metadata, key)
    return value


def _kinds(hint) -> tuple:
    """The runtime types a type hint admits: `float | None` -> (float, NoneType)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return tuple(k for arg in typing.get_args(hint) for k in _kinds(arg))
    if hint is None or hint is type(None):
        return (type(None),)
    return (typing.get_origin(hint) or hint,)


def _as_kind(value, kinds: tuple, key: str):
    if isinstance(value, bool) and bool not in kinds:
        pass  # YAML's true is not a number
    elif isinstance(value, kinds):
        return value
    elif float in kinds and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    elif tuple in kinds and isinstance(value, list):
        return tuple(value)
    names = "/".join("null" if k is type(None) else ("list" if k is tuple else k.__name__) for k in kinds)
    raise MolereError(f"{key} = {value!r} should be of type {names}")


def _check_allowed(value, metadata, key: str) -> None:
    choices, low, high = metadata.get("choices"), metadata.get("low"), metadata.get("high")
    if choices is not None and value not in choices:
        raise MolereError(f"unknown {key} {value!r}; allowed: {', '.join(map(str, choices))}")
    if value is None or isinstance(value, str):
        return
    if isinstance(value, float) and math.isnan(value):
        raise MolereError(f"{key} = nan is not a number")
    below = low is not None and (value <= low if metadata.get("low_open") else value < low)
    if below or (high is not None and value > high):
        opening = "(" if metadata.get("low_open") or low is None else "["
        interval = f"{opening}{'-inf' if low is None else low}, {'inf)' if high is None else f'{high}]'}"
        raise MolereError(f"{key} = {value!r} is outside the allowed range {interval}")


# --- search spaces and trials ------------------------------------------------------------------


def search_spaces(cls, prefix: str, overrides: dict | None = None) -> dict[str, Space]:
    """The searched keys of `cls` (dotted, with `prefix`, in declaration order) and their
    distributions; `overrides` is the matching part of params.yaml's `search` section, nested
    like the config, replacing (or, with `fixed`, removing) a key's distribution."""
    overrides = overrides or {}
    if not isinstance(overrides, dict):
        raise MolereError(f"search.{prefix.rstrip('.')} = {overrides!r} should be a mapping of its keys")
    check_known(overrides, [f.name for f in dataclasses.fields(cls)], f"search.{prefix}")
    hints = typing.get_type_hints(cls)
    spaces: dict[str, Space] = {}
    for spec in dataclasses.fields(cls):
        key = prefix + spec.name
        if dataclasses.is_dataclass(hints[spec.name]):
            spaces.update(search_spaces(hints[spec.name], key + ".", overrides.get(spec.name)))
            continue
        space = space_from_spec(overrides[spec.name], key) if spec.name in overrides else spec.metadata.get("search")
        if space is not None:
            for value in space.values:  # a choice's values must be allowed values
                checked_value(value, hints[spec.name], spec.metadata, f"search.{key}")
            spaces[key] = space
    return spaces


def check_defaults_in_spaces(config, prefix: str, spaces: dict[str, Space]) -> None:
    """Every searched key's value in `config` (its default or the user's) lies in its space."""
    for key, space in spaces.items():
        value = lookup(config, key[len(prefix):])
        if value not in space:
            raise MolereError(
                f"{key} = {value!r} is outside its own search space {space}; change the value or search.{key}"
            )


def draw_trial(spaces: dict[str, Space], rng_for: Callable[[str], np.random.Generator]) -> dict[str, Any]:
    """One trial's values: a draw from each space, each from the generator `rng_for(key)` gives
    (so a key's value does not depend on which other keys are searched)."""
    return {key: space.draw(rng_for(key)) for key, space in spaces.items()}


def lookup(config, dotted: str):
    for part in dotted.split("."):
        config = getattr(config, part)
    return config


def with_values(values: dict, overrides: dict[str, Any], prefix: str) -> dict:
    """A copy of the nested mapping `values` with the dotted `overrides` (each starting with
    `prefix`) set in it."""
    out = copy.deepcopy(values) if values else {}
    for key, value in overrides.items():
        *parents, leaf = key[len(prefix):].split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def as_dict(config) -> dict:
    """The config as a plain nested mapping (tuples as lists), for JSON and YAML."""
    return _plain(dataclasses.asdict(config))


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
