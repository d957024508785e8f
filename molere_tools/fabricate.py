"""Fake image datasets written in the real on-disk formats that `molere.data.sources.images` reads
(MNIST idx files, CIFAR python pickles, CIFAR-10-C .npy arrays), for the tests, the prepare
benchmark and the GPU check, none of which may download anything.

The images are learnable: each class has its own blocky colour pattern, and each image adds its
own blocky pattern and pixel noise.

The CIFAR reader accepts only files with the released MD5 checksums, or with checksums listed in
the file that MOLERE_TRUSTED_CHECKSUMS names: `write_cifar` lists its files' checksums in
`<root>/fabricated.md5` (`trust_fabricated` gives the environment that names it)."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np

from molere.data.base import Split
from molere.data.sources.images import TRUSTED_CHECKSUMS

CHUNK = 5000
CHECKSUMS = "fabricated.md5"  # under the data root: the fabricated CIFAR files' checksums


def fake_images(n: int, channels: int, size: int, num_classes: int, seed: int) -> Split:
    """`n` uint8 images (n, channels, size, size) with labels 0..num_classes-1."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, num_classes, n)
    templates = rng.random((num_classes, channels, 4, 4), dtype=np.float32)
    block = size // 4
    x = np.zeros((n, channels, size, size), dtype=np.uint8)
    for start in range(0, n, CHUNK):  # bounded float copies
        rows = slice(start, min(start + CHUNK, n))
        own = rng.random((len(y[rows]), channels, 4, 4), dtype=np.float32)
        coarse = (0.6 * templates[y[rows]] + 0.3 * own).repeat(block, axis=2).repeat(block, axis=3)
        pixels = coarse + 0.1 * rng.random(coarse.shape, dtype=np.float32)
        x[rows, :, : 4 * block, : 4 * block] = (pixels * 255).astype(np.uint8)
    return Split(x, y.astype(np.int64))


def write_idx(path: Path, array: np.ndarray) -> None:
    """The idx format of MNIST: 0, 0, type 0x08 (uint8), rank; big-endian int32 sizes; the bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes()
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_mnist(root, n_train: int, n_test: int, *, folder: str = "MNIST", seed: int = 0) -> Split:
    """torchvision's uncompressed layout <root>/<folder>/raw/*-ubyte; returns the test split."""
    raw = Path(root) / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    train, test = fake_images(n_train, 1, 28, 10, seed), fake_images(n_test, 1, 28, 10, seed + 1)
    for prefix, split in (("train", train), ("t10k", test)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", split.x[:, 0])
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", split.y)
    return test


def write_cifar(root, n_train: int, n_test: int, *, num_classes: int = 10, seed: int = 0) -> Split:
    """The python version's pickles: CIFAR-10 (five train batches, test_batch, batches.meta under
    cifar-10-batches-py) or CIFAR-100 (train, test, meta under cifar-100-python); returns the
    test split."""
    cifar10 = num_classes == 10
    folder = Path(root) / ("cifar-10-batches-py" if cifar10 else "cifar-100-python")
    folder.mkdir(parents=True, exist_ok=True)
    train, test = fake_images(n_train, 3, 32, num_classes, seed), fake_images(n_test, 3, 32, num_classes, seed + 1)
    if cifar10:
        batches = {f"data_batch_{i + 1}": part for i, part in enumerate(np.array_split(np.arange(n_train), 5))}
        parts = {name: Split(train.x[rows], train.y[rows]) for name, rows in batches.items()}
        parts["test_batch"] = test
        meta = ("batches.meta", {"label_names": [f"class{k}" for k in range(10)], "num_cases_per_batch": n_train // 5, "num_vis": 3072})
    else:
        parts = {"train": train, "test": test}
        meta = ("meta", {"fine_label_names": [f"class{k}" for k in range(num_classes)], "coarse_label_names": []})
    for name, split in parts.items():
        labels = {"labels": split.y.tolist()} if cifar10 else {"fine_labels": split.y.tolist(), "coarse_labels": (split.y // 5).tolist()}
        entry = {"batch_label": name, "data": split.x.reshape(len(split), -1), "filenames": [f"{i}.png" for i in range(len(split))], **labels}
        with open(folder / name, "wb") as handle:
            pickle.dump(entry, handle, protocol=2)
    with open(folder / meta[0], "wb") as handle:
        pickle.dump(meta[1], handle, protocol=2)
    with open(Path(root) / CHECKSUMS, "a") as listing:  # md5sum's format
        listing.writelines(f"{hashlib.md5((folder / name).read_bytes()).hexdigest()}  {name}\n" for name in parts)
    return test


def trust_fabricated(root) -> dict:
    """The environment variable under which the CIFAR reader accepts the files `write_cifar`
    fabricated under `root`."""
    return {TRUSTED_CHECKSUMS: str(Path(root) / CHECKSUMS)}


def write_cifar10c(root, test: Split, corruptions=("gaussian_noise", "contrast")) -> None:
    """CIFAR-10-C's layout: labels.npy (uint8, the test labels once per severity) and per
    corruption an (5 n, H, W, C) uint8 array, here the test images plus noise growing with severity."""
    folder = Path(root)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    np.save(folder / "labels.npy", np.tile(test.y, 5).astype(np.uint8))
    images = test.x.transpose(0, 2, 3, 1).astype(np.float32)
    for name in corruptions:
        noisy = [images + rng.normal(0, 8 * severity, images.shape) for severity in range(1, 6)]
        np.save(folder / f"{name}.npy", np.clip(np.concatenate(noisy), 0, 255).astype(np.uint8))
