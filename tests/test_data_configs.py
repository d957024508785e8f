"""The `data` section's typed configs: every registered dataset has one, defaults come from it."""

import pytest

from molere.data import DATASETS
from molere.data.configs import DATASET_CONFIGS, Cifar10Config, DataConfig, Mnist1dConfig, data_config
from molere.errors import MolereError


def test_every_registered_dataset_has_a_config():
    assert sorted(DATASET_CONFIGS) == DATASETS.names()


def test_missing_keys_take_the_declared_defaults():
    shared, own = data_config({})
    assert shared == DataConfig(dataset="mnist1d", seed=0, selection_fraction=0.2)
    assert own == Mnist1dConfig(num_samples=10000)


def test_the_chosen_datasets_section_is_returned_and_every_section_is_checked():
    shared, own = data_config({"dataset": "cifar10", "cifar10": {"root": "/data"}, "mnist1d": {"num_samples": 500}})
    assert (shared.dataset, own) == ("cifar10", Cifar10Config(root="/data", download=False, human_labels=None))
    with pytest.raises(MolereError, match=r"^data.mnist1d.num_samples = 0 is outside the allowed range \[1, 1000000\]$"):
        data_config({"dataset": "cifar10", "mnist1d": {"num_samples": 0}})
