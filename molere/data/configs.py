"""The `data` section's typed configs: the keys every dataset shares (`DataConfig`) and each
dataset's own keys under `data.<name>` (`DATASET_CONFIGS`), each default written here only.

    data: {dataset: mnist1d, seed: 0, selection_fraction: 0.2, mnist1d: {num_samples: 10000}}

They live here rather than beside their sources because params.yaml is checked when it is loaded,
before portable mode pins the BLAS kernels (so before numpy is imported) and without torch, and
the source modules import both. Every dataset section given is checked, not only the chosen one's,
so a typo in a section kept for later is caught too."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from molere.errors import MolereError
from molere.hparams import build_config, check_known, hparam

SEED_MAX = 2**32 - 1  # numpy's seeds
# MNIST-1D's generator holds about 1.2 KB per example at its peak and makes each in a Python loop:
# a million is 100 times its default, about 1.2 GB and minutes of generating; far beyond it numpy
# fails mid-allocation, so the bound comes first.
MAX_SAMPLES = 1_000_000


@dataclass(frozen=True, kw_only=True)
class Mnist1dConfig:
    num_samples: int = hparam(10000, low=1, high=MAX_SAMPLES)  # 80% train (the pool), 20% test


@dataclass(frozen=True, kw_only=True)
class DigitsConfig:
    """scikit-learn's bundled digits: nothing to set."""


@dataclass(frozen=True, kw_only=True)
class TorchvisionConfig:
    root: str | None = hparam(None)  # the folder of the files, in torchvision's layout
    download: bool = hparam(False)  # let torchvision download them into root


@dataclass(frozen=True, kw_only=True)
class Cifar10Config(TorchvisionConfig):
    # CIFAR-10N's label file (CIFAR-10_human.pt, or an .npz of its arrays): the training split's
    # observed labels become its `human_column`, checked against its clean_label
    human_labels: str | None = hparam(None)
    human_column: str = hparam("worse_label", choices=("aggre_label", "random_label1", "random_label2", "random_label3", "worse_label"))


@dataclass(frozen=True, kw_only=True)
class Cifar100Config(Cifar10Config):
    """CIFAR-100N's label file is CIFAR-100_human.pt, with one array of human labels."""

    human_column: str = hparam("noisy_label", choices=("noisy_label",))


@dataclass(frozen=True, kw_only=True)
class ImageFilesConfig:
    """What every dataset read from image files takes (molere/data/sources/image_files.py)."""

    root: str | None = hparam(None)
    image_size: int = hparam(32, low=1, high=1024)  # every image resized to image_size x image_size
    workers: int = hparam(0, low=0)  # DataLoader worker processes decoding the files
    # prepare's tables name the files instead of holding their pixels, and training decodes each
    # batch from them through train.workers: fine-tuning without the dataset's images in memory
    stream: bool = hparam(False)


@dataclass(frozen=True, kw_only=True)
class ImageFolderConfig(ImageFilesConfig):
    """A folder of image files (molere/data/sources/imagefolder.py): class folders, or Clothing-1M's
    label lists. The key lists name files relative to `root`; the val list is optional (without it
    the selection split is a seeded holdout)."""

    train_keys: str = hparam("noisy_train_key_list.txt")
    val_keys: str = hparam("clean_val_key_list.txt")
    test_keys: str = hparam("clean_test_key_list.txt")


@dataclass(frozen=True, kw_only=True)
class WildsConfig(ImageFilesConfig):
    """A WILDS dataset read from WILDS' own files (molere/data/sources/wilds.py), never downloaded;
    `root` is WILDS' root_dir, the folder holding waterbirds_v1.0/ or camelyon17_v1.0/."""


@dataclass(frozen=True, kw_only=True)
class FeaturesConfig:
    """An embedding's features (the embed stage's, molere/embed.py) as the dataset: the frozen-
    feature tier, whose models are heads over the backbone's features."""

    embedding: str | None = hparam(None)  # a key of the `embeddings` section
    # every split, shift and side minus the training split's mean feature: a ReLU backbone's
    # features share a large positive mean, along which a head's gradients follow each example's
    # class more than its label's correctness (docs/benchmarks.md, the frozen-feature tier)
    center: bool = hparam(False)


DATASET_CONFIGS = {
    "mnist1d": Mnist1dConfig,
    "digits": DigitsConfig,
    "mnist": TorchvisionConfig,
    "fashion-mnist": TorchvisionConfig,
    "cifar10": Cifar10Config,
    "cifar100": Cifar100Config,
    "imagefolder": ImageFolderConfig,
    "waterbirds": WildsConfig,
    "camelyon17": WildsConfig,
    "features": FeaturesConfig,
}


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    dataset: str = hparam("mnist1d", choices=tuple(DATASET_CONFIGS))
    seed: int = hparam(0, low=0, high=SEED_MAX)
    selection_fraction: float = hparam(0.2, low=0, low_open=True, high=1)


def data_config(values, prefix: str = "data.") -> tuple[DataConfig, object]:
    """The shared keys and the chosen dataset's own config from the `data` section (or another
    section of its form, at dotted `prefix`: an embedding's); a missing key takes its declared
    default, an unknown one is a one-line error."""
    values = {} if values is None else values
    if not isinstance(values, dict):
        raise MolereError(f"{prefix.rstrip('.')} = {values!r} should be a mapping of its keys")
    shared_keys = [spec.name for spec in dataclasses.fields(DataConfig)]
    check_moved(values, prefix)
    check_known(values, [*shared_keys, *DATASET_CONFIGS], prefix)
    shared = build_config(DataConfig, {k: v for k, v in values.items() if k in shared_keys}, prefix)
    own = {name: build_config(DATASET_CONFIGS[name], values[name], f"{prefix}{name}.") for name in DATASET_CONFIGS if name in values}
    return shared, own.get(shared.dataset) or DATASET_CONFIGS[shared.dataset]()


def check_moved(values: dict, prefix: str) -> None:
    """A dataset's key written directly under `data` (as params files did before the sections):
    the error names where it goes now."""
    dataset = values.get("dataset", DataConfig.dataset)
    own = DATASET_CONFIGS.get(dataset) if isinstance(dataset, str) else None
    for key in values:
        if own is not None and key in [spec.name for spec in dataclasses.fields(own)]:
            raise MolereError(f"unknown params key '{prefix}{key}'; {dataset}'s own keys go under {prefix}{dataset}: {prefix}{dataset}.{key}")
