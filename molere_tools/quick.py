"""`molere-bench quick`: the default study made small (studies/quick.yaml over params.yaml), built
and run in a DVC project of its own, so the project's committed results stay as they are."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from molere.errors import MolereError
from molere_tools.sandbox import ROOT, make_study_repo, study_env

OVERRIDES = ROOT / "studies" / "quick.yaml"


def merged(base: dict, overrides: dict) -> dict:
    """`base` with `overrides` on top, mapping by mapping; any other value replaces."""
    out = dict(base)
    for key, value in overrides.items():
        out[key] = merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


def quick_params() -> dict:
    return merged(yaml.safe_load((ROOT / "params.yaml").read_text()), yaml.safe_load(OVERRIDES.read_text()))


def run_quick(folder: Path) -> Path:
    """Build the quick study in `folder` (which must not exist), run it with `molere-bench repro`
    and return its report's path."""
    if folder.exists():
        raise MolereError(f"{folder} already exists; remove it (rm -r {folder}) or choose another with --folder")
    folder.parent.mkdir(parents=True, exist_ok=True)
    make_study_repo(folder, quick_params())
    result = subprocess.run(["molere-bench", "repro"], cwd=folder, env=study_env())
    if result.returncode != 0:
        raise MolereError(f"the quick study failed in {folder} (exit {result.returncode}); its output is above")
    return folder / "reports" / "report.md"
