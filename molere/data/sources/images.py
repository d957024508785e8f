"""Image datasets read through torchvision from a local folder, `data.<name>.root`: `mnist`,
`fashion-mnist`, `cifar10`, `cifar100`. Nothing is downloaded unless `data.<name>.download: true`.

Images stay uint8 (N, C, H, W) (CIFAR-10's 60,000 are 180 MB) and are normalised per batch on the
training device with the per-channel mean and std of the train split (`Dataset.normalization`).
The datasets have no validation split of their own: the pool's is a seeded holdout. Their OOD
shifts are the CIFAR-C corruptions of the test split (molere.data.image_shifts), or, for CIFAR-10
with `ood.cifar10c_root` set, the released CIFAR-10-C arrays (`with_ood_source`).

`data.<name>.root` must be trusted: torchvision unpickles CIFAR's files. Each of them is checked against
the MD5 checksum torchvision lists for the released file before anything is unpickled, so only
the released files are read (and a damaged or incomplete copy is named); files whose checksums a
file named by MOLERE_TRUSTED_CHECKSUMS lists are accepted too (the tests' fabricated datasets).
MNIST's idx files are parsed, never unpickled; torchvision checks only their downloads.

CIFAR-10N / CIFAR-100N's human labels (`data.cifar10.human_labels`, `data.cifar100.human_labels`)
replace the training split's observed labels, its own labels staying the clean ones
(`with_human_labels`).
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np

from molere.data import DATASETS
from molere.data.base import Dataset, Split
from molere.data.configs import Cifar10Config, TorchvisionConfig
from molere.data.sources.image_files import ImageFiles, image_blocks
from molere.errors import MolereError, check_range
from molere.params import Params

CIFAR10C_URL = "https://zenodo.org/record/2535967"
CIFARN_URL = "https://github.com/UCSC-REAL/cifar-10-100n (its data/ folder)"
STATISTICS_BLOCK = 4096  # images (100 MB of float64 for CIFAR)
TRUSTED_CHECKSUMS = "MOLERE_TRUSTED_CHECKSUMS"  # a file of `<md5>  <file name>` lines, as md5sum writes


@dataclass(frozen=True)
class ImageSource:
    name: str
    torchvision_class: str  # in torchvision.datasets
    folder: str  # under data.<name>.root, as torchvision lays it out
    files: tuple[str, ...]  # what torchvision reads there
    url: str  # where a user gets the files by hand
    num_classes: int


MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR10_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
SOURCES = {
    source.name: source
    for source in (
        ImageSource("mnist", "MNIST", "MNIST/raw", MNIST_FILES, "https://ossci-datasets.s3.amazonaws.com/mnist/ (gunzip the .gz files)", 10),
        ImageSource("fashion-mnist", "FashionMNIST", "FashionMNIST/raw", MNIST_FILES, "https://github.com/zalandoresearch/fashion-mnist (gunzip the .gz files)", 10),
        ImageSource("cifar10", "CIFAR10", "cifar-10-batches-py", CIFAR10_FILES, "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (extract it)", 10),
        ImageSource("cifar100", "CIFAR100", "cifar-100-python", ("train", "test"), "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz (extract it)", 100),
    )
}


def image_dataset(source: ImageSource, config: TorchvisionConfig, seed: int) -> Dataset:
    root, download, key = config.root, config.download, f"data.{source.name}"
    if root is None:
        raise MolereError(
            f"{key}.root is not set: {source.name} is read from <{key}.root>/{source.folder}/ "
            f"({', '.join(source.files)}); get them from {source.url}, or set {key}.root and {key}.download: true"
        )
    if not download:
        missing = [name for name in source.files if not (Path(root) / source.folder / name).is_file()]
        if missing:
            raise MolereError(
                f"{source.name} not found under {key}.root = {root}: {Path(root) / source.folder} lacks "
                f"{', '.join(missing)}; get them from {source.url}, or set {key}.download: true"
            )
        check_checksums(source, Path(root) / source.folder)
    from molere.data.image_shifts import corruption_shifts  # torch: after the checks, so errors come fast

    train, test = (Split(*read_split(source, root, part, download)) for part in (True, False))
    if isinstance(config, Cifar10Config) and config.human_labels is not None:
        train = with_human_labels(train, source.name, config.human_labels, config.human_column)
    return Dataset(
        name=source.name,
        num_classes=source.num_classes,
        train=train,
        val=None,
        test=test,
        shifts=corruption_shifts(test, seed),
        normalization=channel_statistics(train.x),
    )


def read_split(source: ImageSource, root: str, train: bool, download: bool) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images (N, C, H, W), int64 labels) of the train or test split."""
    import torchvision.datasets

    reader = getattr(torchvision.datasets, source.torchvision_class)
    if source.name.startswith("cifar"):
        reader = checksum_checked(reader)
    try:
        data = reader(root, train=train, download=download)
    except Exception as err:  # a failed download or a damaged file: urllib, pickle, torchvision errors
        reason = " ".join(str(err).split())  # one line
        raise MolereError(f"cannot read {source.name} from data.{source.name}.root = {root}: {type(err).__name__}: {reason}") from None
    images = np.asarray(data.data)
    # torchvision keeps MNIST as (N, H, W) and CIFAR as (N, H, W, C)
    images = images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(images, dtype=np.uint8), np.asarray(data.targets, dtype=np.int64)


