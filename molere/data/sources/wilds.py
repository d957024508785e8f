"""WILDS datasets read from WILDS' own files under `data.<name>.root` (WILDS' `root_dir`), without
the `wilds` package and without downloading: each dataset's `metadata.csv`, read with pandas, and
its images, decoded and resized like `imagefolder`'s (uint8 RGB `image_size` x `image_size`) when
they are read, by `workers` DataLoader workers.

- `waterbirds`: `<root>/waterbirds_v1.0/metadata.csv` (`img_filename`, `y`, `split`, `place`) and
  the images it names relative to that folder. Label `y` (0 landbird, 1 waterbird); WILDS' splits
  `split` 0 / 1 / 2 become the pool's training part / the selection split / the test set. The
  groups are (y, place) (place 0 land, 1 water): group 2 y + place, 4 groups.
- `camelyon17`: `<root>/camelyon17_v1.0/metadata.csv` (`patient`, `node`, `x_coord`, `y_coord`,
  `tumor`, `center`, `split`) and the patches at `patches/patient_{patient:03d}_node_{node}/
  patch_patient_{patient:03d}_node_{node}_x_{x_coord}_y_{y_coord}.png`. Label `tumor`. WILDS'
  official split: hospital (center) 2 is the (OOD) test set, center 1 its OOD validation set,
  centers 0, 3, 4 the training centers, among which `split` 0 is train (the pool's training part)
  and 1 id_val (the selection split). The OOD validation center is the supplied validation side
  `ood_val` (for `lrw-supplied`); model choice uses the in-distribution selection split, as for
  every dataset here. The groups are the centers.

As for every image dataset, the OOD shifts are the computed CIFAR-C corruptions of the test set;
the groups make the evaluation report worst-group test accuracy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from molere.data import DATASETS
from molere.data.base import Dataset, Split
from molere.data.configs import WildsConfig
from molere.data.sources.image_files import check_files, checked_root, image_files
from molere.data.sources.images import channel_statistics
from molere.errors import MolereError

METADATA = "metadata.csv"
WATERBIRDS_FOLDER, CAMELYON_FOLDER = "waterbirds_v1.0", "camelyon17_v1.0"
WATERBIRDS_GROUPS = ["landbird on land", "landbird on water", "waterbird on land", "waterbird on water"]
CAMELYON_CENTERS = 5
CAMELYON_VAL_CENTER, CAMELYON_TEST_CENTER = 1, 2  # WILDS' official split
# the pool's parts, in the order Dataset takes them
PARTS = ("train", "val", "test")


@DATASETS.register("waterbirds")
def waterbirds(config: WildsConfig, seed: int) -> Dataset:
    folder = dataset_folder(config.root, "waterbirds", WATERBIRDS_FOLDER)
    metadata = read_metadata(folder, ("img_filename",), {"y": (0, 1), "split": (0, 1, 2), "place": (0, 1)})
    y = metadata["y"].to_numpy(np.int64)
    part = np.array(PARTS)[metadata["split"].to_numpy()]  # WILDS' split ids 0, 1, 2 are train, val, test
    files = metadata["img_filename"].astype(str).tolist()
    return wilds_dataset("waterbirds", folder, files, y, 2 * y + metadata["place"].to_numpy(np.int64), part, WATERBIRDS_GROUPS, config, seed)


@DATASETS.register("camelyon17")
def camelyon17(config: WildsConfig, seed: int) -> Dataset:
    folder = dataset_folder(config.root, "camelyon17", CAMELYON_FOLDER)
    whole = {"patient": None, "node": None, "x_coord": None, "y_coord": None, "tumor": (0, 1), "center": tuple(range(CAMELYON_CENTERS)), "split": (0, 1)}
    metadata = read_metadata(folder, (), whole)
    center = metadata["center"].to_numpy(np.int64)
    # the training centers' split 0 is train and 1 id_val; the OOD validation center a supplied side
    part = np.where(metadata["split"].to_numpy() == 0, "train", "val").astype(object)
    part[center == CAMELYON_VAL_CENTER] = "ood_val"
    part[center == CAMELYON_TEST_CENTER] = "test"
    files = [
        f"patches/patient_{p:03d}_node_{n}/patch_patient_{p:03d}_node_{n}_x_{x}_y_{y}.png"
        for p, n, x, y in metadata[["patient", "node", "x_coord", "y_coord"]].itertuples(index=False)
    ]
    names = [f"center {c}" for c in range(CAMELYON_CENTERS)]
    return wilds_dataset("camelyon17", folder, files, metadata["tumor"].to_numpy(np.int64), center, part, names, config, seed, sides=("ood_val",))


def dataset_folder(root: str | None, name: str, folder: str) -> Path:
    """WILDS' folder of dataset `name` under `data.<name>.root`."""
    key = f"data.{name}.root"
    path = checked_root(root, key, f"WILDS' root_dir, the folder holding {folder}/") / folder
    if not path.is_dir():
        raise MolereError(f"{key} = {root} holds no {folder}/ (WILDS' layout: <root>/{folder}/{METADATA} and the images)")
    return path


