"""Study presets (`studies/*.yaml`): params files that hold only what a study changes from
params.yaml, given to `molere-bench repro --preset` as the `-S` overrides they amount to, so the
run changes params.yaml as `dvc exp run -S` would and `dvc exp show` compares it with the others."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from molere.errors import MolereError


def read_preset(path: Path) -> dict:
    """The preset at `path`: a mapping of params sections; a one-line error otherwise."""
    if not path.is_file():
        presets = ", ".join(sorted(p.as_posix() for p in Path("studies").glob("*.yaml"))) or "none here"
        raise MolereError(f"preset {path} not found; the presets: {presets}")
    try:
        preset = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise MolereError(f"preset {path} is not YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(preset, dict) or not all(isinstance(v, dict) for v in preset.values()):
        raise MolereError(f"preset {path} should be a mapping of params sections, e.g. `train: {{steps: 400}}`")
    return preset


def as_overrides(preset: dict, prefix: str = "") -> list[str]:
    """`KEY=VALUE` for every leaf of `preset` (a mapping is descended into; anything else, a list
    included, is one value), VALUE in JSON, which YAML and DVC's override grammar both read."""
    overrides = []
    for key, value in preset.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            overrides += as_overrides(value, f"{dotted}.")
        else:
            overrides.append(f"{dotted}={json.dumps(value)}")
    return overrides
