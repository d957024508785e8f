"""Scenario names are their own specification: `clean`, `idn-40`, `sym-40`, `pair-20`, `skew-50`,
or a noise and a skew joined by `+` (`idn-20+skew-10`; skew is applied first, then noise)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from molere.errors import MolereError

NOISE_KINDS = {"idn": "idn", "sym": "symmetric", "pair": "pair"}
_PART = re.compile(r"^(idn|sym|pair|skew)-(\d+(?:\.\d+)?)$")
ALLOWED = "clean, idn-<rate%>, sym-<rate%>, pair-<rate%>, skew-<factor>, or noise+skew"


@dataclass(frozen=True)
class Scenario:
    name: str
    noise_kind: str | None = None  # "idn", "symmetric" or "pair"
    noise_rate: float = 0.0  # expected fraction of flipped labels in [0, 1)
    imbalance: float = 1.0  # long-tail imbalance factor n_max / n_min, 1 = balanced


def parse_scenario(name: str) -> Scenario:
    """Parse a scenario name; raise a one-line error listing the allowed forms otherwise."""
    if name == "clean":
        return Scenario(name)
    fields: dict = {}
    for part in name.split("+"):
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
