"""What the datasets read from image files share (`imagefolder`, `waterbirds`, `camelyon17`): the
checked root folder, the check that every listed file is there, and the decoding of the files
into one uint8 array (the pipeline's datasets are numpy arrays in memory)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from molere.errors import MolereError


def checked_root(root: str | None, key: str, holds: str) -> Path:
    """`root` (the value of params key `key`) as a Path, if it is a folder; `holds`: what it holds,
    for the error when it is not set."""
    if root is None:
        raise MolereError(f"{key} is not set: {holds}")
    if not Path(root).is_dir():
        raise MolereError(f"{key} = {root} is not a folder")
    return Path(root)


def check_files(root: Path, listing: Path, files: list[str], key: str) -> None:
    """Every one of `files` (named by `listing`, relative to `root`: the value of `key`) is a file."""
    missing = [name for name in files if not (root / name).is_file()]
    if missing:
        raise MolereError(f"{listing} names {len(missing)} file(s) not under {key} = {root}, e.g. {missing[0]}")


def decode(files: list[Path], size: int) -> np.ndarray:
    """uint8 RGB images (N, 3, size, size), decoded by PIL and resized, one file at a time into
    one preallocated array."""
    from PIL import Image
    from torchvision.datasets.folder import pil_loader

    images = np.empty((len(files), 3, size, size), dtype=np.uint8)
    for i, path in enumerate(files):
        try:
            image = pil_loader(str(path)).resize((size, size), Image.BILINEAR)
        except OSError as err:  # PIL's UnidentifiedImageError and truncated files are OSErrors
            raise MolereError(f"cannot decode {path}: {' '.join(str(err).split())}") from None
        images[i] = np.asarray(image).transpose(2, 0, 1)
    return images
