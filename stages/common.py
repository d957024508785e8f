"""Reading the artifacts that several stages share, each checked for what its readers use, so a
damaged one is a one-line error naming the file and the stage command that writes it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from molere import paths
from molere.data.sources.image_files import rows
from molere.errors import MolereError
from molere.io import BOOL, INTEGER, NUMBER, TEXT, check, read_examples, read_json, read_table
from molere.pipeline import made_by
from molere.valsets import HEURISTICS

LABELS = {"id": INTEGER, "y": INTEGER}
SIDE_COLUMNS = {**LABELS, "y_clean": INTEGER, "is_noisy": BOOL}
POOL_COLUMNS = {**SIDE_COLUMNS, "in_selection": BOOL}
MARGIN_COLUMNS = {"id": INTEGER, "y": INTEGER, "margin": NUMBER, "in_selection": BOOL}
VALSET_COLUMNS = {"id": INTEGER, **{name: BOOL for name in HEURISTICS}}


def load_info(scenario: str) -> dict:
    path, writer = paths.info(scenario), made_by("prepare", scenario=scenario)
    info = read_json(path, writer, keys=("num_classes",))
    classes = info["num_classes"]
    check(isinstance(classes, int) and not isinstance(classes, bool) and classes >= 2, path, f"has num_classes = {classes!r}, not an integer >= 2", writer)
    return info


def load_prepared_pool(scenario: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The pool every seed shares: its training part with the dataset's observed labels, not
    corrupted yet (see `load_pool`)."""
    return read_examples(paths.pool(scenario), made_by("prepare", scenario=scenario), POOL_COLUMNS)


def load_pool(scenario: str, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Seed `seed`'s pool: the selection split as prepared, the training part as the seed's
    corruption drew it (the examples it kept, with their observed labels)."""
    pool, x = load_prepared_pool(scenario)
    path, writer = paths.labels(scenario, seed), made_by("corrupt", scenario=scenario, seed=seed)
    labels = read_table(path, writer, LABELS).set_index("id")["y"]
    training = ~pool["in_selection"].to_numpy()
    check(labels.index.isin(pool["id"][training]).all(), path, "names ids outside the pool's training part: it comes from other data", writer)
    keep = ~training | pool["id"].isin(labels.index).to_numpy()
    pool, x = pool[keep].reset_index(drop=True), rows(x, keep)
    drawn = ~pool["in_selection"].to_numpy()
    pool.loc[drawn, "y"] = labels.loc[pool["id"][drawn]].to_numpy()
    pool["is_noisy"] = pool["y"] != pool["y_clean"]
    return pool, x


def load_side(scenario: str, name: str | None, key: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The validation side `name` that the scenario's dataset supplies (prepare's `side-<name>.parquet`);
    a one-line error naming the params `key` and the sides the dataset supplies if it has no such side."""
    supplied = sorted(load_info(scenario).get("sides", {}))
    if name not in supplied:
        given = "is not set" if name is None else f"= {name!r} names no validation side that scenario {scenario}'s dataset supplies"
        offered = f"one of {', '.join(supplied)}" if supplied else "none: this dataset supplies no side (docs/datasets.md, Supplied validation sides)"
        raise MolereError(f"{key} {given}; allowed: {offered}")
    return read_examples(paths.side(scenario, name), made_by("prepare", scenario=scenario), SIDE_COLUMNS)


def load_test_sets(scenario: str) -> dict[str, tuple[pd.DataFrame, np.ndarray]]:
    """The test set and its OOD shifts: set name -> (labels, features)."""
    writer = made_by("prepare", scenario=scenario)
    return {
        "test": read_examples(paths.test(scenario), writer, LABELS),
        "ood": read_examples(paths.ood(scenario), writer, {**LABELS, "shift": TEXT, "severity": INTEGER}),
    }


def load_margins(scenario: str, seed: int) -> pd.DataFrame:
    return read_table(paths.margins(scenario, seed), made_by("rank", scenario=scenario, seed=seed), MARGIN_COLUMNS)


def load_valsets(scenario: str, seed: int) -> pd.DataFrame:
    return read_table(paths.valsets(scenario, seed), made_by("valsets", scenario=scenario, seed=seed), VALSET_COLUMNS)
