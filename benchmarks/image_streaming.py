"""What streaming image files costs and saves (molere/data/sources/image_files.py): the embed
stage's reading of a folder of JPEG files, decoded all at once into one array (as every image
dataset was read before) against a batch at a time, in this process and through DataLoader workers;
with `--train`, a training epoch's reading instead: the pool held as a TensorSet (as `prepare`'s
stored tables are) against the streamed TensorSet over the files (`data.<name>.stream`).

    python benchmarks/image_streaming.py                         # 3,000 files at 224 x 224, workers 0 and 2
    python benchmarks/image_streaming.py --images 1000 --size 96 --workers 0,1,2
    python benchmarks/image_streaming.py --train                 # one epoch of SGD steps on the images

It fabricates the files (smooth random 320 x 256 RGB images saved as JPEG, as a photo dataset's
are; none are downloaded), then runs each way of reading in a fresh Python process, so that each
process's peak resident memory is its own: `molere.embed.features` over the files with a body that
only pools each image to 4 x 4 (so the time is the reading's, not a backbone's), batches of 128.
It prints per way the wall time, images per second, the peak resident memory of the process (and
that less what it held once Python, torch and the decoder were imported: what the reading added)
and of its largest worker, and a digest of the features, which must be the same for every way (each
image is decoded on its own). The decoded images take 3 x size^2 bytes each (150 KB at 224): read
at once, 3,000 of them are 450 MB; streamed, a batch is 19 MB. With `--train` the body is followed
by a linear layer that takes one SGD step per shuffled batch (`TensorSet.batches`, what a run's
epoch reads), and the digest is of its trained weights."""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BATCH = 128


def fabricate(folder: Path, count: int) -> list[Path]:
    """`count` JPEG files of smooth random images (a coarse random grid, enlarged), seeded."""
    from PIL import Image

    rng = np.random.default_rng(0)
    files = []
    for i in range(count):
        coarse = rng.integers(0, 256, (8, 10, 3), dtype=np.uint8)
        path = folder / f"{i:05d}.jpg"
        Image.fromarray(coarse).resize((320, 256), Image.BILINEAR).save(path, quality=90)
        files.append(path)
    return files


def read_once(folder: Path, size: int, way: str, train: bool) -> dict:
    """One way of reading, in this process: `whole` or `workers=N`."""
    import torch
    import torchvision.datasets.folder  # noqa: F401 (the decoder's import, outside the timing and in every way's memory)
    from torch import nn

    from molere.data.sources.image_files import ImageFiles
    from molere.embed import features

    files = tuple(sorted(folder.glob("*.jpg")))
    imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Python, torch and the decoder
    body = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten()).eval()
    normalization = ([0.5, 0.5, 0.5], [0.25, 0.25, 0.25])
    start = time.perf_counter()
    if way == "whole":
        x = np.asarray(ImageFiles(files, size))
    else:
        x = ImageFiles(files, size, workers=int(way.removeprefix("workers=")))
    out = train_epoch(body, x, normalization) if train else features(body, x, normalization, BATCH, torch.device("cpu"))
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "images": len(files),
        "imported_mb": imported,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "digest": hashlib.sha256(out.tobytes()).hexdigest()[:16],
    }


def train_epoch(body, x, normalization) -> np.ndarray:
    """One epoch of SGD steps of a linear layer over `body`, on shuffled batches of `x` read as a
    run reads its pool (stored: the whole on the device; image files: decoded per batch by their
    workers); the trained weights."""
    import torch

    from molere.train.tensors import TensorSet, batch_indices

    torch.manual_seed(0)
    head = torch.nn.Linear(3 * 16, 10)
    optimizer = torch.optim.SGD(head.parameters(), lr=0.1)
    data = TensorSet.from_numpy(x, np.arange(len(x)) % 10, np.arange(len(x)), torch.device("cpu"), normalization, getattr(x, "workers", 0))
    del x  # the stored way's TensorSet holds its own copy
    for batch in data.batches(batch_indices(len(data), BATCH, torch.Generator().manual_seed(0))):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(head(body(batch.x)), batch.y).backward()
        optimizer.step()
    return torch.cat([p.detach().reshape(-1) for p in head.parameters()]).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--workers", default="0,2", help="comma-separated worker counts to stream with")
    parser.add_argument("--train", action="store_true", help="a training epoch's reading instead of the embed stage's")
    parser.add_argument("--read", nargs=2, metavar=("FOLDER", "WAY"), help=argparse.SUPPRESS)  # one way, in a child
    args = parser.parse_args()
    if args.read:
        print(json.dumps(read_once(Path(args.read[0]), args.size, args.read[1], args.train)))
        return
    ways = ["whole", *(f"workers={n}" for n in args.workers.split(","))]
    with tempfile.TemporaryDirectory(prefix="molere-images-") as tmp:
        start = time.perf_counter()
        fabricate(Path(tmp), args.images)
        print(f"{args.images} JPEG files (320 x 256) fabricated in {time.perf_counter() - start:.1f} s; read at {args.size} x {args.size}, batches of {BATCH}")
        print(f"decoded size: {3 * args.size**2 / 1e3:.0f} KB an image, {args.images * 3 * args.size**2 / 1e6:.0f} MB all, {BATCH * 3 * args.size**2 / 1e6:.0f} MB a batch")
        print(f"{'way':<10} {'s':>7} {'images/s':>9} {'peak MB':>8} {'- imported':>11} {'worker MB':>10}  digest")
        digests = set()
        for way in ways:
            command = [sys.executable, __file__, "--size", str(args.size), *(["--train"] if args.train else []), "--read", tmp, way]
            result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
            digests.add(result["digest"])
            workers = f"{result['worker_peak_mb']:10.0f}" if way not in ("whole", "workers=0") else f"{'-':>10}"
            above = result["peak_mb"] - result["imported_mb"]
            print(f"{way:<10} {result['seconds']:7.2f} {result['images'] / result['seconds']:9.0f} {result['peak_mb']:8.0f} {above:11.0f} {workers}  {result['digest']}")
        what = "trained weights" if args.train else "features"
        print(f"{what}: the same bytes every way" if len(digests) == 1 else f"{what} DIFFER between ways: {sorted(digests)}")


if __name__ == "__main__":
    main()
