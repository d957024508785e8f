"""Reading the artifacts that several stages share."""

from __future__ import annotations

from molere.io import read_examples, read_json
from molere import paths


def load_info(scenario: str) -> dict:
    return read_json(paths.info(scenario), made_by=f"prepare --scenario {scenario}")


def load_examples(path, scenario: str):
    return read_examples(path, made_by=f"prepare --scenario {scenario}")