def with_human_labels(train: Split, name: str, path: str, column: str) -> Split:
    """CIFAR-N (Wei et al. 2022): `train` with the human annotators' labels `column` of the file
    `path` as its observed labels; the file's clean_label must be `train`'s labels, in order."""
    labels = read_label_arrays(Path(path))
    where = f"data.{name}.human_labels = {path}"
    for key in (column, "clean_label"):
        if key not in labels:
            raise MolereError(f"{where} has no {key!r} array; it has {', '.join(sorted(labels))}")
    if not np.array_equal(np.asarray(labels["clean_label"]), train.y):
        raise MolereError(f"{where}: its clean_label is not {name}'s training labels in order; it is the label file of another dataset or copy")
    return Split(train.x, train.y, np.asarray(labels[column], dtype=np.int64))


def read_label_arrays(path: Path) -> dict:
    """The arrays of a CIFAR-N label file: the released .pt (a torch.save'd dict of numpy arrays,
    read by torch's weights-only unpickler, which runs no code) or an .npz of the same arrays."""
    if not path.is_file():
        raise MolereError(f"CIFAR-N label file {path} not found; get CIFAR-10_human.pt / CIFAR-100_human.pt from {CIFARN_URL}")
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as arrays:
            return dict(arrays)
    import torch

    reconstruct = np._core.multiarray._reconstruct
    # the released files were pickled under numpy 1's module names
    dtypes = [getattr(np.dtypes, name) for name in np.dtypes.__all__]
    allowed = [np.ndarray, np.dtype, *dtypes, reconstruct, (reconstruct, "numpy.core.multiarray._reconstruct")]
    try:
        with torch.serialization.safe_globals(allowed):
            labels = torch.load(path, weights_only=True)
    except Exception as err:  # not a torch file, or one holding more than arrays (torch's message is a page)
        raise MolereError(f"cannot read CIFAR-N label file {path}: {type(err).__name__}; expected a torch.save'd dict of numpy arrays, or an .npz") from None
    if not isinstance(labels, dict):
        raise MolereError(f"CIFAR-N label file {path} holds a {type(labels).__name__}, not a mapping of label arrays")
    return labels


def checksum_checked(cifar_class):
    """torchvision's CIFAR reader, its checks of the extracted files against their released MD5
    checksums extended to the trusted ones (`TRUSTED_CHECKSUMS`); the class names, another pickle,
    are not read (not used)."""

    class ChecksumChecked(cifar_class):
        def _check_integrity(self) -> bool:
            folder = Path(self.root) / self.base_folder
            listed = self.train_list + self.test_list
            return all((folder / name).is_file() for name, _ in listed) and not checksum_mismatches(folder, listed)

        def _load_meta(self) -> None:
            pass

    return ChecksumChecked


def check_checksums(source: ImageSource, folder: Path) -> None:
    """Where torchvision lists the released files' checksums (CIFAR), a one-line error naming the
    files under `folder` that differ, before any of them is unpickled."""
    if not source.name.startswith("cifar"):
        return
    import torchvision.datasets

    reader = getattr(torchvision.datasets, source.torchvision_class)
    differing = checksum_mismatches(folder, reader.train_list + reader.test_list)
    if differing:
        raise MolereError(
            f"{source.name} under data.{source.name}.root: {', '.join(differing)} in {folder} differ from the released files (MD5 "
            f"checksum): damaged, incomplete or not {source.name}; get them again from {source.url}, or set data.{source.name}.download: true"
        )


def checksum_mismatches(folder: Path, listed) -> list[str]:
    """The names among `listed` ([name, released md5] pairs) whose file's MD5 is neither the
    released one nor a trusted one for that name."""
    trusted = trusted_checksums()
    differing = []
    for name, released in listed:
        path = Path(folder) / name
        digest = md5(str(path), path.stat().st_size, path.stat().st_mtime_ns)
        if digest != released and (name, digest) not in trusted:
            differing.append(name)
    return differing


