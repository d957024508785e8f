"""MNIST-1D distribution shifts: the test split regenerated with one generator parameter moved."""

import numpy as np
import pytest
from mnist1d.data import make_dataset

from molere.data.configs import Mnist1dConfig
from molere.data.sources import mnist1d as source
from molere.errors import MolereError

NUM_SAMPLES = 300


@pytest.fixture(scope="module")
def dataset():
    return source.mnist1d(Mnist1dConfig(num_samples=NUM_SAMPLES), seed=0)


def test_the_clean_dataset_is_exactly_make_dataset(dataset):
    reference = make_dataset(source.generator_args(NUM_SAMPLES, 0))
    np.testing.assert_array_equal(dataset.train.x, reference["x"].astype(np.float32))
    np.testing.assert_array_equal(dataset.test.x, reference["x_test"].astype(np.float32))
    np.testing.assert_array_equal(dataset.test.y, reference["y_test"])


def test_every_shift_at_every_severity_is_a_balanced_test_sized_set(dataset):
    assert sorted(dataset.shifts) == sorted(source.SHIFT_GRIDS)
    for name, make in dataset.shifts.items():
        previous = None
        for severity in range(1, 6):
            split = make(severity)
            assert split.x.shape == dataset.test.x.shape and split.x.dtype == np.float32
            assert np.isfinite(split.x).all()
            assert np.bincount(split.y, minlength=10).tolist() == [len(split) // 10] * 10
            assert previous is None or not np.array_equal(split.x, previous), (name, severity)
            previous = split.x


@pytest.mark.parametrize("shift", ["corr_noise_scale", "iid_noise_scale", "shear_scale"])
def test_shifts_are_standardised_with_the_clean_constants(dataset, shift):
    # standardising each shifted set by its own statistics would pin its std at 1 and hide the shift
    stds = [dataset.shifts[shift](severity).x.std() for severity in range(1, 6)]
    assert dataset.test.x.std() < stds[0] and np.all(np.diff(stds) > 0), stds


def test_shifted_sets_come_from_a_seed_other_than_the_training_data(dataset, monkeypatch):
    seeds = []
    real = source.raw_signals
    monkeypatch.setattr(source, "raw_signals", lambda args: seeds.append(args.seed) or real(args))
    dataset.shifts["padding"](2)
    assert seeds == [0 + source.OOD_SEED_OFFSET]


def test_the_moved_parameter_takes_its_grid_value(monkeypatch):
    seen = []
    fake_signals = (np.zeros((10, 40)), np.arange(10))
    monkeypatch.setattr(source, "raw_signals", lambda args: seen.append(args) or fake_signals)
    source.RegeneratedShift("max_translation", num_samples=10, seed=0, mean=0.0, std=1.0)(4)
    assert seen[0].max_translation == source.SHIFT_GRIDS["max_translation"][3]
    assert seen[0].padding == [36, 60]  # every other parameter at its default


@pytest.mark.parametrize(
    "shift, severity, message",
    [
        ("blur", 1, "unknown shift 'blur'; allowed: corr_noise_scale, iid_noise_scale, max_translation"),
        ("padding", 6, "severity = 6 is outside the allowed range [1, 5]"),
        ("padding", 0, "severity = 0 is outside the allowed range [1, 5]"),
    ],
)
def test_bad_shift_or_severity_is_a_one_line_error(shift, severity, message):
    with pytest.raises(MolereError) as err:
        source.RegeneratedShift(shift, num_samples=10, seed=0, mean=0.0, std=1.0)(severity)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
