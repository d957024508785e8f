"""`features`: an embedding's features (the embed stage's folder, molere/embed.py) as the dataset:
the frozen-feature tier. Its splits and labels are the embedded dataset's (observed and clean
labels, so its own noise stays known, and groups), its examples float32 vectors (no normalisation), its OOD
shifts the embedded ones, at the severities the embedding ran for, its validation sides the
embedded dataset's (`lrw-supplied`). With `center`, every example
minus the training split's mean feature (no labels used)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from molere import paths
from molere.data import DATASETS
from molere.data.base import Dataset, Split
from molere.data.configs import FeaturesConfig
from molere.errors import MolereError
from molere.io import read_examples, read_json
from molere.pipeline import made_by

LABELS = ("id", "y", "y_clean")


@DATASETS.register("features")
def features(config: FeaturesConfig, seed: int) -> Dataset:
    if config.embedding is None:
        raise MolereError("data.features.embedding is not set: the embedding (a key of `embeddings`) whose features are the data")
    folder, name = paths.features_dir(config.embedding), config.embedding
    writer = made_by("embed", embedding=name)
    info = read_json(folder / paths.INFO, writer, keys=("dataset", "num_classes", "splits"))
    splits = {split: stored_split(paths.embedded_split(name, split), writer) for split in info["splits"]}
    sides = {side: stored_split(paths.embedded_side(name, side), writer) for side in info.get("sides", [])}
    ood, x = read_examples(folder / paths.OOD, writer, columns=(*LABELS, "shift", "severity"))
    if config.center:
        mean = training_mean(splits["train"].x)
        splits, sides = ({key: dataclasses.replace(data, x=data.x - mean) for key, data in group.items()} for group in (splits, sides))
        x = x - mean
    shifts = {shift: StoredShift(ood, x, shift, name) for shift in sorted(set(ood["shift"]))}
    return Dataset(
        name=f"features:{name}",
        num_classes=info["num_classes"],
        train=splits["train"],
        val=splits.get("val"),  # none: the selection split is a seeded holdout
        test=splits["test"],
        shifts=shifts,
        group_names=info.get("group_names"),
        sides=sides,
    )


def training_mean(x: np.ndarray) -> np.ndarray:
    """The mean feature, summed in float64 row after row (the same bits on any CPU: an
    element-wise sum, whatever width the vector units have), as float32."""
    return (np.add.reduce(x.astype(np.float64), axis=0) / len(x)).astype(np.float32)


def stored_split(path, writer: str) -> Split:
    labels, x = read_examples(path, writer, columns=LABELS)
    return as_split(labels, x)


def as_split(labels: pd.DataFrame, x: np.ndarray) -> Split:
    y, observed = labels["y_clean"].to_numpy(), labels["y"].to_numpy()
    groups = labels["group"].to_numpy() if "group" in labels else None
    return Split(np.asarray(x), y, None if np.array_equal(y, observed) else observed, groups)


class StoredShift:
    """One embedded shift: severity -> its rows (already cut to the embedding's ood.max_examples)."""

    def __init__(self, ood: pd.DataFrame, x: np.ndarray, name: str, embedding: str, n: int | None = None):
        self.ood, self.x, self.name, self.embedding, self.n = ood, x, name, embedding, n

    def __call__(self, severity: int) -> Split:
        rows = np.flatnonzero((self.ood["shift"] == self.name).to_numpy() & (self.ood["severity"] == severity).to_numpy())
        if not len(rows):
            embedded = sorted(set(self.ood.loc[self.ood["shift"] == self.name, "severity"]))
            raise MolereError(f"embedding {self.embedding} has shift {self.name} at severities {embedded}, not {severity}; set its ood.severities and run the embed stage again")
        rows = rows[: self.n]
        return as_split(self.ood.iloc[rows], self.x[rows])

    def head(self, n: int) -> "StoredShift":
        return StoredShift(self.ood, self.x, self.name, self.embedding, n)