def trusted_checksums() -> set[tuple[str, str]]:
    """(file name, md5) pairs from the file that the environment variable TRUSTED_CHECKSUMS names."""
    listing = os.environ.get(TRUSTED_CHECKSUMS)
    if not listing:
        return set()
    pairs = (line.split(maxsplit=1) for line in Path(listing).read_text().splitlines() if line.strip())
    return {(name.strip().lstrip("*"), digest) for digest, name in pairs}


@functools.lru_cache(maxsize=64)
def md5(path: str, size: int, mtime_ns: int) -> str:
    """The file's MD5, once per version of it (size and mtime in the key): the checks before and
    inside torchvision's readers read each file once."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def channel_statistics(x: np.ndarray | ImageFiles) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images in [0, 1] units, from sums of values and squares
    (whole numbers, exact in float64), a block of images at a time to bound the float copy (and,
    for image files, the decoded images)."""
    sums, squares = np.zeros(x.shape[1]), np.zeros(x.shape[1])
    for images in image_blocks(x, STATISTICS_BLOCK):
        block = images.astype(np.float64)
        sums += block.sum(axis=(0, 2, 3))
        squares += np.einsum("nchw,nchw->c", block, block)
    count = len(x) * math.prod(x.shape[2:])
    mean = sums / count
    std = np.sqrt(squares / count - mean**2)
    return (mean / 255).tolist(), (std / 255).tolist()


@dataclass(frozen=True)
class Released:
    """A shift from released corruption arrays in the CIFAR-10-C layout: `<corruption>.npy` of
    uint8 (5 n, H, W, C) with severity s in rows (s - 1) n .. s n, and the labels beside it."""

    path: Path
    labels: np.ndarray
    limit: int | None = None  # the first `limit` rows of each severity

    def __call__(self, severity: int) -> Split:
        check_range("severity", severity, 1, 5)
        n = len(self.labels) // 5
        start = (severity - 1) * n
        stop = start + min(n, self.limit or n)
        images = np.load(self.path, mmap_mode="r")[start:stop]  # reads only these rows
        return Split(np.ascontiguousarray(images.transpose(0, 3, 1, 2)), self.labels[start:stop].astype(np.int64))

    def head(self, n: int) -> "Released":
        return replace(self, limit=n)


def cifar10c_shifts(root: str, test: Split) -> dict[str, Released]:
    """One shift per `<corruption>.npy` under `root`, checked against CIFAR-10's test split (the
    released arrays are its images in order, so row i of each severity is test example i)."""
    folder = Path(root)
    labels_path = folder / "labels.npy"
    arrays = sorted(p for p in folder.glob("*.npy") if p.name != "labels.npy")
    if not labels_path.is_file() or not arrays:
        raise MolereError(
            f"ood.cifar10c_root = {root} holds no CIFAR-10-C arrays: expected labels.npy and one <corruption>.npy "
            f"per corruption (e.g. gaussian_noise.npy); get CIFAR-10-C from {CIFAR10C_URL} and extract it there"
        )
    labels = np.load(labels_path)
    expected = (len(labels), *test.x.shape[2:], test.x.shape[1])
    if len(labels) != 5 * len(test) or not np.array_equal(labels.reshape(5, -1), np.tile(test.y, (5, 1))):
        raise MolereError(f"{labels_path} does not hold the CIFAR-10 test labels 5 times over (once per severity)")
    for path in arrays:
        shape = np.load(path, mmap_mode="r").shape
        if shape != expected:
            raise MolereError(f"{path} has shape {shape}; CIFAR-10-C arrays are {expected} (5 severities x test set, H, W, C)")
    return {path.stem: Released(path, labels) for path in arrays}


def with_ood_source(dataset: Dataset, ood: Params) -> Dataset:
    """`dataset` with the OOD shifts the prepare stage writes: the released CIFAR-10-C arrays under
    `ood.cifar10c_root` when that is set, else its own."""
    root = ood.get("cifar10c_root", (str, type(None)), None)
    if root is None:
        return dataset
    if dataset.name != "cifar10":
        raise MolereError(f"ood.cifar10c_root is set but data.dataset = {dataset.name!r}; CIFAR-10-C shifts cifar10 only")
    return replace(dataset, shifts=cifar10c_shifts(root, dataset.test))


for _name, _source in SOURCES.items():
    DATASETS.register(_name)(partial(image_dataset, _source))
