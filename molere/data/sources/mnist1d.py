"""MNIST-1D (Greydanus 2020), generated offline by the `mnist1d` package (never its downloader).

Its 1-D signals are ten digit templates under random padding, translation, scaling, shear and
correlated + iid noise; the default 5,000 examples split 4,000 train / 1,000 test."""

from __future__ import annotations

import numpy as np

from molere.data import DATASETS
from molere.data.base import Dataset, Split
from molere.params import Params


def generator_args(num_samples: int, seed: int, **changes):
    from mnist1d.data import get_dataset_args

    args = get_dataset_args()
    args.num_samples, args.seed = num_samples, seed
    for key, value in changes.items():
        setattr(args, key, value)
    return args


@DATASETS.register("mnist1d")
def mnist1d(cfg: Params) -> Dataset:
    from mnist1d.data import make_dataset

    args = generator_args(cfg.get("num_samples", int, 5000), cfg.get("seed", int, 0))
    data = make_dataset(args)
    return Dataset(
        name="mnist1d",
        num_classes=10,
        train=Split(data["x"].astype(np.float32), data["y"].astype(np.int64)),
        val=None,
        test=Split(data["x_test"].astype(np.float32), data["y_test"].astype(np.int64)),
    )
