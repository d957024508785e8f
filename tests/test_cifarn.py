"""CIFAR-N's human labels over fabricated CIFAR batches: the training split's observed labels are
the chosen annotators', `is_noisy` their difference from CIFAR's own; bad label files are one line."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from molere.data import DATASETS
from molere.data.configs import Cifar10Config, Cifar100Config
from molere.errors import MolereError
from molere.io import read_examples
from molere_tools.fabricate import trust_fabricated, write_cifar
from test_image_datasets import run_stages, tiny_params

N_TRAIN, N_TEST = 40, 10


@pytest.fixture
def cifar(tmp_path, monkeypatch) -> tuple[Path, np.ndarray]:
    """Fabricated CIFAR-10 and CIFAR-100 batches (trusted), and CIFAR-10's training labels."""
    root = tmp_path / "cifar"
    write_cifar(root, N_TRAIN, N_TEST)
    write_cifar(root, N_TRAIN, N_TEST, num_classes=100, seed=3)
    for key, value in trust_fabricated(root).items():
        monkeypatch.setenv(key, value)
    return root, DATASETS.get("cifar10")(Cifar10Config(root=str(root)), 0).train.y


def human_labels(clean: np.ndarray, num_classes: int = 10) -> dict:
    """CIFAR-10N's arrays: `worse_label` wrong on every 4th example, the others all right."""
    worse = np.where(np.arange(len(clean)) % 4 == 0, (clean + 1) % num_classes, clean)
    arrays = {name: clean.copy() for name in ("aggre_label", "random_label1", "random_label2", "random_label3")}
    return {**arrays, "worse_label": worse, "clean_label": clean.copy()}


def test_cifar10n_worst_labels_are_the_observed_ones(cifar, tmp_path):
    root, clean = cifar
    arrays = human_labels(clean)
    torch.save(arrays, tmp_path / "CIFAR-10_human.pt")
    config = Cifar10Config(root=str(root), human_labels=str(tmp_path / "CIFAR-10_human.pt"), human_column="worse_label")
    dataset = DATASETS.get("cifar10")(config, 0)
    np.testing.assert_array_equal(dataset.train.y, clean)
    np.testing.assert_array_equal(dataset.train.observed, arrays["worse_label"])
    assert dataset.test.y_observed is None  # CIFAR-N labels the training split only


def test_cifar100n_from_an_npz(cifar, tmp_path):
    root, _ = cifar
    clean = DATASETS.get("cifar100")(Cifar100Config(root=str(root)), 0).train.y
    noisy = (clean + 7) % 100
    np.savez(tmp_path / "CIFAR-100_human.npz", noisy_label=noisy, clean_label=clean)
    dataset = DATASETS.get("cifar100")(Cifar100Config(root=str(root), human_labels=str(tmp_path / "CIFAR-100_human.npz")), 0)
    np.testing.assert_array_equal(dataset.train.observed, noisy)


def test_the_pool_marks_the_human_noise(cifar, tmp_path, monkeypatch):
    root, clean = cifar
    arrays = human_labels(clean)
    torch.save(arrays, tmp_path / "CIFAR-10_human.pt")
    params = tiny_params(root, "cifar10")
    params["data"]["cifar10"]["human_labels"] = str(tmp_path / "CIFAR-10_human.pt")
    work = tmp_path / "work"
    work.mkdir()
    run_stages(work, monkeypatch, params, stages=(("prepare",),))
    pool, _ = read_examples("data/clean/pool.parquet")
    np.testing.assert_array_equal(pool["is_noisy"], np.arange(N_TRAIN) % 4 == 0)
    np.testing.assert_array_equal(pool["y"], arrays["worse_label"])
    info = json.loads(Path("data/clean/info.json").read_text())  # the selection split's realised noise
    chosen = pool["in_selection"].to_numpy()
    assert info["noise_rate"] == pytest.approx(pool["is_noisy"][chosen].mean())


@pytest.mark.parametrize(
    "arrays, message",
    [
        (lambda clean: {"clean_label": clean}, "has no 'worse_label' array; it has clean_label"),
        (lambda clean: {**human_labels(clean), "clean_label": clean[::-1].copy()}, "its clean_label is not cifar10's training labels in order"),
    ],
)
def test_a_label_file_that_does_not_fit_is_one_line(cifar, tmp_path, arrays, message):
    root, clean = cifar
    torch.save(arrays(clean), tmp_path / "labels.pt")
    with pytest.raises(MolereError, match=message) as err:
        DATASETS.get("cifar10")(Cifar10Config(root=str(root), human_labels=str(tmp_path / "labels.pt")), 0)
    assert "\n" not in str(err.value)


def test_a_missing_label_file_is_named(cifar, tmp_path):
    root, _ = cifar
    with pytest.raises(MolereError, match=f"^CIFAR-N label file {tmp_path / 'none.pt'} not found"):
        DATASETS.get("cifar10")(Cifar10Config(root=str(root), human_labels=str(tmp_path / "none.pt")), 0)
