"""A dataset as a `data` section names it (or an embedding's, molere/embed.py), with its OOD shifts."""

from __future__ import annotations

from molere.data import DATASETS
from molere.data.base import Dataset
from molere.data.configs import DataConfig, data_config
from molere.data.sources.images import with_ood_source
from molere.params import Params
from molere.schema import OODConfig


def load_dataset(values: dict | None, ood: OODConfig, source: str, prefix: str = "data.") -> tuple[DataConfig, Dataset]:
    """The section's shared keys and its dataset, whose shifts are the released CIFAR-10-C arrays
    where `ood.cifar10c_root` is set (`source`: the params file, for messages)."""
    data, own = data_config(values, prefix)
    ood_source = Params({"cifar10c_root": ood.cifar10c_root}, source, "ood.")
    return data, with_ood_source(DATASETS.get(data.dataset)(own, data.seed), ood_source)
