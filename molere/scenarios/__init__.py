"""Scenario names are their own specification: `clean`, `idn-40`, `sym-40`, `pair-20`, `skew-50`,
or a noise and a skew joined by `+` (`idn-20+skew-10`; skew is applied first, then noise), and
optionally the validation-label protocol last (`idn-40+trusted`; molere/scenarios/protocol.py).

The protocol is part of the name so that a study runs one corruption under both protocols as two
scenarios: every table and claim of the report gets a column per protocol, side by side."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from molere.errors import MolereError

NOISE_KINDS = {"idn": "idn", "sym": "symmetric", "pair": "pair"}
_PART = re.compile(r"^(idn|sym|pair|skew)-(\d+(?:\.\d+)?)$")
ALLOWED = "clean, idn-<rate%>, sym-<rate%>, pair-<rate%>, skew-<factor>, or noise+skew; noisy ones optionally +trusted"
_WORD = re.compile(r"^[a-z]+$")  # a protocol suffix: letters only, unlike the corruption parts
OBSERVED, TRUSTED = "observed", "trusted"  # the validation-label protocols (molere/scenarios/protocol.py)
PROTOCOLS_ALLOWED = (
    "+trusted (the validation side, and only it, carries the clean labels), "
    "or none for observed (it carries the pool's observed labels)"
)


@dataclass(frozen=True)
class Scenario:
    name: str
    noise_kind: str | None = None  # "idn", "symmetric" or "pair"
    noise_rate: float = 0.0  # expected fraction of flipped labels in [0, 1)
    imbalance: float = 1.0  # long-tail imbalance factor n_max / n_min, 1 = balanced
    protocol: str = OBSERVED  # the labels the validation side carries

    @property
    def trusted(self) -> bool:
        return self.protocol == TRUSTED


def parse_scenario(name: str) -> Scenario:
    """Parse a scenario name; raise a one-line error listing the allowed forms otherwise."""
    corruption, _, suffix = name.rpartition("+")
    if not (corruption and _WORD.match(suffix)):
        return parse_corruption(name, name)
    scenario = parse_corruption(name, corruption)
    return replace(scenario, protocol=checked_protocol(scenario, corruption, suffix))


def checked_protocol(scenario: Scenario, corruption: str, suffix: str) -> str:
    """The protocol suffix of `scenario`. Only `trusted` is written (observed is the bare name, so
    a scenario has one name), and only on a noisy corruption: without noise the clean labels are
    the observed ones, and the scenario would repeat `corruption` run for run."""
    if suffix != TRUSTED:
        raise MolereError(f"scenario {scenario.name!r}: unknown label protocol {suffix!r}; allowed: {PROTOCOLS_ALLOWED}")
    if scenario.noise_kind is None:
        raise MolereError(
            f"scenario {scenario.name!r}: {corruption} has no label noise, so the trusted protocol would change "
            f"nothing; use {corruption}, or a noisy scenario such as idn-40+trusted"
        )
    return suffix


def parse_corruption(name: str, corruption: str) -> Scenario:
    """The corruption part of scenario `name` (all of it, without a protocol suffix)."""
    if corruption == "clean":
        return Scenario(name)
    fields: dict = {}
    for part in corruption.split("+"):
        match = _PART.match(part)
        key = "imbalance" if match and match.group(1) == "skew" else "noise"
        if not match or key in fields:
            raise MolereError(f"unknown scenario {name!r}; allowed: {ALLOWED}")
        value = float(match.group(2))
        fields[key] = (match.group(1), value)
    noise_kind, noise_pct = fields.get("noise", (None, 0.0))
    if noise_kind and not 0 <= noise_pct < 100:
        raise MolereError(
            f"scenario {name!r}: noise rate {noise_pct:g}% is outside the allowed range [0, 100)"
        )
    imbalance = fields.get("imbalance", ("skew", 1.0))[1]
    if imbalance < 1:
        raise MolereError(
            f"scenario {name!r}: imbalance factor {imbalance:g} is outside the allowed range [1, inf)"
        )
    return Scenario(
        name=name,
        noise_kind=NOISE_KINDS.get(noise_kind),
        noise_rate=noise_pct / 100,
        imbalance=imbalance,
    )
