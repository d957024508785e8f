"""Tables of examples: the pool (supplied train + validation), the test set and its OOD shifts."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pandas as pd

from molere.data.base import Dataset, Shift, Split
from molere.data.sources.image_files import ImageFiles, joined
from molere.errors import MolereError, check_range


def pool_table(dataset: Dataset, selection_fraction: float, seed: int) -> tuple[pd.DataFrame, np.ndarray | ImageFiles]:
    """The pool (its observed and clean labels) with its `in_selection` column: the selection split, which every model choice
    uses and no method trains on (the first ERM pass's best epoch, the protocol's trials). It is
    the dataset's own validation split, or a seeded holdout of `selection_fraction` of its train split
    when it has none."""
    train, val = dataset.train, dataset.val
    if val is not None:
        x, y = joined([train.x, val.x]), np.concatenate([train.y, val.y])
        observed = np.concatenate([train.observed, val.observed])
        groups = None if train.groups is None else np.concatenate([train.groups, val.groups])
        in_selection = np.arange(len(y)) >= len(train)
    else:
        check_range("data.selection_fraction", selection_fraction, 0, 1, low_open=True, high_open=True)
        x, y, observed, groups = train.x, train.y, train.observed, train.groups
        in_selection = np.zeros(len(train), dtype=bool)
        size = int(round(selection_fraction * len(train)))
        if not 0 < size < len(train):
            raise MolereError(
                f"data.selection_fraction = {selection_fraction} of the {len(train)} training examples leaves "
                f"{'the selection split' if size == 0 else 'no example to train on'} empty; use more examples or change the fraction"
            )
        in_selection[np.random.default_rng(seed).choice(len(train), size, replace=False)] = True
    return with_groups(labelled(np.arange(len(y)), y, observed).assign(in_selection=in_selection), groups), x


def labelled(ids: np.ndarray, y: np.ndarray, y_observed: np.ndarray | None = None) -> pd.DataFrame:
    """The label columns every table carries: `id`, observed `y`, `y_clean`, `is_noisy`."""
    y_observed = y if y_observed is None else y_observed
    return pd.DataFrame(
        {
            "id": np.asarray(ids, dtype=np.int64),
            "y": np.asarray(y_observed, dtype=np.int64),
            "y_clean": np.asarray(y, dtype=np.int64),
            "is_noisy": np.asarray(y_observed) != np.asarray(y),
        }
    )


def with_groups(frame: pd.DataFrame, groups: np.ndarray | None) -> pd.DataFrame:
    """`frame` with a last column `group` where the dataset has groups; as it is otherwise, so the
    tables of a dataset without groups keep their columns."""
    return frame if groups is None else frame.assign(group=np.asarray(groups, dtype=np.int64))


def side_table(side: Split, first_id: int) -> tuple[pd.DataFrame, np.ndarray]:
    """A validation side the dataset supplies, with its observed and clean labels (the dataset's
    own: a scenario's corruption draws only the pool's), its groups where it has them, and ids from
    `first_id` on, after the pool's, so a run that adds it to the pool keeps every id unique."""
    ids = first_id + np.arange(len(side))
    return with_groups(labelled(ids, side.y, side.y_observed), side.groups), side.x


def test_table(test: Split) -> tuple[pd.DataFrame, np.ndarray]:
    """The test set, with its clean labels only (accuracy is measured against them), and its
    groups where it has them."""
    return with_groups(labelled(np.arange(len(test)), test.y), test.groups), test.x


def ood_table(
    dataset: Dataset, severities: list[int], max_examples: int | None = None, each: Callable[[np.ndarray], np.ndarray] | None = None
) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """Every shift at every severity, each cut to its first `max_examples` examples (None = all):
    the rows stacked in one frame, the features as one block per shift and severity (for
    `write_examples`, which writes blocks without a concatenated copy), each passed through `each`
    as soon as it is made (the embed stage's backbone: one shift's images in memory at a time).
    `id` is the test example a row was derived from where the shift keeps that correspondence."""
    frames, xs = [], []
    for shift, make in sorted(dataset.shifts.items()):
        make = limited(make, max_examples)
        for severity in severities:
            split = make(severity)
            frames.append(labelled(np.arange(len(split)), split.y).assign(shift=shift, severity=severity))
            xs.append(split.x if each is None else each(split.x))
    if not frames:
        empty = labelled(np.zeros(0), np.zeros(0)).assign(shift="", severity=0)
        return empty, [np.zeros((0, *dataset.test.x.shape[1:]), dtype=dataset.test.x.dtype)]
    return pd.concat(frames, ignore_index=True), xs


def limited(make: Shift, n: int | None) -> Shift:
    """The shift `make` computing only its first `n` examples."""
    if n is None:
        return make
    check_range("ood.max_examples", n, 1, math.inf)
    return make.head(n)
