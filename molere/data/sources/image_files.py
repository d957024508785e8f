"""What the datasets read from image files share (`imagefolder`, `waterbirds`, `camelyon17`): the
checked root folder, the check that every listed file is there, and the images themselves as
`ImageFiles`, decoded when they are read rather than when the dataset is made."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Iterator, Sequence

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
    unless it asks for all of them. `read` decodes given groups of images through `workers`
    DataLoader worker processes (0: in this process), in order, and `blocks` consecutive runs; a
    slice or a list of positions decodes those images here; numpy (`np.asarray`, `np.concatenate`)
    reads the whole, block by block. Every way gives the same bytes: each image is decoded on its
    own. `take` picks files without decoding any. With `stream` (a dataset's `stream` key) the
    tables `prepare` writes name the files instead of holding their pixels, and training decodes
    each batch from them (molere/train/tensors.py)."""

    files: tuple[Path, ...]
    side: int
    workers: int = 0
    stream: bool = False

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

    def take(self, rows) -> "ImageFiles":
        """The files at `rows` (numpy's rules: positions, a slice, a mask), none decoded."""
        return replace(self, files=tuple(self.files[i] for i in np.arange(len(self))[rows]))

    def blocks(self, size: int) -> Iterator[np.ndarray]:
        """The images `size` at a time (the last block may be smaller), in order."""
        return self.read(range(start, min(start + size, len(self))) for start in range(0, len(self), size))

    def read(self, groups: Iterable[Sequence[int]]) -> Iterator[np.ndarray]:
        """The images of each group of positions, stacked, a group at a time and in order; through
        the workers, which decode the groups ahead of the one read (at most two per worker)."""
        if self.workers == 0:
            for group in groups:
                yield self[np.asarray(group, dtype=np.int64)]
            return
        from torch.utils.data import DataLoader

        loader = DataLoader(Decoding(self.files, self.side), batch_sampler=list(groups), num_workers=self.workers, collate_fn=stacked)
        batches = iter(loader)
        try:
            for block in batches:
                if isinstance(block, MolereError):
                    raise block
                yield block
        finally:
            # the iterator's end stops its worker processes now, even while an error's traceback
            # keeps this frame alive, or when the reader stops early (a run's step budget)
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
    """`files` as images of a dataset config's `image_size`, decoded by its `workers`, streamed to
    training if it says `stream`."""
    return ImageFiles(tuple(files), config.image_size, config.workers, config.stream)


def image_blocks(x: np.ndarray | ImageFiles, size: int) -> Iterator[np.ndarray]:
    """`x`'s rows `size` at a time, in order (image files decoded by their workers)."""
    if isinstance(x, ImageFiles):
        yield from x.blocks(size)
        return
    for start in range(0, len(x), size):
        yield x[start : start + size]


def rows(x: np.ndarray | ImageFiles, key) -> np.ndarray | ImageFiles:
    """`x[key]` for rows `key`, image files picked without decoding them."""
    return x.take(key) if isinstance(x, ImageFiles) else x[key]


def joined(parts: list[np.ndarray | ImageFiles]) -> np.ndarray | ImageFiles:
    """The rows of `parts` one after the other: their files if all are image files (undecoded),
    else an array."""
    if all(isinstance(part, ImageFiles) for part in parts):
        return replace(parts[0], files=sum((part.files for part in parts), ()))
    return np.concatenate(parts)