def read_metadata(folder: Path, text: tuple[str, ...], whole: dict[str, tuple[int, ...] | None]) -> pd.DataFrame:
    """`folder`'s metadata.csv, which must have the columns `text` and `whole`: the latter whole
    numbers, each among the values it maps to (None: any)."""
    path = folder / METADATA
    if not path.is_file():
        raise MolereError(f"{path} not found: WILDS' metadata of the images under {folder}")
    try:
        metadata = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise MolereError(f"cannot read {path}: {' '.join(str(err).split())}") from None
    missing = [column for column in (*text, *whole) if column not in metadata]
    if missing:
        raise MolereError(f"{path} lacks the column(s) {', '.join(missing)}; it needs {', '.join((*text, *whole))}")
    for column, allowed in whole.items():
        values = metadata[column]
        if not pd.api.types.is_integer_dtype(values):  # pandas reads an empty cell, a fraction or text so
            raise MolereError(f"{path}: column {column} holds {values.dtype} values, not whole numbers")
        outside = values[~values.isin(allowed)] if allowed is not None else values.iloc[:0]
        if len(outside):
            raise MolereError(f"{path}: column {column} holds {outside.iloc[0]}; allowed: {', '.join(map(str, allowed))}")
    return metadata


def wilds_dataset(
    name: str,
    folder: Path,
    files: list[str],
    y: np.ndarray,
    groups: np.ndarray,
    part: np.ndarray,
    group_names: list[str],
    config: WildsConfig,
    seed: int,
    sides: tuple[str, ...] = (),
) -> Dataset:
    """The dataset whose rows (the metadata's: `files` relative to `folder`, labels `y`, `groups`)
    go to the split `part` names: "train", "val", "test", or one of `sides`, the validation sides
    it supplies (any other part is not read)."""
    rows = {which: np.flatnonzero(part == which) for which in (*PARTS, *sides)}
    path = folder / METADATA
    for which, chosen in rows.items():
        if not len(chosen):
            raise MolereError(f"{path} has no row of WILDS' {which} split: it is not {name}'s full metadata")
    # named relative to the root, as the params key gives it
    check_files(folder.parent, path, [f"{folder.name}/{files[i]}" for chosen in rows.values() for i in chosen], f"data.{name}.root")
    from molere.data.image_shifts import corruption_shifts  # torch: after the checks, so errors come fast

    splits = {which: Split(image_files([folder / files[i] for i in chosen], config), y[chosen], groups=groups[chosen]) for which, chosen in rows.items()}
    train, val, test = (splits[which] for which in PARTS)
    return Dataset(
        name=name,
        num_classes=2,
        train=train,
        val=val,
        test=test,
        shifts=corruption_shifts(test, seed),
        normalization=channel_statistics(train.x),
        group_names=group_names,
        sides={which: splits[which] for which in sides},
    )
