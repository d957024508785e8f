"""What the datasets read from image files share (`imagefolder`, `waterbirds`, `camelyon17`): the
checked root folder, the check that every listed file is there, and the images themselves as
`ImageFiles`, decoded when they are read rather than when the dataset is made."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

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


def decode_one(path: Path, side: int) -> np.ndarray:
    """The uint8 RGB image (3, side, side) of the file `path`, decoded by PIL (torchvision's loader)
    and resized bilinearly."""
    from PIL import Image
    from torchvision.datasets.folder import pil_loader

    try:
        image = pil_loader(str(path)).resize((side, side), Image.BILINEAR)
    except OSError as err:  # PIL's UnidentifiedImageError and truncated files are OSErrors
        raise MolereError(f"cannot decode {path}: {' '.join(str(err).split())}") from None
    return np.asarray(image).transpose(2, 0, 1)


def decode(files: list[Path], side: int) -> np.ndarray:
    """The images (N, 3, side, side) of `files`, one file at a time into one preallocated array."""
    images = np.empty((len(files), 3, side, side), dtype=np.uint8)
    for i, path in enumerate(files):
        images[i] = decode_one(path, side)
    return images


@dataclass(frozen=True, eq=False)
class ImageFiles:
    """uint8 RGB images (N, 3, side, side) that stay files until they are read: the image datasets'
    splits hold this where the other datasets hold an array, so nothing holds a dataset's images
    unless it asks for all of them. `blocks` decodes consecutive runs of images through `workers`
    DataLoader worker processes (0: in this process), in order; a slice or a list of positions
    decodes those images here; numpy (`np.asarray`, `np.concatenate`) reads the whole, block by
    block. Every way gives the same bytes: each image is decoded on its own."""

    files: tuple[Path, ...]
    side: int
    workers: int = 0

    dtype = np.dtype(np.uint8)
    ndim = 4
    BLOCK = 1024  # images decoded at a time when the whole is read

    def __len__(self) -> int:
        return len(self.files)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.files), 3, self.side, self.side)

    def __getitem__(self, key) -> np.ndarray:
        """numpy's indexing of the (N, 3, side, side) array, decoding only the images it picks."""
        rows, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        picked = np.arange(len(self))[rows]  # numpy's rules: a position, a slice, positions, a mask
        if np.ndim(picked) == 0:
            return decode([self.files[picked]], self.side)[0][rest]
        return decode([self.files[i] for i in picked], self.side)[(slice(None), *rest)]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        whole = np.empty(self.shape, dtype=np.uint8)
        start = 0
        for block in self.blocks(self.BLOCK):
            whole[start : start + len(block)] = block
            start += len(block)
        return whole if dtype is None else whole.astype(dtype)

    def blocks(self, size: int) -> Iterator[np.ndarray]:
        """The images `size` at a time (the last block may be smaller), in order."""
        if self.workers == 0:
            for start in range(0, len(self), size):
                yield self[start : start + size]
            return
        from torch.utils.data import DataLoader

        batches = iter(DataLoader(Decoding(self.files, self.side), batch_size=size, num_workers=self.workers, collate_fn=stacked))
        try:
            for block in batches:
                if isinstance(block, MolereError):
                    raise block
                yield block
        finally:
            # the iterator's end stops its worker processes now, even while an error's traceback
            # keeps this frame alive
            del batches


@dataclass(frozen=True)
class Decoding:
    """The map-style dataset a DataLoader worker reads: position -> the decoded image, or the
    MolereError decoding it raised (an exception raised in a worker reaches the caller wrapped in
    the worker's traceback; the error itself is handed back and raised there, on one line)."""

    files: tuple[Path, ...]
    side: int

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> np.ndarray | MolereError:
        try:
            return decode_one(self.files[i], self.side)
        except MolereError as err:
            return err


def stacked(images: list[np.ndarray | MolereError]) -> np.ndarray | MolereError:
    """A DataLoader batch: the images stacked, or the first error among them."""
    failed = [image for image in images if isinstance(image, MolereError)]
    return failed[0] if failed else np.stack(images)


def image_files(files: list[Path], config) -> ImageFiles:
    """`files` as images of a dataset config's `image_size`, decoded by its `workers`."""
    return ImageFiles(tuple(files), config.image_size, config.workers)


def image_blocks(x: np.ndarray | ImageFiles, size: int) -> Iterator[np.ndarray]:
    """`x`'s rows `size` at a time, in order (image files decoded by their workers)."""
    if isinstance(x, ImageFiles):
        yield from x.blocks(size)
        return
    for start in range(0, len(x), size):
        yield x[start : start + size]
