"""`imagefolder`: image files under `data.imagefolder.root`, in one of two layouts.

- Clothing-1M's: `noisy_label_kv.txt` and/or `clean_label_kv.txt` (`<file> <label>` lines, files
  relative to the root) and the key lists that name each split's files (`data.imagefolder.
  train_keys`, `val_keys`, `test_keys`; the val list is optional). A training file's observed label
  is its noisy one and its clean label the clean one; where both lists exist, the training split
  keeps only the files that carry both, so `is_noisy` is known for every pool example (Clothing-1M's
  1M noisy training images then become the ~25k with a verified label). The val and test files
  carry their clean label (their noisy one where they have no clean one).
- torchvision's ImageFolder: class folders under `train/` and `test/` (and `val/`, optional);
  one label per image, so the observed labels are the clean ones.

Either layout may supply validation sides apart from the pool under `sides/` (for `lrw-supplied`:
e.g. ImageNet-R beside ImageNet): a key list `sides/<name>.txt` in Clothing-1M's layout (its files
carry their clean label), or class folders `sides/<name>/<class>/` in ImageFolder's, whose classes
are among train/'s (ImageNet-R has 200 of ImageNet's 1,000).

The splits' images stay files until they are read (`ImageFiles`): each is decoded with PIL
(torchvision's loader) and resized to `image_size` x `image_size` RGB uint8, by `workers`
DataLoader worker processes where a stage reads them in blocks (the embed stage, the channel
statistics, the corruptions); the prepare stage reads them all, as it writes them into one Parquet
table. OOD shifts are the computed CIFAR-C corruptions of the test
split, as for the torchvision datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from molere.data import DATASETS
from molere.data.base import Dataset, Split
from molere.data.configs import ImageFolderConfig
from molere.data.sources.image_files import check_files, checked_root, image_files
from molere.data.sources.images import channel_statistics
from molere.errors import MolereError

NOISY_LABELS, CLEAN_LABELS = "noisy_label_kv.txt", "clean_label_kv.txt"
ROOT_KEY = "data.imagefolder.root"
SIDES = "sides"  # the folder of the validation sides the dataset supplies


@DATASETS.register("imagefolder")
def imagefolder(config: ImageFolderConfig, seed: int) -> Dataset:
    root = checked_root(config.root, ROOT_KEY, "the folder of the images (class folders, or Clothing-1M's label lists)")
    listed = (root / NOISY_LABELS).is_file() or (root / CLEAN_LABELS).is_file()
    train, val, test, sides, num_classes = (listed_splits if listed else folder_splits)(root, config)
    from molere.data.image_shifts import corruption_shifts  # torch: after the checks, so errors come fast

    return Dataset(
        name="imagefolder",
        num_classes=num_classes,
        train=train,
        val=val,
        test=test,
        shifts=corruption_shifts(test, seed),
        normalization=channel_statistics(train.x),
        sides=sides,
    )


# --- Clothing-1M's label lists -----------------------------------------------------------------


def listed_splits(root: Path, config: ImageFolderConfig) -> tuple[Split, Split | None, Split, dict[str, Split], int]:
    noisy, clean = read_labels(root / NOISY_LABELS), read_labels(root / CLEAN_LABELS)
    train_keys = read_keys(root / config.train_keys)
    if noisy and clean:  # only where both labels are known is a label known to be noisy or not
        train_keys = [key for key in train_keys if key in noisy and key in clean]
        if not train_keys:
            raise MolereError(f"{root / config.train_keys} names no file that both {NOISY_LABELS} and {CLEAN_LABELS} label")
    observed = {**clean, **noisy}  # the noisy label where a file has both
    verified = {**noisy, **clean}  # the clean label where a file has both
    train = listed_split(root, config.train_keys, train_keys, verified, observed, config)
    val_path = root / config.val_keys
    val = listed_split(root, config.val_keys, read_keys(val_path), verified, verified, config) if val_path.is_file() else None
    test = listed_split(root, config.test_keys, read_keys(root / config.test_keys), verified, verified, config)
    lists = sorted((root / SIDES).glob("*.txt"))
    sides = {path.stem: listed_split(root, f"{SIDES}/{path.name}", read_keys(path), verified, verified, config) for path in lists}
    return train, val, test, sides, max(verified.values()) + 1


def listed_split(root: Path, list_name: str, keys: list[str], clean: dict, observed: dict, config: ImageFolderConfig) -> Split:
    """The files `keys` (named by the list `list_name`) with their clean and observed labels."""
    unlabelled = [key for key in keys if key not in clean]
    if unlabelled:
        raise MolereError(
            f"{root / list_name} names {len(unlabelled)} file(s) that neither {NOISY_LABELS} nor {CLEAN_LABELS} labels, e.g. {unlabelled[0]}"
        )
    check_files(root, root / list_name, keys, ROOT_KEY)
    y = np.array([clean[key] for key in keys], dtype=np.int64)
    y_observed = np.array([observed[key] for key in keys], dtype=np.int64)
    return Split(image_files([root / key for key in keys], config), y, None if np.array_equal(y, y_observed) else y_observed)


def read_labels(path: Path) -> dict[str, int]:
    """`<file> <label>` lines of a label list (none where the list is absent)."""
    if not path.is_file():
        return {}
    labels = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[1].isdigit():
            raise MolereError(f"{path}, line {number}: {line.strip()!r} is not '<file> <label>' (a label is a whole number >= 0)")
        labels[parts[0]] = int(parts[1])
    return labels


def read_keys(path: Path) -> list[str]:
    if not path.is_file():
        raise MolereError(f"{path} not found: the list of a split's files under {ROOT_KEY} (Clothing-1M's layout)")
    keys = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not keys:
        raise MolereError(f"{path} names no file")
    return keys


# --- class folders -----------------------------------------------------------------------------


def folder_splits(root: Path, config: ImageFolderConfig) -> tuple[Split, Split | None, Split, dict[str, Split], int]:
    if not ((root / "train").is_dir() and (root / "test").is_dir()):
        raise MolereError(
            f"{ROOT_KEY} = {root} holds neither Clothing-1M's label lists ({NOISY_LABELS}, {CLEAN_LABELS}) "
            "nor class folders under train/ and test/ (torchvision's ImageFolder layout)"
        )
    classes = class_folders(root / "train")
    splits = {name: folder_split(root / name, classes, config) for name in ("train", "val", "test") if (root / name).is_dir()}
    folders = sorted(entry for entry in (root / SIDES).glob("*") if entry.is_dir())
    sides = {folder.name: folder_split(folder, classes, config, side=True) for folder in folders}
    return splits["train"], splits.get("val"), splits["test"], sides, len(classes)


def class_folders(folder: Path) -> list[str]:
    classes = sorted(entry.name for entry in folder.iterdir() if entry.is_dir())
    if not classes:
        raise MolereError(f"{folder} has no class folders")
    return classes


def folder_split(folder: Path, classes: list[str], config: ImageFolderConfig, side: bool = False) -> Split:
    """One split's images, labelled by their class folder's place in the training split's classes;
    a supplied `side` may hold some of the classes only."""
    from torchvision.datasets.folder import IMG_EXTENSIONS, make_dataset

    found = class_folders(folder)
    if side and not set(found) <= set(classes):
        raise MolereError(f"{folder}'s class folders {sorted(set(found) - set(classes))} are not among train/'s classes {classes}")
    if not side and found != classes:
        raise MolereError(f"{folder}'s class folders {found} differ from train/'s {classes}")
    samples = make_dataset(str(folder), {name: i for i, name in enumerate(classes)}, IMG_EXTENSIONS, allow_empty=True)
    if not samples:
        raise MolereError(f"{folder} holds no image ({', '.join(IMG_EXTENSIONS)}) in its class folders")
    return Split(image_files([Path(path) for path, _ in samples], config), np.array([label for _, label in samples], dtype=np.int64))
